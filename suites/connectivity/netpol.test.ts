/**
 * [Feature:SCTPConnectivity] NetworkPolicy over SCTP as a truth table, the
 * way upstream's netpol suite does it for TCP: namespaces x, y, z with pods
 * a, b, c, each serving SCTP on 80 and 81; every pod dials every pod on both
 * ports. The model is deployed once and reused by every scenario
 * (helpers/netpol/shared-model.ts); only policies change. Each scenario
 * first shows the whole matrix connected (so every cell the policy blocks
 * carried the same SCTP association before it), then applies its policy and
 * waits until the observed table equals the expected.
 * A cell is blocked only when two probes time out or are refused; a probe
 * with no SCTP answer (exec refused, garbage output) makes the test an
 * error, never a blocked cell. Every table also has cells the policy allows
 * between different pods, which must still connect after it.
 */
import { dumpYaml, type V1NetworkPolicy } from '@kubernetes/client-node';
import { networkPolicy } from '../../fixtures/objects.ts';
import {
  CELLS,
  Reachability,
  describeDifference,
  namespaceLabels,
  cellId,
  podId,
  podLabels,
  renderComparison,
  renderReachability,
  type Cell,
  type ModelNamespace,
} from '../../helpers/netpol/model.ts';
import { SharedModel } from '../../helpers/netpol/shared-model.ts';
import {
  describeResults,
  probeMatrix,
  renderResults,
  type DeployedPod,
  untilBlocked,
  type Observation,
} from '../../helpers/netpol/probe.ts';
import { cellTimeoutSeconds, requireVerdicts } from '../../helpers/netpol/verdict.ts';
import { errorText, TestError } from '../../helpers/framework/errors.ts';
import { poll, PollTimeout } from '../../helpers/framework/poll.ts';
import { sctpIt, type TestEnv } from '../../helpers/framework/sctp-test.ts';

const STORY = 'NetworkPolicy allow/deny for SCTP ports';

