/**
 * OpenShift: SCTP enablement checked and applied the documented way.
 *
 * On RHCOS (and FCOS on OKD) /etc/modprobe.d/sctp-blacklist.conf blacklists
 * sctp, so a pod's SCTP socket fails with "Socket type not supported". The
 * documented remedy is a MachineConfig that writes that file empty and lists
 * sctp in /etc/modules-load.d/sctp-load.conf; the Machine Config Operator
 * (MCO) renders it into the pool's config and reboots the pool's nodes into
 * it one at a time.
 *
 * This module answers, through the Kubernetes API alone (no `oc`):
 *  - is this OpenShift? (API discovery of machineconfiguration.openshift.io)
 *  - does a MachineConfig, or the set of them a pool selects, enable SCTP?
 *    Judged by file paths and decoded contents, never by name;
 *  - which pool a node belongs to, and the remedy when its pool lacks SCTP;
 *  - what the node's own files say (read-only: cat/test/grep, never
 *    modprobe, never a socket);
 * and implements `enable-sctp` / `disable-sctp` with a rollout wait that
 * follows the pool's status.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { gunzipSync } from 'node:zlib';
import * as k8s from '@kubernetes/client-node';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { Config } from './config.ts';
import { SuiteError, errorText } from './errors.ts';
import { apiMessage, apiStatus, checkApi, loadKubeConfig, makeKube } from './kube.ts';
import { execOnNodes } from './node-access.ts';
import { poll, PollTimeout, NotYet } from './poll.ts';
import type { RunContext } from './run-context.ts';
import { textTable } from './text-table.ts';

export const MCO_GROUP = 'machineconfiguration.openshift.io';
export const MCO_VERSION = 'v1';
export const ROLE_LABEL = `${MCO_GROUP}/role`;
/** Node annotation: the rendered MachineConfig the node currently runs. */
export const CURRENT_CONFIG_ANNOTATION = `${MCO_GROUP}/currentConfig`;
export const BLACKLIST_FILE = '/etc/modprobe.d/sctp-blacklist.conf';
export const MODULES_LOAD_FILE = '/etc/modules-load.d/sctp-load.conf';
/** Marks the MachineConfigs enable-sctp creates. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'sctp-e2e';
export const FIXTURE_PATH = fileURLToPath(
  new URL('../fixtures/openshift/load-sctp-module.yaml', import.meta.url),
);
export const FIXTURE_NAME = 'load-sctp-module';

// ---------------------------------------------------------------------------
// The objects, as far as the suite reads and writes them.

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  ownerReferences?: Array<{ kind?: string; name?: string }>;
}

export interface MachineConfig {
  apiVersion: string;
  kind: 'MachineConfig';
  metadata: ObjectMeta;
  /** `config` is an Ignition config of any version: read defensively. */
  spec?: { config?: unknown; [field: string]: unknown };
}

export interface PoolCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface MachineConfigPool {
  apiVersion: string;
  kind: 'MachineConfigPool';
  metadata: ObjectMeta;
  spec?: { machineConfigSelector?: LabelSelector; nodeSelector?: LabelSelector; paused?: boolean };
  status?: {
    machineCount?: number;
    updatedMachineCount?: number;
    readyMachineCount?: number;
    unavailableMachineCount?: number;
    degradedMachineCount?: number;
    conditions?: PoolCondition[];
    configuration?: { name?: string; source?: Array<{ name?: string }> };
  };
}

// ---------------------------------------------------------------------------
// Pure: Ignition files of a MachineConfig.

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

// ---------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------
// Pure: pools, selectors, nodes.

/** Kubernetes label-selector semantics: no selector matches nothing, {} everything. */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Record<string, string> = {},
): boolean {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const values = e.values ?? [];
    const ok =
      e.operator === 'In'
        ? has && values.includes(labels[e.key])
        : e.operator === 'NotIn'
          ? !has || !values.includes(labels[e.key])
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

export function describeSelector(selector: LabelSelector | undefined): string {
  if (!selector) return '(no selector)';
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? [])
    parts.push(`${e.key} ${e.operator}${e.values ? ` (${e.values.join(',')})` : ''}`);
  return parts.join(', ') || '(everything)';
}

