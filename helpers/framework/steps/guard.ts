/**
 * The module guard as steps of a run: one tracker per run, read at run
 * start (startRunGuard), before and after each guarded test, and at run end
 * (endRunGuard). The guard holds for the basic tier always, and for any test
 * run with the userspace agent: userspace SCTP works only while sctp.ko is out.
 * A run reads each node's module files, kernel config and modprobe
 * configuration once (NodeFiles); every reading reads the live state.
 */
import { perProcess } from '../per-process.ts';
import {
  GuardTracker,
  judgeGuard,
  readNodes,
  type NodeFiles,
  type RunGuard,
} from '../../kernel/module-guard.ts';
import type { GuardResult } from '../outcome.ts';
import { nodeNames, type RunContext } from '../run-context.ts';
import { TIER, type Tier } from '../story.ts';

// The CLI reads at the run's start and end, the tests before and after
// each; mocha may give the test files their own copy of this module (see
// per-process.ts), and a module-level map would then hold two trackers for
// one run: the CLI's saw only the start and the end, so a load a test's
// guard had caught came back as a finding "outside any test's guard", and
// the run's reading times counted two readings. One map per process.
const trackers = perProcess('guard-trackers', () => new WeakMap<RunContext, GuardTracker>());

function tracker(ctx: RunContext): GuardTracker {
  let t = trackers.get(ctx);
  if (!t) {
    const files: NodeFiles = new Map();
    t = new GuardTracker(() => readNodes(ctx.access, nodeNames(ctx), files));
    trackers.set(ctx, t);
  }
  return t;
}

export function isGuarded(ctx: RunContext, tier: Tier): boolean {
  return tier === TIER.basic || ctx.agent.kind === 'usrsctp';
}

export async function startRunGuard(ctx: RunContext): Promise<void> {
  await tracker(ctx).start();
}

export function endRunGuard(ctx: RunContext): Promise<RunGuard> {
  return tracker(ctx).end();
}

/**
 * Wraps a test's body and cleanup: reads before, runs, reads after. Returns
 * undefined for a test the guard does not hold for (noted, so a load after
 * it is not blamed on the gap).
 */
export async function guarded(
  ctx: RunContext,
  tier: Tier,
  title: string,
  run: () => Promise<void>,
): Promise<GuardResult | undefined> {
  const t = tracker(ctx);
  if (!isGuarded(ctx, tier)) {
    t.unguarded(title);
    await run();
    return undefined;
  }
  const before = await t.before(title);
  // The window closes whatever the body did: an open one would hide every gap after it.
  const failed = await run().then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  const after = await t.after(title);
  if (failed) throw failed.error;
  const judged = judgeGuard(before, after.readings);
  return after.sharedWith.length ? { ...judged, sharedWith: after.sharedWith } : judged;
}
