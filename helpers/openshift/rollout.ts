/**
 * OpenShift, pure: how far a pool's rollout of a configuration is, from its status.
 */
import type { MachineConfigPool } from './objects.ts';

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

export const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

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