/** Rendered configs belong to a pool and carry no role label; they are outputs, not inputs. */
function isRendered(mc: MachineConfig): boolean {
  return (
    mc.metadata.name.startsWith('rendered-') ||
    (mc.metadata.ownerReferences ?? []).some((o) => o.kind === 'MachineConfigPool')
  );
}

/** The MachineConfigs a pool renders from, in MCO merge order (by name). */
export function machineConfigsOfPool(pool: MachineConfigPool, mcs: MachineConfig[]): MachineConfig[] {
  return mcs
    .filter((mc) => !isRendered(mc) && selectorMatches(pool.spec?.machineConfigSelector, mc.metadata.labels))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0));
}

/** Does the set of MachineConfigs this pool selects enable SCTP, and by which ones? */
export function poolSctp(pool: MachineConfigPool, mcs: MachineConfig[]): SctpVerdict {
  const files: IgnitionFile[] = [];
  const problems: string[] = [];
  for (const mc of machineConfigsOfPool(pool, mcs)) {
    const r = ignitionFiles(mc);
    files.push(...r.files);
    if (r.problem) problems.push(r.problem);
  }
  return sctpFilesVerdict(files, problems);
}

/**
 * The pool the MCO manages a node with (its getPrimaryPoolForNode): master
 * wins, then a single custom pool, then worker; two custom pools is an
 * error the MCO reports too.
 */
export function poolForNode(
  labels: Record<string, string>,
  pools: MachineConfigPool[],
): { pool?: MachineConfigPool; problem?: string } {
  const matching = pools.filter((p) => selectorMatches(p.spec?.nodeSelector, labels));
  if (matching.length <= 1) return { pool: matching[0] };
  const master = matching.find((p) => p.metadata.name === 'master');
  if (master) return { pool: master };
  const custom = matching.filter((p) => p.metadata.name !== 'worker');
  if (custom.length > 1)
    return {
      problem: `node is in more than one custom MachineConfigPool (${custom.map((p) => p.metadata.name).join(', ')})`,
    };
  return { pool: custom[0] ?? matching[0] };
}

export function enableCommand(pool: string): string {
  return `sctp-e2e enable-sctp --openshift --pool ${pool}`;
}

/**
 * The exact remedy for one node, or undefined when SCTP is enabled there (or
 * the MCO does not manage the node, so there is nothing it could apply).
 * The node's current rendered config is the truth when the MCO has written
 * it; the pool's MachineConfigs say whether a rollout would bring it.
 */
export function nodeSctpRemedy(
  node: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> },
  pools: MachineConfigPool[],
  mcs: MachineConfig[],
): string | undefined {
  const { pool, problem } = poolForNode(node.labels ?? {}, pools);
  if (problem)
    return `SCTP cannot be enabled on node ${node.name} the OpenShift way: ${problem}; fix the node's pool labels first`;
  if (!pool) return undefined;
  const poolName = pool.metadata.name;
  const current = node.annotations?.[CURRENT_CONFIG_ANNOTATION];
  const rendered = current ? mcs.find((mc) => mc.metadata.name === current) : undefined;
  const poolVerdict = poolSctp(pool, mcs);
  if (rendered && machineConfigEnablesSctp(rendered).enabled) return undefined;
  if (!rendered && poolVerdict.enabled) return undefined; // no MCO bookkeeping to contradict the pool
  if (poolVerdict.enabled) {
    return `SCTP is configured for MachineConfigPool ${poolName} (by ${poolVerdict.by.join(', ')}) but node ${node.name} still runs ${current}, which blacklists it: wait for the rollout with \`${enableCommand(poolName)}\``;
  }
  return `SCTP is not enabled on node ${node.name} (MachineConfigPool ${poolName}: ${poolVerdict.reason}): run \`${enableCommand(poolName)}\``;
}

// ---------------------------------------------------------------------------
// Pure: rollout state of a pool.

export interface RolloutExpectation {
  /** MachineConfigs the pool's current rendered config must be made from. */
  include: string[];
  /** ...and must no longer be made from. */
  exclude: string[];
}

