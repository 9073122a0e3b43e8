/**
 * The SCTP kernel module state of a node, read without changing it.
 *
 * KEP-614's rule for the basic tier is "a test must not load sctp.ko", so
 * the reading itself must never load it: no modprobe, no lsmod-by-socket
 * probing, no SCTP socket (creating one makes the kernel request the
 * module). MODULE_STATE_COMMAND only reads files: /proc/modules,
 * /sys/module/sctp, /proc/net/sctp, the module tree, the kernel config and
 * the modprobe / modules-load configuration.
 *
 *   loaded      sctp is a module and is in /proc/modules
 *   builtin     compiled into the kernel (no /proc/modules line, yet present)
 *   not-loaded  the module file exists and is not loaded
 *   unavailable neither: no module file and not built in (or the kernel has
 *               no module support and no SCTP)
 */

export type ModuleState = 'loaded' | 'not-loaded' | 'builtin' | 'unavailable';

export interface ModuleReport {
  state: ModuleState;
  /** Kernel release (uname -r); '' if not printed. */
  kernel: string;
  /** modprobe configuration keeps sctp from loading (blacklist, or install sctp /bin/true …). */
  blacklisted: boolean;
  /** sctp is listed to load at boot (modules-load.d, /etc/modules). */
  loadAtBoot: boolean;
  /** The facts the state was decided on, one line each, for the report. */
  evidence: string[];
}

const CONFIG_DIRS =
  '/etc/modprobe.d /usr/lib/modprobe.d /lib/modprobe.d /run/modprobe.d /etc/modules-load.d /usr/lib/modules-load.d /run/modules-load.d /etc/modules';

/**
 * What can change while a node runs, read before and after every guarded
 * test: the loaded modules, /sys/module/sctp, /proc/net/sctp, and the kernel
 * release (a different one means the node rebooted into another kernel, and
 * the files below are read again). Lines: the LIVE_KEYS only.
 *
 * Shell builtins only (read, echo, test), no grep or cat and no command
 * substitution (uname only if the kernel release cannot be read from
 * /proc): it runs twice per test on every node, and on a
 * loaded 2-core machine each fork and exec cost milliseconds. Measured on
 * this machine with the cluster up: 29 ms per run with them, 17 ms without.
 * It runs in the guard session's shell itself (node-shell.ts RunIn), so it
 * must never `exit`, and its variables stay set there: each is set before
 * it is read.
 */
export const MODULE_LIVE_COMMAND = [
  'read -r k </proc/sys/kernel/osrelease || k=$(uname -r); echo "kernel=$k";',
  'if [ -r /proc/modules ]; then echo proc_modules=yes; m=;',
  'while read -r n rest; do [ "$n" = sctp ] && m="$n $rest"; done </proc/modules; echo "proc_modules_sctp=$m";',
  'else echo proc_modules=no; fi;',
  'if [ -d /sys/module/sctp ]; then echo sys_module_sctp=yes;',
  '[ -r /sys/module/sctp/initstate ] && read -r s </sys/module/sctp/initstate && echo "sys_module_sctp_initstate=$s";',
  'else echo sys_module_sctp=no; fi;',
  'if [ -e /proc/net/sctp ]; then echo proc_net_sctp=yes; else echo proc_net_sctp=no; fi;',
  'true',
].join(' ');

export const LIVE_KEYS: ReadonlySet<string> = new Set([
  'kernel',
  'proc_modules',
  'proc_modules_sctp',
  'sys_module_sctp',
  'sys_module_sctp_initstate',
  'proc_net_sctp',
]);

/**
 * What only an install or a reboot changes: the module tree and files, the
 * kernel config, the modprobe / modules-load configuration. The guard reads
 * them once per node and run: they took 90 % of a whole reading (the kernel
 * config unpacked, the configuration directories searched), which made the
 * reading of every node at once grow with the nodes on two cores. Like the
 * live command it runs in the guard session's shell: it never exits.
 */
