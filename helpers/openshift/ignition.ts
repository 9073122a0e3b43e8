/**
 * OpenShift, pure: the files a MachineConfig writes (Ignition 2.2 and 3.x, data URLs,
 * base64, gzip) and whether a set of them enables SCTP — judged by paths and
 * decoded contents, never by names.
 */
import { gunzipSync } from 'node:zlib';
import { errorText } from '../framework/errors.ts';
import { BLACKLIST_FILE, MODULES_LOAD_FILE, type MachineConfig } from './objects.ts';

export interface IgnitionFile {
  path: string;
  /** Decoded contents; undefined when they cannot be read (see `problem`). */
  contents?: string;
  problem?: string;
  /** The MachineConfig that wrote it. */
  from: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Decodes an RFC 2397 data URL: `data:[<mediatype>][;base64],<data>`. Both
 * forms of the OpenShift docs are plain ones: `data:,sctp` (4.6+, Ignition
 * 3) and `data:text/plain;charset=utf-8,sctp` (4.1–4.5, Ignition 2.2).
 */
export function decodeDataUrl(source: string): Buffer | undefined {
  const m = /^data:([^,]*),(.*)$/s.exec(source);
  if (!m) return undefined;
  const base64 = m[1].split(';').some((p) => p.trim().toLowerCase() === 'base64');
  try {
    const text = decodeURIComponent(m[2]);
    return base64 ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
  } catch {
    return undefined; // malformed percent-encoding
  }
}

/** The files a MachineConfig writes, decoded; Ignition 2.2 and 3.x. */
export function ignitionFiles(mc: MachineConfig): { files: IgnitionFile[]; problem?: string } {
  const from = mc.metadata.name;
  const config = mc.spec?.config;
  if (!isObject(config)) return { files: [] };
  const storage = isObject(config.storage) ? config.storage : {};
  const entries = Array.isArray(storage.files) ? storage.files : [];
  const version =
    isObject(config.ignition) && typeof config.ignition.version === 'string'
      ? config.ignition.version
      : undefined;
  const major = version?.split('.')[0];
  if (entries.length > 0 && major !== '2' && major !== '3') {
    return {
      files: [],
      problem: `${from}: Ignition version ${version ?? '(none)'} is not one sctp-e2e reads (2.2 or 3.x)`,
    };
  }
  const files: IgnitionFile[] = [];
  for (const entry of entries) {
    if (!isObject(entry) || typeof entry.path !== 'string') continue;
    // Ignition 2.x names the filesystem; the MCO writes only to "root".
    if (major === '2' && entry.filesystem !== undefined && entry.filesystem !== 'root') continue;
    files.push({ path: entry.path, from, ...fileContents(entry, major) });
  }
  return { files };
}

function fileContents(
  entry: Record<string, unknown>,
  major: string | undefined,
): { contents?: string; problem?: string } {
  // The MCO refuses appends (3.x: an array of sources; 2.x: append: true):
  // what such a file would hold cannot be told from the MachineConfig.
  if ((Array.isArray(entry.append) && entry.append.length > 0) || entry.append === true) {
    return { problem: `${entry.path} uses append, which the Machine Config Operator does not support` };
  }
  const contents = isObject(entry.contents) ? entry.contents : {};
  // No source: Ignition writes an empty file (both 2.x and 3.x).
  if (contents.source === undefined || contents.source === null || contents.source === '')
    return { contents: '' };
  if (typeof contents.source !== 'string')
    return { problem: `${entry.path}: contents.source is not a string` };
  const raw = decodeDataUrl(contents.source);
  if (!raw)
    return {
      problem: `${entry.path}: source ${contents.source.slice(0, 40)} is not a data URL sctp-e2e can read`,
    };
  const compression = typeof contents.compression === 'string' ? contents.compression : '';
  if (compression === '') return { contents: raw.toString('utf8') };
  if (compression === 'gzip' && major === '3') {
    try {
      return { contents: gunzipSync(raw).toString('utf8') };
    } catch (err) {
      return { problem: `${entry.path}: gzip contents do not decompress (${errorText(err)})` };
    }
  }
  return { problem: `${entry.path}: compression "${compression}" is not supported` };
}

// Pure: do these files enable SCTP?

/** Lines that mean something to modprobe.d / modules-load.d (comments dropped). */
function meaningfulLines(text: string, commentChars: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !commentChars.includes(l[0]));
}