export interface RolloutState {
  done: boolean;
  /** What the pool says, on one line. */
  summary: string;
  /** Set when waiting longer cannot help. */
  failure?: string;
}

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

/**
 * A rollout is done when the pool's status (written by the MCO once every
 * machine has it) names a rendered config made from the expected
 * MachineConfigs, condition Updated is True, and every machine is updated
 * and none degraded. Matching the sources, not just Updated=True, matters:
 * right after a change the pool still reports Updated for the old config.
 */
export function rolloutState(pool: MachineConfigPool, expect: RolloutExpectation): RolloutState {
  const s = pool.status;
  if (!s) return { done: false, summary: 'no status yet (is the Machine Config Operator running?)' };
  const cond = (type: string) => s.conditions?.find((c) => c.type === type);
  const sources = s.configuration?.source?.map((r) => r.name ?? '') ?? [];
  const rendered = s.configuration?.name ?? '(none)';
  const missing = expect.include.filter((n) => !sources.includes(n));
  const stale = expect.exclude.filter((n) => sources.includes(n));
  const machines = s.machineCount ?? 0;
  const updated = s.updatedMachineCount ?? 0;
  const degraded = s.degradedMachineCount ?? 0;
  const configText =
    missing.length > 0
      ? `without ${missing.join(', ')}`
      : stale.length > 0
        ? `still with ${stale.join(', ')}`
        : expect.include.length
          ? `with ${expect.include.join(', ')}`
          : `without ${expect.exclude.join(', ')}`;
  const conditions = ['Updated', 'Updating', 'Degraded']
    .map((t) => `${t}=${cond(t)?.status ?? '?'}`)
    .join(' ');
  const updating = cond('Updating');
  const note = updating?.status === 'True' && updating.message ? ` (${updating.message})` : '';
  const summary = oneLine(
    `config ${rendered} (${configText}), ${updated}/${machines} machines updated, ${s.readyMachineCount ?? 0} ready, ${degraded} degraded, ${conditions}${note}${pool.spec?.paused ? ', paused' : ''}`,
  );
  const done =
    missing.length === 0 &&
    stale.length === 0 &&
    cond('Updated')?.status === 'True' &&
    updating?.status !== 'True' &&
    updated === machines &&
    degraded === 0;
  if (done) return { done, summary };
  const deg = cond('Degraded');
  if (deg?.status === 'True' || degraded > 0)
    return {
      done,
      summary,
      failure: oneLine(
        `the pool is degraded${deg?.message ? `: ${deg.message}` : ` (${degraded} machine(s))`}`,
      ),
    };
  if (pool.spec?.paused)
    return {
      done,
      summary,
      failure: 'the pool is paused, so the Machine Config Operator will not roll anything out',
    };
  return { done, summary };
}

// ---------------------------------------------------------------------------
// Pure: the MachineConfig enable-sctp applies.

/** The labels that make a MachineConfig part of this pool. */
export function roleLabelsFor(pool: MachineConfigPool): Record<string, string> {
  const selector = pool.spec?.machineConfigSelector;
  const labels: Record<string, string> = { ...(selector?.matchLabels ?? {}) };
  for (const e of selector?.matchExpressions ?? []) {
    if (labels[e.key] !== undefined) continue;
    if (e.operator === 'In' && e.values?.length)
      labels[e.key] = e.values.includes(pool.metadata.name) ? pool.metadata.name : e.values[0];
    else if (e.operator === 'Exists') labels[e.key] = pool.metadata.name;
  }
  if (Object.keys(labels).length === 0 || !selectorMatches(selector, labels)) {
    throw new SuiteError(
      `MachineConfigPool ${pool.metadata.name} selects MachineConfigs by ${describeSelector(selector)}, and sctp-e2e cannot derive labels that match it`,
      `label fixtures/openshift/load-sctp-module.yaml to match the pool's machineConfigSelector and apply it yourself`,
    );
  }
  return labels;
}

export function machineConfigNameFor(pool: string): string {
  // The documented name for worker; other pools get their own object, as
  // one MachineConfig can carry only one role.
  return pool === 'worker' ? FIXTURE_NAME : `${FIXTURE_NAME}-${pool}`;
}

