/**
 * The verdict of a path test: probe until every target makes a full SCTP
 * round trip, then pass; fail naming each target that did not; and when
 * nothing about the cluster was observed, an error of the test (never a pass).
 */
import type { ProbeResult, ProbeTarget } from './agent.ts';
import type { Prober } from './probers.ts';
import type { Config } from '../framework/config.ts';
import { errorText, TestError } from '../framework/errors.ts';
import { poll, PollTimeout } from '../framework/poll.ts';

/** What expectReach needs of a test: its timeouts and a place for evidence. */
export interface ReachEnv {
  ctx: { config: Pick<Config, 'probeTimeout' | 'ruleTimeout'> };
  evidence(name: string, text: string): void;
  time<T>(step: string, work: () => Promise<T>): Promise<T>;
}

/** "SCTP 198.19.128.5:7777 (8 streams)": the address probed and how. */
export const target = (r: ProbeTarget): string => {
  const how = [
    r.sourcePort && `from source port ${r.sourcePort}`,
    r.streams && `${r.streams} streams`,
    r.size && `${r.size >= 1024 && r.size % 1024 === 0 ? `${r.size / 1024} KiB` : `${r.size}-byte`} message`,
  ].filter(Boolean);
  return `SCTP ${r.host}:${r.port}${how.length ? ` (${how.join(', ')})` : ''}`;
};

/** What a probe saw, in words: "ok (answered by server)", "no answer within 3 s", … */
export function outcome(r: ProbeResult, timeoutSeconds: number, answeredBy?: string): string {
  switch (r.result) {
    case 'connected':
      return answeredBy && r.answeredBy && r.answeredBy !== answeredBy
        ? `answered by ${r.answeredBy}, expected ${answeredBy}`
        : `ok${r.answeredBy ? ` (answered by ${r.answeredBy})` : ''}`;
    case 'timeout':
      return `no reply within ${timeoutSeconds} s`;
    case 'refused':
      return 'refused (ABORT in answer to INIT)';
    default:
      return `no verdict (the probe gave no SCTP answer)`;
  }
}

export const show = (results: ProbeResult[], timeoutSeconds: number, answeredBy?: string) =>
  results
    .map(
      (r) => `${target(r)}: ${outcome(r, timeoutSeconds, answeredBy)}   ${r.raw.replace(/\s*\n\s*/g, ' | ')}`,
    )
    .join('\n');

/**
 * Probes until every target makes a full round trip (to `answeredBy` where
 * the agent tells who answered), or the rule deadline passes: Services and
 * rules take a moment to be programmed. Passes only on an observed round
 * trip for every target. A target that timed out, was refused or reached the
 * wrong pod fails the test, naming each; no observation at all (every probe
 * could not run), an empty target list, or only probes with no verdict is an
 * error of the test (TestError), never a pass.
 */
export async function expectReach(
  t: ReachEnv,
  from: Prober,
  what: string,
  targets: ProbeTarget[],
  answeredBy?: string,
): Promise<ProbeResult[]> {
  if (targets.length === 0) throw new TestError(`${what}: no target to probe (the target list is empty)`);
  const timeoutSeconds = t.ctx.config.probeTimeout;
  const probed = targets.map(target).join(', ');
  let last: ProbeResult[] | undefined;
  let failure: unknown;
  const good = (r: ProbeResult) =>
    r.result === 'connected' && (!answeredBy || !r.answeredBy || r.answeredBy === answeredBy);
  // The first attempts are short, 1 s then 2 s, each a new association; every
  // later one waits the whole --probe-timeout. A probe sent before kube-proxy
  // has programmed a new Service is stuck for all of its timeout: its INIT
  // made a conntrack entry without the Service's NAT, which its
  // retransmissions keep matching. The ClusterIP, NodePort and LoadBalancer
  // tests spent 3.8 to 5 s probing that way (one 3 s probe lost, then a quick
  // one). A failure is still judged on a whole-length probe: when the
  // deadline comes before one was made, one more is.
  let attempts = 0;
  let lastTimeout = timeoutSeconds;
  const probeOnce = async (timeout: number) => {
    lastTimeout = timeout;
    try {
      last = await from.probe(targets, timeout);
      failure = undefined;
    } catch (err) {
      failure = err;
      throw err;
    }
    if (last.length !== targets.length)
      throw new Error(`${last.length} results for ${targets.length} targets`);
    if (last.every(good)) return last;
    throw new Error(
      show(
        last.filter((r) => !good(r)),
        timeout,
        answeredBy,
      ),
    );
  };
  const attempt = () => probeOnce(Math.min(timeoutSeconds, ++attempts));
  await t.time('probing', async () => {
    try {
      await poll(what, { timeoutMs: t.ctx.config.ruleTimeout * 1000, intervalMs: 500 }, attempt);
    } catch (err) {
      if (!(err instanceof PollTimeout)) throw err;
      if (failure === undefined && lastTimeout < timeoutSeconds)
        await probeOnce(timeoutSeconds).catch(() => undefined);
    }
  });
  if (failure !== undefined || !last || last.length !== targets.length) {
    throw new TestError(
      `${what}: no probe result observed within ${t.ctx.config.ruleTimeout} s (probed ${probed}); ` +
        `last seen: ${failure !== undefined ? errorText(failure) : last ? `${last.length} results for ${targets.length} targets` : 'nothing'}`,
      failure instanceof TestError ? failure.raw : undefined,
    );
  }
  t.evidence(what, show(last, lastTimeout, answeredBy));
  const failed = last.filter((r) => !good(r));
  if (failed.length === 0) return last;
  const summary = `${what}: no SCTP round trip within ${t.ctx.config.ruleTimeout} s for ${failed.length} of ${last.length} target(s):\n${show(last, lastTimeout, answeredBy)}`;
  // Only probes without a verdict: nothing about the cluster was observed.
  if (failed.every((r) => r.result === 'error'))
    throw new TestError(summary, failed.map((r) => `${target(r)}: ${r.raw}`).join('\n'));
  throw new Error(summary);
}