export const MODULE_FILES_COMMAND = [
  'k=$(uname -r);',
  'd=/lib/modules/$k; if [ -d "$d" ]; then echo module_tree=yes; else echo module_tree=no; fi;',
  'found=; for f in "$d"/kernel/net/sctp/sctp.ko "$d"/kernel/net/sctp/sctp.ko.xz "$d"/kernel/net/sctp/sctp.ko.zst "$d"/kernel/net/sctp/sctp.ko.gz',
  ' $(sed -n \'s#^\\([^:]*/sctp\\.ko[.a-z]*\\):.*#\\1#p\' "$d/modules.dep" 2>/dev/null | sed "s#^[^/]#$d/&#"); do',
  ' if [ -e "$f" ]; then case " $found " in *" $f "*) ;; *) found="$found $f"; echo "module_file=$f";; esac; fi; done;',
  'if [ -z "$found" ] && [ -d "$d" ]; then find "$d" -name \'sctp.ko*\' 2>/dev/null | grep -E \'/sctp\\.ko(\\.xz|\\.zst|\\.gz)?$\' | head -n 3 | sed \'s/^/module_file=/\'; fi;',
  "grep -E '(^|/)sctp\\.ko$' \"$d/modules.builtin\" 2>/dev/null | sed 's/^/builtin_list=/';",
  'c=; if [ -r /proc/config.gz ]; then c=$( (zcat /proc/config.gz || gzip -dc /proc/config.gz) 2>/dev/null); elif [ -r /boot/config-$k ]; then c=$(cat /boot/config-$k); fi;',
  "if [ -n \"$c\" ]; then printf '%s\\n' \"$c\" | grep -E '^(# )?CONFIG_(IP_SCTP|MODULES)[= ]' | sed 's/^/kconfig=/'; fi;",
  `grep -rHsE '(^|[^A-Za-z0-9_-])sctp([^A-Za-z0-9_-]|$)' ${CONFIG_DIRS} 2>/dev/null | grep -vE '^[^:]*:[[:space:]]*#' | sed 's/^/config=/';`,
  'true',
].join(' ');

/**
 * The whole state in one POSIX sh command, read-only, always exit 0. Prints
 * key=value lines; keys that can repeat (module_file, builtin_list, kconfig,
 * config) appear once per fact.
 */
export const MODULE_STATE_COMMAND = `${MODULE_LIVE_COMMAND} ${MODULE_FILES_COMMAND}`;

/**
 * One reading's output from a live output and a files output read earlier:
 * the LIVE_KEYS lines of the first, every other line of the second.
 */
export function combineOutputs(live: string, files: string): string {
  const keyOf = (line: string) => line.slice(0, line.indexOf('=')).trim();
  const keep = (output: string, live: boolean) =>
    output.split('\n').filter((l) => l.includes('=') && LIVE_KEYS.has(keyOf(l)) === live);
  return [...keep(live, true), ...keep(files, false)].join('\n') + '\n';
}

function parseLines(output: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of output.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('#')) continue; // fixture headers; the command never prints one
    const i = line.indexOf('=');
    if (i > 0) out.push([line.slice(0, i).trim(), line.slice(i + 1)]);
  }
  return out;
}

/** A modprobe.d line that keeps sctp from loading. */
function disables(line: string): boolean {
  const l = line.trim();
  return (
    /^blacklist\s+sctp\s*$/.test(l) ||
    /^install\s+sctp\s+(\/usr)?\/bin\/(true|false)\b/.test(l) ||
    /^install\s+sctp\s+\/dev\/null\b/.test(l)
  );
}