export function readFixture(): MachineConfig {
  // YAML 1.1 as oc/kubectl read it: `mode: 0644` is octal (420), not 644.
  return parseYaml(readFileSync(FIXTURE_PATH, 'utf8'), { version: '1.1' }) as MachineConfig;
}

/** The fixture, named and labelled for a pool. */
export function renderMachineConfig(pool: string, roleLabels: Record<string, string>): MachineConfig {
  const fixture = readFixture();
  const labels: Record<string, string> = {
    ...fixture.metadata.labels,
    ...roleLabels,
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
  // The fixture's worker role label must not survive into another role's object.
  if (roleLabels[ROLE_LABEL] === undefined) delete labels[ROLE_LABEL];
  return { ...fixture, metadata: { name: machineConfigNameFor(pool), labels } };
}

// ---------------------------------------------------------------------------
// The API.

const MC = { group: MCO_GROUP, version: MCO_VERSION, plural: 'machineconfigs' };
const MCP = { group: MCO_GROUP, version: MCO_VERSION, plural: 'machineconfigpools' };

/** OpenShift (or OKD) is where the Machine Config Operator's API group is served. */
export async function isOpenShift(kc: k8s.KubeConfig): Promise<boolean> {
  const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
  return groups.groups.some((g) => g.name === MCO_GROUP);
}

const RBAC_FIX = `the kubeconfig user needs RBAC for ${MCO_GROUP} machineconfigs and machineconfigpools (cluster-admin works)`;

async function api<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SuiteError) throw err;
    throw new SuiteError(`cannot ${what}: ${oneLine(apiMessage(err))}`, RBAC_FIX);
  }
}

export class OpenShiftApi {
  private readonly custom: k8s.CustomObjectsApi;
  constructor(kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async listMachineConfigs(): Promise<MachineConfig[]> {
    const list = (await api('list MachineConfigs', () => this.custom.listClusterCustomObject(MC))) as {
      items: MachineConfig[];
    };
    return list.items;
  }

  async listPools(): Promise<MachineConfigPool[]> {
    const list = (await api('list MachineConfigPools', () => this.custom.listClusterCustomObject(MCP))) as {
      items: MachineConfigPool[];
    };
    return list.items;
  }

  async readPool(name: string): Promise<MachineConfigPool | undefined> {
    return this.readOrUndefined(`read MachineConfigPool ${name}`, () =>
      this.custom.getClusterCustomObject({ ...MCP, name }),
    );
  }

  async readMachineConfig(name: string): Promise<MachineConfig | undefined> {
    return this.readOrUndefined(`read MachineConfig ${name}`, () =>
      this.custom.getClusterCustomObject({ ...MC, name }),
    );
  }

  private async readOrUndefined<T>(what: string, call: () => Promise<unknown>): Promise<T | undefined> {
    try {
      return (await call()) as T;
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw new SuiteError(`cannot ${what}: ${oneLine(apiMessage(err))}`, RBAC_FIX);
    }
  }

  async createMachineConfig(mc: MachineConfig): Promise<void> {
    await api(`create MachineConfig ${mc.metadata.name}`, () =>
      this.custom.createClusterCustomObject({ ...MC, body: mc }),
    );
  }

  async replaceMachineConfig(mc: MachineConfig): Promise<void> {
    await api(`update MachineConfig ${mc.metadata.name}`, () =>
      this.custom.replaceClusterCustomObject({ ...MC, name: mc.metadata.name, body: mc }),
    );
  }

  /** True when it existed. */
  async deleteMachineConfig(name: string): Promise<boolean> {
    try {
      await this.custom.deleteClusterCustomObject({ ...MC, name });
      return true;
    } catch (err) {
      if (apiStatus(err) === 404) return false;
      throw new SuiteError(`cannot delete MachineConfig ${name}: ${oneLine(apiMessage(err))}`, RBAC_FIX);
    }
  }
}

// ---------------------------------------------------------------------------
// Node files, read-only.

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

// ---------------------------------------------------------------------------
// Run-level: preflight section and the per-node remedy.

interface Snapshot {
  pools: MachineConfigPool[];
  mcs: MachineConfig[];
}

const snapshots = new WeakMap<RunContext, Promise<Snapshot | undefined>>();

/** Pools and MachineConfigs, read once per run; undefined when not OpenShift. */
function snapshot(ctx: RunContext): Promise<Snapshot | undefined> {
  let s = snapshots.get(ctx);
  if (!s) {
    s = (async () => {
      if (!(await isOpenShift(ctx.kube.kc))) return undefined;
      const os = new OpenShiftApi(ctx.kube.kc);
      const [pools, mcs] = await Promise.all([os.listPools(), os.listMachineConfigs()]);
      return { pools, mcs };
    })();
    snapshots.set(ctx, s);
  }
  return s;
}

/**
 * For the connectivity tier: the remedy text when SCTP is not enabled on
 * this node the OpenShift way, undefined when it is or the cluster is not
 * OpenShift. Tests that need the node skip with this text as their reason.
 */
export async function sctpRemedyFor(ctx: RunContext, nodeName: string): Promise<string | undefined> {
  let s: Snapshot | undefined;
  try {
    s = await snapshot(ctx);
  } catch {
    // Cannot read MachineConfigs (RBAC): let the test run and judge for
    // itself rather than skip on a guess; preflight shows the read error.
    return undefined;
  }
  if (!s) return undefined;
  const node =
    ctx.nodes.find((n) => n.metadata?.name === nodeName) ??
    (await ctx.kube.core.readNode({ name: nodeName }));
  return nodeSctpRemedy(
    { name: nodeName, labels: node.metadata?.labels, annotations: node.metadata?.annotations },
    s.pools,
    s.mcs,
  );
}

/** Remedies for every node of the run that lacks SCTP; empty when none or not OpenShift. */
export async function sctpRemedies(ctx: RunContext): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const n of ctx.nodes) {
    const remedy = await sctpRemedyFor(ctx, n.metadata!.name!);
    if (remedy) out.set(n.metadata!.name!, remedy);
  }
  return out;
}

