/**
 * OpenShift, pure: pools, their selectors, which MachineConfigs a pool takes, which pool a
 * node is in, and the remedy when a node's pool lacks SCTP.
 */
import {
  type IgnitionFile,
  type SctpVerdict,
  ignitionFiles,
  machineConfigEnablesSctp,
  sctpFilesVerdict,
} from './ignition.ts';
import {
  CURRENT_CONFIG_ANNOTATION,
  type LabelSelector,
  type MachineConfig,
  type MachineConfigPool,
} from './objects.ts';

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
