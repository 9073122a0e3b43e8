/**
 * OpenShift: What a node's own files say about SCTP, read-only (test, grep, cat; never
 * modprobe, never a socket).
 */
import { BLACKLIST_FILE, MODULES_LOAD_FILE } from './objects.ts';

/**
 * Reads, never changes: `test`, `grep` and `cat`-like reads of the blacklist
 * file, modules-load.d and /proc/modules. No modprobe, no socket: either
 * could load sctp.ko, which the [Feature:SCTP] tier must never do.
 */
export const NODE_SCTP_FILES_COMMAND = [
  `b=${BLACKLIST_FILE}`,
  `if [ ! -e "$b" ]; then echo blacklist=absent; elif grep -Eq '^[[:space:]]*(blacklist[[:space:]]+sctp|install[[:space:]]+sctp)([[:space:]]|$)' "$b"; then echo blacklist=blacklists; elif grep -v '^[[:space:]]*#' "$b" | grep -q '[^[:space:]]'; then echo blacklist=other; else echo blacklist=empty; fi`,
  `if [ -e ${MODULES_LOAD_FILE} ]; then echo loadfile=present; else echo loadfile=absent; fi`,
  `echo "loadentries=$(grep -lEx '[[:space:]]*sctp[[:space:]]*' /etc/modules-load.d/*.conf 2>/dev/null | tr '\\n' ' ')"`,
  `if grep -q '^sctp ' /proc/modules 2>/dev/null; then echo loaded=yes; elif [ -d /sys/module/sctp ]; then echo loaded=builtin; else echo loaded=no; fi`,
].join('\n');

export interface NodeSctpFiles {
  /** The shipped blacklist file: still blacklisting, emptied, something else, or gone. */
  blacklistFile: 'blacklists sctp' | 'empty' | 'other content' | 'absent' | 'unknown';
  modulesLoadFile: 'present' | 'absent' | 'unknown';
  /** modules-load.d files that list sctp. */
  loadEntries: string[];
  loaded: 'yes' | 'no' | 'builtin' | 'unknown';
}

export function parseNodeSctpFiles(stdout: string): NodeSctpFiles {
  const v = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) v.set(m[1], m[2].trim());
  }
  const blacklist = {
    blacklists: 'blacklists sctp',
    empty: 'empty',
    other: 'other content',
    absent: 'absent',
  } as const;
  const b = v.get('blacklist') as keyof typeof blacklist | undefined;
  const l = v.get('loadfile');
  const loaded = v.get('loaded');
  return {
    blacklistFile: b && b in blacklist ? blacklist[b] : 'unknown',
    modulesLoadFile: l === 'present' || l === 'absent' ? l : 'unknown',
    loadEntries: (v.get('loadentries') ?? '').split(/\s+/).filter(Boolean),
    loaded: loaded === 'yes' || loaded === 'no' || loaded === 'builtin' ? loaded : 'unknown',
  };
}