function rolloutText(pool: MachineConfigPool): string {
  const s = pool.status;
  if (!s) return 'no status';
  const updated = s.conditions?.find((c) => c.type === 'Updated')?.status === 'True';
  return `${s.updatedMachineCount ?? 0}/${s.machineCount ?? 0} updated${updated ? '' : ', updating'}${s.configuration?.name ? ` (${s.configuration.name})` : ''}`;
}

/** The OpenShift part of `sctp-e2e preflight`; '' when not OpenShift. */
export async function openShiftPreflightSection(ctx: RunContext): Promise<string> {
  let s: Snapshot | undefined;
  try {
    s = await snapshot(ctx);
  } catch (err) {
    return `\nOpenShift       cannot read MachineConfigs: ${err instanceof SuiteError ? err.message : oneLine(errorText(err))}\n`;
  }
  if (!s) return '';
  const out: string[] = [`\nOpenShift       ${MCO_GROUP} served: SCTP is enabled per MachineConfigPool`];
  const poolRows = [['POOL', 'SCTP', 'BY MACHINECONFIG', 'ROLLOUT', 'WHY']];
  for (const pool of [...s.pools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const v = poolSctp(pool, s.mcs);
    poolRows.push([
      pool.metadata.name,
      v.enabled ? 'enabled' : 'not enabled',
      v.by.join(',') || '-',
      rolloutText(pool),
      v.enabled ? '' : v.reason,
    ]);
  }
  out.push(poolRows.length > 1 ? textTable(poolRows) : 'no MachineConfigPool found\n');

  const names = ctx.nodes.map((n) => n.metadata!.name!);
  let files = new Map<string, NodeSctpFiles>();
  if (ctx.access.kind !== 'none') {
    try {
      const results = await execOnNodes(ctx.access, names, NODE_SCTP_FILES_COMMAND);
      files = new Map([...results].map(([n, r]) => [n, parseNodeSctpFiles(r.stdout)]));
    } catch (err) {
      out.push(`node files unreadable: ${oneLine(errorText(err))}`);
    }
  }
  const nodeRows = [['NODE', 'POOL', 'CURRENT CONFIG', 'BLACKLIST FILE', 'MODULES-LOAD', 'SCTP LOADED']];
  const remedies: string[] = [];
  for (const n of ctx.nodes) {
    const name = n.metadata!.name!;
    const { pool, problem } = poolForNode(n.metadata?.labels ?? {}, s.pools);
    const current = n.metadata?.annotations?.[CURRENT_CONFIG_ANNOTATION];
    const rendered = current ? s.mcs.find((mc) => mc.metadata.name === current) : undefined;
    const f = files.get(name);
    nodeRows.push([
      name,
      pool?.metadata.name ?? (problem ? 'ambiguous' : '-'),
      current
        ? `${current}${rendered ? (machineConfigEnablesSctp(rendered).enabled ? ' (sctp)' : ' (no sctp)') : ''}`
        : '-',
      f ? f.blacklistFile : '?',
      f
        ? f.loadEntries.length
          ? `sctp in ${f.loadEntries.join(',')}`
          : `no sctp (${MODULES_LOAD_FILE} ${f.modulesLoadFile})`
        : '?',
      f ? f.loaded : '?',
    ]);
    const remedy = nodeSctpRemedy(
      { name, labels: n.metadata?.labels, annotations: n.metadata?.annotations },
      s.pools,
      s.mcs,
    );
    if (remedy) remedies.push(`remedy          ${remedy}`);
  }
  out.push(textTable(nodeRows));
  if (remedies.length) out.push(remedies.join('\n') + '\n');
  return out.join('\n');
}

// ---------------------------------------------------------------------------
// enable-sctp / disable-sctp.

export interface SctpCommandOptions {
  pool: string;
  dryRun: boolean;
  waitTimeoutSeconds: number;
}

export interface RawSctpFlags {
  openshift?: boolean;
  pool?: string;
  dryRun?: boolean;
  waitTimeout?: string;
}

/** A rollout drains and reboots the pool's nodes one at a time: allow an hour. */
export const DEFAULT_WAIT_TIMEOUT_SECONDS = 3600;

export function parseSctpCommandFlags(verb: string, flags: RawSctpFlags): SctpCommandOptions {
  if (!flags.openshift) {
    throw new SuiteError(
      `${verb} needs --openshift`,
      `only OpenShift/OKD (MachineConfig) enablement is implemented; elsewhere load sctp on each node as your distribution documents`,
    );
  }
  const pool = flags.pool ?? 'worker';
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(pool))
    throw new SuiteError(`invalid --pool "${pool}"`, 'give the name of a MachineConfigPool, e.g. worker');
  let waitTimeoutSeconds = DEFAULT_WAIT_TIMEOUT_SECONDS;
  if (flags.waitTimeout !== undefined) {
    waitTimeoutSeconds = Number(flags.waitTimeout);
    if (!Number.isFinite(waitTimeoutSeconds) || waitTimeoutSeconds <= 0)
      throw new SuiteError(
        `invalid --wait-timeout "${flags.waitTimeout}": not a positive number of seconds`,
        'give seconds, e.g. --wait-timeout 3600',
      );
  }
  return { pool, dryRun: Boolean(flags.dryRun), waitTimeoutSeconds };
}

