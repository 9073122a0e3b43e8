/**
 * Gates: checks before a test's body that decide it cannot be judged here.
 * On OpenShift, kernel SCTP is blacklisted until a MachineConfig enables it:
 * with the kernel-SCTP agent a connectivity test on such a cluster says how
 * to fix it instead of failing obscurely. Read once per run.
 */
import { sctpRemedies } from '../../openshift/preflight.ts';
import type { RunContext } from '../run-context.ts';
import { TIER, type Tier } from '../story.ts';

const remediesByRun = new WeakMap<RunContext, Promise<Map<string, string>>>();

function openShiftRemedies(ctx: RunContext): Promise<Map<string, string>> {
  let remedies = remediesByRun.get(ctx);
  if (!remedies) remediesByRun.set(ctx, (remedies = sctpRemedies(ctx)));
  return remedies;
}

/** The skip reason when a gate closes, else undefined. */
export async function gateSkipReason(ctx: RunContext, tier: Tier): Promise<string | undefined> {
  if (tier === TIER.connectivity && ctx.agent.kind === 'agnhost') {
    const remedies = await openShiftRemedies(ctx);
    if (remedies.size) {
      const [node, remedy] = [...remedies][0];
      return `SCTP is not enabled on ${remedies.size} node(s), e.g. ${node}: ${remedy}`;
    }
  }
  return undefined;
}