/** Parses MODULE_STATE_COMMAND's output; see the module comment for the states. */
export function parseModuleState(output: string): ModuleReport {
  const lines = parseLines(output);
  const get = (key: string): string | undefined => lines.find(([k]) => k === key)?.[1];
  const all = (key: string): string[] => lines.filter(([k]) => k === key).map(([, v]) => v);

  const kernel = get('kernel')?.trim() ?? '';
  const procModules = get('proc_modules') === 'yes';
  const sctpLine = (get('proc_modules_sctp') ?? '').trim();
  const sysModule = get('sys_module_sctp') === 'yes';
  const initstate = get('sys_module_sctp_initstate')?.trim();
  const procNet = get('proc_net_sctp') === 'yes';
  const moduleFiles = all('module_file').filter((f) => f.trim() !== '');
  const builtinList = all('builtin_list').filter((f) => f.trim() !== '');
  const kconfig = new Map<string, string>();
  for (const v of all('kconfig')) {
    const set = /^(CONFIG_\w+)=(\S+)/.exec(v);
    const unset = /^# (CONFIG_\w+) is not set/.exec(v);
    if (set) kconfig.set(set[1], set[2]);
    else if (unset) kconfig.set(unset[1], 'n');
  }
  const ipSctp = kconfig.get('CONFIG_IP_SCTP');
  const modulesSupported = procModules || kconfig.get('CONFIG_MODULES') === 'y';

  const evidence: string[] = [];
  evidence.push(
    procModules
      ? `/proc/modules: ${sctpLine ? `"${sctpLine}"` : 'no sctp line'}`
      : '/proc/modules: absent (kernel without module support)',
  );
  evidence.push(
    `/sys/module/sctp: ${sysModule ? `present${initstate ? ` (initstate ${initstate})` : ''}` : 'absent'}`,
  );
  evidence.push(`/proc/net/sctp: ${procNet ? 'present' : 'absent'}`);
  if (moduleFiles.length) evidence.push(`module file: ${moduleFiles.join(', ')}`);
  else if (get('module_tree') !== undefined)
    evidence.push(`module file: none${get('module_tree') === 'no' ? ` (no /lib/modules/${kernel})` : ''}`);
  if (builtinList.length) evidence.push(`modules.builtin: ${builtinList.join(', ')}`);
  for (const [k, v] of kconfig)
    evidence.push(`kernel config: ${v === 'n' ? `${k} is not set` : `${k}=${v}`}`);

  const configLines = all('config');
  const blacklistLines = configLines.filter(
    (c) => /modprobe\.d\//.test(c.split(':')[0]) && disables(c.slice(c.indexOf(':') + 1)),
  );
  const bootLines = configLines.filter((c) => {
    const file = c.split(':')[0];
    const text = c.slice(c.indexOf(':') + 1).trim();
    return (/modules-load\.d\//.test(file) || file === '/etc/modules') && /^sctp(\s|$)/.test(text);
  });
  for (const c of configLines) evidence.push(`config: ${c}`);

  let state: ModuleState;
  if (sctpLine && /^sctp\s/.test(sctpLine)) {
    state = 'loaded';
  } else if (sysModule || procNet || builtinList.length > 0 || ipSctp === 'y') {
    // Present but not a loaded module: compiled in. (A loadable module in use
    // is always in /proc/modules, and has /sys/module/sctp/initstate.)
    state = initstate && procModules ? 'loaded' : 'builtin';
  } else if (!modulesSupported) {
    state = 'unavailable';
  } else if (moduleFiles.length > 0) {
    state = 'not-loaded';
  } else {
    state = 'unavailable';
  }
  return {
    state,
    kernel,
    blacklisted: blacklistLines.length > 0,
    loadAtBoot: bootLines.length > 0,
    evidence,
  };
}

/** The one transition KEP-614's module check fails a test for. */
export function wentFromNotLoadedToLoaded(
  before: ModuleState | Pick<ModuleReport, 'state'>,
  after: ModuleState | Pick<ModuleReport, 'state'>,
): boolean {
  const b = typeof before === 'string' ? before : before.state;
  const a = typeof after === 'string' ? after : after.state;
  return b === 'not-loaded' && a === 'loaded';
}