type Print = (line: string) => void;
const stdoutPrint: Print = (line) => void process.stdout.write(`${line}\n`);

async function connect(config: Config): Promise<{ kc: k8s.KubeConfig; server: string }> {
  const kube = makeKube(loadKubeConfig(config));
  await checkApi(kube);
  if (!(await isOpenShift(kube.kc))) {
    throw new SuiteError(
      `the cluster at ${kube.server} does not serve ${MCO_GROUP}: it is not OpenShift/OKD`,
      'drop --openshift and load sctp on each node as your distribution documents',
    );
  }
  return { kc: kube.kc, server: kube.server };
}

async function requirePool(os: OpenShiftApi, name: string): Promise<MachineConfigPool> {
  const pool = await os.readPool(name);
  if (pool) return pool;
  const names = (await os.listPools()).map((p) => p.metadata.name);
  throw new SuiteError(
    `MachineConfigPool "${name}" does not exist`,
    `use --pool with one of: ${names.join(', ') || '(none)'}`,
  );
}

function dryRunYaml(mc: MachineConfig, note: string): string {
  return `# ${note}\n# apply with: oc apply -f - (or sctp-e2e enable-sctp without --dry-run)\n${stringifyYaml(mc)}`;
}

export async function enableSctpCommand(
  config: Config,
  options: SctpCommandOptions,
  print: Print = stdoutPrint,
): Promise<number> {
  if (options.dryRun) return enableDryRun(config, options, print);
  const { kc } = await connect(config);
  const os = new OpenShiftApi(kc);
  const pool = await requirePool(os, options.pool);
  const desired = renderMachineConfig(pool.metadata.name, roleLabelsFor(pool));
  const name = desired.metadata.name;

  const before = poolSctp(pool, await os.listMachineConfigs());
  let include: string[];
  if (before.enabled && !before.by.includes(name)) {
    // Someone enabled it their own way (another name, same files): a second
    // MachineConfig would only cost another reboot of every node.
    print(
      `MachineConfigPool ${pool.metadata.name} already enables SCTP by MachineConfig ${before.by.join(', ')}: nothing to create`,
    );
    include = before.by;
  } else {
    const existing = await os.readMachineConfig(name);
    const labelsOf = (mc: MachineConfig) => mc.metadata.labels ?? {};
    if (!existing) {
      await os.createMachineConfig(desired);
      print(
        `created MachineConfig ${name} (${describeSelector({ matchLabels: roleLabelsFor(pool) })}) for MachineConfigPool ${pool.metadata.name}`,
      );
    } else if (
      isDeepStrictEqual(existing.spec?.config, desired.spec?.config) &&
      Object.entries(labelsOf(desired)).every(([k, v]) => labelsOf(existing)[k] === v)
    ) {
      print(
        `MachineConfig ${name} for MachineConfigPool ${pool.metadata.name} is already as it should be: unchanged`,
      );
    } else {
      await os.replaceMachineConfig({
        ...existing,
        metadata: { ...existing.metadata, labels: { ...labelsOf(existing), ...labelsOf(desired) } },
        spec: { ...existing.spec, config: desired.spec?.config },
      });
      print(
        `updated MachineConfig ${name} for MachineConfigPool ${pool.metadata.name} to the documented files`,
      );
    }
    const after = poolSctp(pool, await os.listMachineConfigs());
    if (!after.enabled) {
      // A MachineConfig later in name order can overwrite ours.
      throw new SuiteError(
        `MachineConfig ${name} is applied, but MachineConfigPool ${pool.metadata.name} still does not enable SCTP: ${after.reason}`,
        'remove or fix the MachineConfig named there, then rerun',
      );
    }
    include = after.by;
  }
  const done = await waitForRollout(
    os,
    pool.metadata.name,
    { include, exclude: [] },
    options.waitTimeoutSeconds,
    print,
  );
  print(
    `SCTP is enabled on MachineConfigPool ${pool.metadata.name}: ${done.status?.updatedMachineCount ?? 0}/${done.status?.machineCount ?? 0} machines run ${done.status?.configuration?.name ?? 'the new config'} (from ${include.join(', ')}); check with \`sctp-e2e preflight\``,
  );
  return 0;
}