const BLACKLISTS_SCTP = /^(blacklist\s+sctp|install\s+sctp)(\s|$)/;

export interface SctpVerdict {
  enabled: boolean;
  /** What the files make of the shipped blacklist file. */
  blacklist: 'empty' | 'non-empty' | 'not written' | 'unreadable';
  /** The modules-load.d files that list sctp. */
  loadFiles: string[];
  /** One sentence: why enabled, or what is missing. */
  reason: string;
  /** The MachineConfigs whose files decide an enabled verdict. */
  by: string[];
}

/**
 * Judges a set of files in MCO merge order (MachineConfigs sorted by name,
 * a later file of the same path replacing an earlier one). SCTP is enabled
 * when the shipped blacklist file is overwritten empty (comment lines are
 * empty to modprobe, and commenting the line out is Red Hat's own advice),
 * no other modprobe.d file blacklists sctp, and a modules-load.d file lists
 * it. Both are needed: systemd-modules-load honours the blacklist.
 */
export function sctpFilesVerdict(all: IgnitionFile[], problems: string[] = []): SctpVerdict {
  const byPath = new Map<string, IgnitionFile>();
  for (const f of all) byPath.set(f.path, f);
  const files = [...byPath.values()];
  const missing: string[] = [];

  const black = byPath.get(BLACKLIST_FILE);
  let blacklist: SctpVerdict['blacklist'];
  if (!black) blacklist = 'not written';
  else if (black.contents === undefined) blacklist = 'unreadable';
  else blacklist = meaningfulLines(black.contents, '#').length === 0 ? 'empty' : 'non-empty';
  if (blacklist === 'not written')
    missing.push(`nothing overwrites ${BLACKLIST_FILE}, which blacklists sctp`);
  else if (blacklist === 'unreadable') missing.push(`${BLACKLIST_FILE} cannot be read (${black!.problem})`);
  else if (blacklist === 'non-empty')
    missing.push(
      `${BLACKLIST_FILE} is written but not empty (${JSON.stringify(meaningfulLines(black!.contents!, '#').join('; '))})`,
    );

  const reblacklisting = files.filter(
    (f) =>
      f.path !== BLACKLIST_FILE &&
      /^\/etc\/modprobe\.d\/[^/]+\.conf$/.test(f.path) &&
      f.contents !== undefined &&
      meaningfulLines(f.contents, '#').some((l) => BLACKLISTS_SCTP.test(l)),
  );
  for (const f of reblacklisting) missing.push(`${f.path} (from ${f.from}) blacklists sctp`);

  const loaders = files.filter(
    (f) =>
      /^\/etc\/modules-load\.d\/[^/]+\.conf$/.test(f.path) &&
      f.contents !== undefined &&
      meaningfulLines(f.contents, '#;').includes('sctp'),
  );
  if (loaders.length === 0) {
    const load = byPath.get(MODULES_LOAD_FILE);
    missing.push(
      load === undefined
        ? `no /etc/modules-load.d/*.conf lists sctp`
        : load.contents === undefined
          ? `${MODULES_LOAD_FILE} cannot be read (${load.problem})`
          : `${MODULES_LOAD_FILE} does not list sctp (it holds ${JSON.stringify(load.contents.trim())})`,
    );
  }

  const enabled = missing.length === 0;
  const by = enabled ? [...new Set([black!.from, ...loaders.map((f) => f.from)])].sort() : [];
  const reason = enabled
    ? `${BLACKLIST_FILE} is written empty and ${loaders.map((f) => f.path).join(', ')} lists sctp`
    : [...missing, ...problems].join('; ');
  return { enabled, blacklist, loadFiles: loaders.map((f) => f.path), reason, by };
}

/** Does this one MachineConfig, on its own, enable SCTP? */
export function machineConfigEnablesSctp(mc: MachineConfig): SctpVerdict {
  const { files, problem } = ignitionFiles(mc);
  return sctpFilesVerdict(files, problem ? [problem] : []);
}
