/**
 * OpenShift: Run-level: the preflight's OpenShift section and the per-node remedy the
 * connectivity tier skips with.
 */
import { SuiteError, errorText } from '../framework/errors.ts';
import { execOnNodes } from '../access/node-access.ts';
import type { RunContext } from '../framework/run-context.ts';
import { textTable } from '../report/text-table.ts';
import { OpenShiftApi, isOpenShift } from './api.ts';
import { machineConfigEnablesSctp } from './ignition.ts';
import { NODE_SCTP_FILES_COMMAND, type NodeSctpFiles, parseNodeSctpFiles } from './node-files.ts';
import {
  CURRENT_CONFIG_ANNOTATION,
  MCO_GROUP,
  MODULES_LOAD_FILE,
  type MachineConfig,
  type MachineConfigPool,
} from './objects.ts';
import { nodeSctpRemedy, poolForNode, poolSctp } from './pools.ts';
import { oneLine } from './rollout.ts';

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