async function enableDryRun(config: Config, options: SctpCommandOptions, print: Print): Promise<number> {
  // Labels come from the pool when the cluster can say; otherwise the
  // documented role label, so the YAML can be produced offline too.
  let labels: Record<string, string> = { [ROLE_LABEL]: options.pool };
  let note = `MachineConfig for MachineConfigPool ${options.pool}`;
  try {
    const { kc, server } = await connect(config);
    const pool = await requirePool(new OpenShiftApi(kc), options.pool);
    labels = roleLabelsFor(pool);
    note += ` on ${server} (labels from its machineConfigSelector)`;
  } catch (err) {
    if (!(err instanceof SuiteError)) throw err;
    note += ` — not checked against a cluster (${err.message}); labelled ${ROLE_LABEL}=${options.pool}`;
  }
  print(dryRunYaml(renderMachineConfig(options.pool, labels), note).trimEnd());
  return 0;
}

export async function disableSctpCommand(
  config: Config,
  options: SctpCommandOptions,
  print: Print = stdoutPrint,
): Promise<number> {
  const name = machineConfigNameFor(options.pool);
  if (options.dryRun) {
    print(
      `would delete MachineConfig ${name} (MachineConfigPool ${options.pool}) and wait for the pool to roll out without it`,
    );
    return 0;
  }
  const { kc } = await connect(config);
  const os = new OpenShiftApi(kc);
  const pool = await requirePool(os, options.pool);
  const existed = await os.deleteMachineConfig(name);
  print(
    existed
      ? `deleted MachineConfig ${name} from MachineConfigPool ${pool.metadata.name}`
      : `MachineConfig ${name} does not exist: nothing to delete`,
  );
  if (existed)
    await waitForRollout(
      os,
      pool.metadata.name,
      { include: [], exclude: [name] },
      options.waitTimeoutSeconds,
      print,
    );
  const left = poolSctp(pool, await os.listMachineConfigs());
  if (left.enabled) {
    print(
      `note: SCTP stays enabled on MachineConfigPool ${pool.metadata.name} by MachineConfig ${left.by.join(', ')}, which sctp-e2e did not create; delete it yourself if you mean to`,
    );
  } else {
    print(`SCTP is not enabled by any MachineConfig of MachineConfigPool ${pool.metadata.name}`);
  }
  return 0;
}