// The scenarios share one model and their policies would change each
// other's tables: with --parallel they still run one at a time, while path
// tests run beside them.
const TRUTH_TABLE_MODEL = 'truth-table model';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The policy as the API sees it: client-node's field names (`_from`) mapped back to the API's (`from`). */
const policyYaml = (body: V1NetworkPolicy) =>
  dumpYaml({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', ...body });

const podTable = (pods: DeployedPod[]) =>
  pods.map((p) => `${podId(p)}  ${p.namespace}/${p.name}  ${p.ip}`).join('\n');

/** The cells worth reading raw: every blocked one, and every one that differs. */
function rawEvidence(observation: Observation, expected: Reachability): string {
  const shown = observation.results.filter((r) => r.result.result !== 'connected' || !expected.get(r.cell));
  const lines = shown.length ? describeResults(shown) : `all ${CELLS.length} cells connected`;
  const unconfirmed = observation.unconfirmed.length
    ? `\n\nblocked in the first probe, connected in the second (counted connected):\n${describeResults(observation.unconfirmed)}`
    : '';
  return lines + unconfirmed;
}

/** "x/b → x/a :81 expected blocked, observed connected", with the probe's result when it was blocked. */
function describeDiff(observation: Observation, d: ReturnType<Reachability['differences']>[number]): string {
  const r = observation.results.find((c) => cellId(c.cell) === cellId(d.cell))!.result;
  return `${describeDifference(d)}${d.observed ? '' : ` (${r.result} in both probes)`}`;
}

/** How long the last observation took: its round and, when other cells were blocked, the second round. */
const roundTimes = (o: Observation) =>
  `${seconds(o.ms)}${o.twice ? ` with the ${o.twice} cells expected blocked probed twice` : ''}` +
  `${o.reprobed ? ` + ${seconds(o.confirmMs)} to confirm ${o.reprobed} other blocked cell(s)` : ''}`;

/**
 * Probes the matrix until it equals `expected` or `timeoutMs` passes, and
 * returns the last observation either way. A round that already shows a cell
 * connected which `expected` blocks ends without a second round (`early`:
 * the policy is not in force yet); if the deadline comes on such a round,
 * one more observation is taken, so that the table reported has every
 * blocked cell confirmed by a second probe. No observation at all, or a
 * last observation with cells that gave no verdict, is a TestError: the
 * table was not judged.
 */
async function observeUntil(
  t: TestEnv,
  what: string,
  expected: Reachability,
  timeoutMs: number,
  observe: (expected?: Reachability) => Promise<Observation>,
): Promise<{ settled: boolean; last: Observation; rounds: number }> {
  let last: Observation | undefined;
  let failure: unknown;
  let rounds = 0;
  try {
    await poll(what, { timeoutMs, intervalMs: 200 }, async () => {
      try {
        last = await observe(expected);
        failure = undefined;
      } catch (err) {
        failure = err;
        throw err;
      }
      rounds++;
      if (last.errors.length) throw new Error(`${last.errors.length} cell(s) gave no verdict`);
      const diffs = expected.differences(last.reachability);
      if (diffs.length === 0) return last;
      throw new Error(`${diffs.length} cell(s) differ, first: ${describeDifference(diffs[0])}`);
    });
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err;
  }
  if (failure === undefined && last?.early) {
    last = await observe();
    rounds++;
  }
  if (failure !== undefined || !last) {
    throw new TestError(
      `no observation of the SCTP truth table while waiting for ${what} ` +
        `(${rounds} round(s) completed): ${failure === undefined ? 'no round finished' : errorText(failure)}`,
      failure instanceof TestError ? failure.raw : failure === undefined ? undefined : errorText(failure),
    );
  }
  if (last.errors.length) {
    t.evidence(`${what}: observed by probe result`, renderResults('Observed by probe result', last.results));
    requireVerdicts(`the SCTP truth table (${what})`, last.results);
  }
  return { settled: expected.equals(last.reachability), last, rounds };
}

interface Scenario {
  /** Short and unique in the file: names the scenario in messages. */
  id: string;
  title: string;
  /** The policies, each to create in the namespace of model namespace `in`. */
  policies: Array<{ in: ModelNamespace; body: V1NetworkPolicy }>;
  expected: Reachability;
}

/**
 * The cells `expected` blocks between different pods from the first source
 * pod that has any: probed together in one command while waiting for the
 * policy to be in force.
 */
function blockedFromOneSource(expected: Reachability): Cell[] {
  const blocked = CELLS.filter((c) => !expected.get(c) && podId(c.from) !== podId(c.to));
  return blocked.filter((c) => podId(c.from) === podId(blocked[0].from));
}

/**
 * The wait for a policy to be in force: each probe only long enough to tell
 * a cell that connects (a few hundred milliseconds) from one that does not,
 * and the whole wait bounded. kube-router on the local cluster puts a
 * policy in force 0.5 to 2 s after it is created; past the bound the full
 * rounds simply start, as they would without the wait.
 */
const GATE_PROBE_SECONDS = 1;
const GATE_MS = 5_000;

/** Cells between two different pods that `r` allows: a policy must still let them connect. */
const allowedCrossPod = (r: Reachability) => CELLS.filter((c) => r.get(c) && podId(c.from) !== podId(c.to));

function scenario(model: SharedModel, s: Scenario): void {
  // A deny table with no allowed cell would pass on a cluster that drops all SCTP.
  if (allowedCrossPod(s.expected).length === 0 || s.expected.counts().blocked === 0)
    throw new Error(`scenario ${s.id}: the expected table needs both allowed and blocked cells between pods`);
  sctpIt(
    s.title,
    STORY,
    async (t) => {
      const { ctx } = t;
      const t0 = Date.now();
      const timings: string[] = [];
      const mark = (what: string) => timings.push(`${seconds(Date.now() - t0).padStart(7)}  ${what}`);
      const cellTimeout = cellTimeoutSeconds(ctx.agent);
      t.parameter(
        'cell probe timeout',
        `${cellTimeout} s (covers the first INIT retransmission after ${ctx.agent.initRetransmitMs} ms on a node loaded by the matrix)`,
      );
      t.parameter(
        'expected',
        `${s.expected.counts().connected} connected, ${s.expected.counts().blocked} blocked`,
      );

      const { namespaces, pods, exec } = await t.time('truth-table model', () => model.use(t, s.title, mark));
      t.evidence('pods', podTable(pods));

      const observe = (expected?: Reachability) => probeMatrix(ctx.agent, exec, pods, cellTimeout, expected);
      const timeoutMs = ctx.config.ruleTimeout * 1000;

      // Positive control: with no policy every pod reaches every pod on both
      // ports over SCTP. Without it, a blocked cell would prove nothing.
      const all = Reachability.allowAll();
      const before = await t.time('probing with no policy', () =>
        observeUntil(t, 'every SCTP cell to connect with no policy', all, timeoutMs, observe),
      );
      if (!before.settled) {
        t.evidence(
          'before the policy: observed',
          renderResults('Observed with no policy', before.last.results),
        );
        t.evidence('before the policy: raw results of failed cells', rawEvidence(before.last, all));
        mark(`baseline not connected after ${before.rounds} round(s)`);
        t.evidence('timings', timings.join('\n'));
        const failed = all.differences(before.last.reachability);
        throw new Error(
          `the cluster cannot carry SCTP pod-to-pod: ${failed.length} of ${CELLS.length} cells did not ` +
            `connect with no policy within ${ctx.config.ruleTimeout} s (each blocked in two probes), so the ` +
            `policy cannot be judged:\n${failed.map((d) => describeDiff(before.last, d)).join('\n')}`,
        );
      }
      t.evidence(
        'before the policy: observed (positive control)',
        renderReachability('Observed with no policy', before.last.reachability),
      );
      mark(
        `baseline: all ${CELLS.length} SCTP cells connected (${before.rounds} round(s), last ${roundTimes(before.last)})`,
      );

      // The model outlives the scenario; its policies must not.
      await Promise.all(
        s.policies.map(async (p) => {
          const namespace = namespaces[p.in];
          const name = p.body.metadata!.name!;
          await ctx.kube.networking.createNamespacedNetworkPolicy({ namespace, body: p.body });
          t.cleanup.push(`NetworkPolicy ${namespace}/${name}`, async () => {
            await ctx.kube.networking.deleteNamespacedNetworkPolicy({ namespace, name });
          });
        }),
      );
      t.evidence(
        'policies',
        s.policies.map((p) => `# in ${p.in} (${namespaces[p.in]})\n${policyYaml(p.body)}`).join('---\n'),
      );
      mark(`policy created: ${s.policies.map((p) => `${p.in}/${p.body.metadata!.name}`).join(', ')}`);
      const policyCreated = Date.now();

      // Full rounds started before the policy is in force end early and are
      // wasted; a few of its blocked cells, probed quickly, say when to start.
      const gateCells = blockedFromOneSource(s.expected);
      const gate = await t.time('waiting for the policy to be in force', () =>
        untilBlocked(ctx.agent, exec, pods, gateCells, GATE_PROBE_SECONDS, Math.min(GATE_MS, timeoutMs)),
      );
      const gateWhat = `${gateCells.length} blocked cell(s) from ${podId(gateCells[0].from)}`;
      mark(
        gate.blocked
          ? `policy seen in force on ${gateWhat} (${gate.probes} probe(s) of ${GATE_PROBE_SECONDS} s)`
          : `policy not seen in force on ${gateWhat} (${gate.probes} probe(s)); probing the whole table anyway`,
      );

      // --rule-timeout counts from the policy's creation, the wait above
      // included: the policy must be in force that long after it was made.
      // (At least one round is always probed.)
      const left = Math.max(0, timeoutMs - (Date.now() - policyCreated));
      const after = await t.time('probing until the policy is in force', () =>
        observeUntil(t, 'the observed SCTP truth table to equal the expected', s.expected, left, observe),
      );
      const diffs = s.expected.differences(after.last.reachability);
      mark(
        after.settled
          ? `observed equals expected (${after.rounds} round(s), last ${roundTimes(after.last)}); ` +
              `${allowedCrossPod(s.expected).length} allowed cells between pods still connected`
          : `gave up after ${ctx.config.ruleTimeout} s: ${diffs.length} cell(s) differ (${after.rounds} round(s), last ${roundTimes(after.last)})`,
      );

      t.evidence('expected', renderReachability('Expected', s.expected));
      t.evidence('observed', renderReachability('Observed', after.last.reachability));
      t.evidence('comparison', renderComparison(s.expected, after.last.reachability));
      t.evidence('observed by probe result', renderResults('Observed by probe result', after.last.results));
      t.evidence('raw results of blocked and differing cells', rawEvidence(after.last, s.expected));
      t.evidence('timings', timings.join('\n'));

      if (diffs.length) {
        throw new Error(
          `NetworkPolicy over SCTP: ${diffs.length} of ${CELLS.length} cells differ from expected after ` +
            `${ctx.config.ruleTimeout} s:\n${diffs.map((d) => describeDiff(after.last, d)).join('\n')}`,
        );
      }
    },
    // The tables run one after the other, so together they are the tier's
    // longest chain: each is started before the path tests that are waiting.
    { group: TRUTH_TABLE_MODEL, long: true },
  );
}

describe('[sig-network] SCTP [Feature:SCTPConnectivity] [Disruptive] NetworkPolicy over SCTP (truth table)', () => {
  const model = new SharedModel();
  // Not waited for: the run's final sweep checks every namespace of the run is gone.
  after(() => model.remove());
  scenario(model, {
    id: 'ingress-deny',
    title: 'should enforce a default-deny ingress policy in namespace x for SCTP',
    policies: [{ in: 'x', body: networkPolicy('default-deny-ingress', { ingress: [] }) }],
    expected: Reachability.allowAll().denyTo({ ns: 'x' }).allowLoopback(),
  });

  scenario(model, {
    id: 'ingress-port',
    title: 'should allow ingress in namespace x only on SCTP port 80 (81 blocked)',
    policies: [
      {
        in: 'x',
        body: networkPolicy('allow-ingress-sctp-80', {
          ingress: [{ ports: [{ port: 80, protocol: 'SCTP' }] }],
        }),
      },
    ],
    expected: Reachability.allowAll().denyTo({ ns: 'x' }, [81]).allowLoopback(),
  });

  scenario(model, {
    id: 'ingress-peer',
    title:
      'should allow ingress to x/a only from pods pod=b in namespaces ns=y (pod and namespace selector in one peer)',
    policies: [
      {
        in: 'x',
        body: networkPolicy('allow-a-from-y-b', {
          podSelector: podLabels('a'),
          ingress: [{ from: [{ podLabels: podLabels('b'), namespaceLabels: namespaceLabels('y') }] }],
        }),
      },
    ],
    expected: Reachability.allowAll()
      .denyTo({ ns: 'x', pod: 'a' })
      .allowFrom({ ns: 'y', pod: 'b' }, { ns: 'x', pod: 'a' })
      .allowLoopback(),
  });

  scenario(model, {
    id: 'egress-deny',
    title: 'should deny all egress from x/a over SCTP',
    policies: [
      { in: 'x', body: networkPolicy('deny-egress-a', { podSelector: podLabels('a'), egress: [] }) },
    ],
    expected: Reachability.allowAll().denyFrom({ ns: 'x', pod: 'a' }).allowLoopback(),
  });

  scenario(model, {
    id: 'egress-allow',
    title: 'should allow egress from x/a only to namespace z on SCTP port 81',
    policies: [
      {
        in: 'x',
        body: networkPolicy('allow-egress-a-to-z-81', {
          podSelector: podLabels('a'),
          egress: [
            { to: [{ namespaceLabels: namespaceLabels('z') }], ports: [{ port: 81, protocol: 'SCTP' }] },
          ],
        }),
      },
    ],
    expected: Reachability.allowAll()
      .denyFrom({ ns: 'x', pod: 'a' })
      .allowFrom({ ns: 'x', pod: 'a' }, { ns: 'z' }, [81])
      .allowLoopback(),
  });
});