/**
 * Follows the pool's status until the rollout is done, printing each change
 * of state. Exit 2 (SuiteError) on the deadline or when the pool degrades or
 * is paused: the suite cannot judge SCTP on nodes halfway through.
 */
export async function waitForRollout(
  os: OpenShiftApi,
  poolName: string,
  expect: RolloutExpectation,
  timeoutSeconds: number,
  print: Print,
  intervalMs = 2000,
): Promise<MachineConfigPool> {
  const deadline = new Date(Date.now() + timeoutSeconds * 1000);
  const what = expect.include.length
    ? `a config with ${expect.include.join(', ')}`
    : `a config without ${expect.exclude.join(', ')}`;
  print(
    `waiting up to ${timeoutSeconds} s (until ${deadline.toISOString()}) for MachineConfigPool ${poolName} to roll out ${what} to all machines; nodes drain and reboot one at a time`,
  );
  let lastSummary = '';
  let failure: string | undefined;
  let finalPool: MachineConfigPool;
  try {
    finalPool = await poll(
      `MachineConfigPool ${poolName} to roll out ${what}`,
      { timeoutMs: timeoutSeconds * 1000, intervalMs },
      async () => {
        const pool = await os.readPool(poolName);
        if (!pool) throw new NotYet('the pool is gone');
        const state = rolloutState(pool, expect);
        if (state.summary !== lastSummary) {
          print(`  ${new Date().toISOString().slice(11, 19)} ${poolName}: ${state.summary}`);
          lastSummary = state.summary;
        }
        if (state.done) return pool;
        if (state.failure) {
          failure = state.failure;
          return pool;
        }
        throw new NotYet(state.summary);
      },
    );
  } catch (err) {
    if (err instanceof PollTimeout) {
      throw new SuiteError(
        `MachineConfigPool ${poolName} did not roll out ${what} to all machines by the deadline ${deadline.toISOString()} (--wait-timeout ${timeoutSeconds} s); last seen: ${lastSummary || 'nothing'}`,
        `see \`oc get mcp ${poolName}\` and \`oc describe mcp ${poolName}\`; the command is idempotent, rerun it with a longer --wait-timeout`,
      );
    }
    throw err;
  }
  if (failure) {
    throw new SuiteError(
      `MachineConfigPool ${poolName} cannot roll out ${what}: ${failure}; last seen: ${lastSummary}`,
      `see \`oc describe mcp ${poolName}\`; fix the pool, then rerun`,
    );
  }
  return finalPool;
}
