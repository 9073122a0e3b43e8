/**
 * The KEP-614 coverage matrix: every story our suites use is an item of the
 * table (so no test is missing from the matrix), and an item's verdict is the
 * worst of its tests' with the reasons a reader needs.
 */
import { expect } from 'chai';
import type { GuardResult, NodeGuard } from '../../helpers/framework/outcome.ts';
import type { ProxyMode } from '../../helpers/dataplane/index.ts';
import { coverage, KEP614, STORY } from '../../helpers/report/kep614.ts';
import {
  countVerdicts,
  type RunRecord,
  type TestRecord,
  type UnselectedTest,
} from '../../helpers/report/run-record.ts';
import { loadSuites } from '../../helpers/framework/runner.ts';

function run(
  tests: Array<Partial<TestRecord> & Pick<TestRecord, 'story' | 'verdict'>>,
  unselected: UnselectedTest[] = [],
): RunRecord {
  const records = tests.map((t, i): TestRecord => ({
    fullTitle: `[sig-network] SCTP [Feature:SCTP] test ${i}`,
    title: `test ${i}`,
    tier: '[Feature:SCTP]',
    durationMs: 1,
    evidence: [],
    ...t,
  }));
  return {
    runId: 'r',
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:01.000Z',
    exitCode: 0,
    selection: { disruptive: false },
    counts: countVerdicts(records),
    tests: records,
    unselected,
  };
}

const rowOf = (r: RunRecord, item: string) => coverage(r).find((row) => row.item.item === item)!;

describe('KEP-614 coverage matrix', () => {
  it('has an item for every story the suites declare their tests with', async () => {
    // The only in-process load of suites/ in the unit tests (see loadSuites).
    const { mocha } = await loadSuites({ disruptive: true });
    const stories = new Set<string>();
    const walk = (s: typeof mocha.suite) => {
      for (const t of s.tests)
        stories.add((t as typeof t & { story?: string }).story ?? `(no story) ${t.fullTitle()}`);
      s.suites.forEach(walk);
    };
    walk(mocha.suite);
    expect(stories.size).to.be.greaterThan(10);
    const mapped = new Set(KEP614.flatMap((i) => [...(i.stories ?? []), ...(i.declaredBy ?? [])]));
    expect(
      [...stories].filter((s) => !mapped.has(s)),
      'stories no KEP-614 item names',
    ).to.deep.equal([]);
    expect(
      Object.values(STORY).filter((s) => !stories.has(s)),
      'stories of the table no test uses',
    ).to.deep.equal([]);
  });

  it('fails an item when one of its tests fails, naming it', () => {
    const r = run([
      { story: STORY.declare, verdict: 'passed' },
      { story: STORY.declare, verdict: 'failed', title: 'NetworkPolicies can declare SCTP ports' },
      { story: STORY.declare, verdict: 'known' },
    ]);
    const row = rowOf(r, STORY.declare);
    expect(row.status).to.equal('failed');
    expect(row.detail).to.equal(
      'failed: NetworkPolicies can declare SCTP ports; known failure: test 2; 1 of 3 tests passed',
    );
  });

  it('says skipped, with each distinct reason, only when every test of the item skipped', () => {
    const r = run([
      { story: STORY.loadBalancer, verdict: 'skipped', reason: 'no LoadBalancer provider' },
      { story: STORY.loadBalancer, verdict: 'skipped', reason: 'no LoadBalancer provider' },
    ]);
    expect(rowOf(r, STORY.loadBalancer)).to.include({
      status: 'skipped',
      detail: '0 of 2 tests passed; skipped: no LoadBalancer provider',
    });
    const mixed = run([
      { story: STORY.podPodService, verdict: 'passed' },
      { story: STORY.podPodService, verdict: 'skipped', reason: 'one schedulable node' },
    ]);
    // Part of the item was not exercised: never a plain "passed".
    expect(rowOf(mixed, STORY.podPodService)).to.include({
      status: 'passed in part',
      detail: '1 of 2 tests passed; skipped: one schedulable node',
    });
  });

  it('tells a known failure from a pass and a failure', () => {
    const r = run([{ story: STORY.staleConntrack, verdict: 'known', title: 'stale' }]);
    expect(rowOf(r, STORY.staleConntrack)).to.include({
      status: 'known',
      detail: 'known failure: stale; 0 of 1 test passed',
    });
  });

  it('says "not selected" when the suite has tests for an item the run left out, "not covered" when it has none', () => {
    const r = run(
      [{ story: STORY.declare, verdict: 'passed' }],
      [
        { fullTitle: 'x', tier: '[Feature:SCTP]', story: STORY.noSelector },
        { fullTitle: 'y', tier: '[Feature:SCTP]', story: STORY.declare },
      ],
    );
    expect(rowOf(r, 'Service without selector')).to.include({
      status: 'not selected',
      detail: '1 test not selected',
    });
    expect(rowOf(r, STORY.declare)).to.include({
      status: 'passed',
      detail: '1 of 1 test passed; 1 test not selected',
    });
    expect(rowOf(r, 'two out-of-tree network plugins pass [Feature:SCTPConnectivity]').status).to.equal(
      'not covered',
    );
  });

  const guard = (judgement: NodeGuard['judgement'], why: string, after = 'not-loaded'): GuardResult => ({
    nodes: [{ node: 'node1', before: 'not-loaded', after, judgement, why }],
  });

  it('judges the module guard on the guard alone: failed when broken, passed only when a loadable module stayed out', () => {
    const item = 'sctp.ko is not loaded by a test that found it unloaded';
    const held = guard('held', 'a loadable sctp.ko stayed unloaded');
    const r = run([
      { story: STORY.declare, verdict: 'failed', failure: 'the Service has no SCTP port', guard: held },
      { story: STORY.hostPortRule, verdict: 'passed', guard: held },
    ]);
    expect(rowOf(r, item)).to.include({ status: 'passed', detail: 'held in 2 of 2 tests' });
    const broken = run([
      { story: STORY.declare, verdict: 'passed', guard: held },
      {
        story: STORY.hostPortRule,
        verdict: 'failed',
        title: 'hostPort rule',
        guard: guard('broken', 'sctp.ko went from not-loaded to loaded', 'loaded'),
      },
    ]);
    expect(rowOf(broken, item)).to.include({
      status: 'failed',
      detail: 'hostPort rule: node1: sctp.ko went from not-loaded to loaded',
    });
  });

  it('says "not judged", with the reason, when no node had a loadable, unloaded module (this machine)', () => {
    const item = 'sctp.ko is not loaded by a test that found it unloaded';
    const none = guard('not judged', 'no loadable sctp module: kernel without module support');
    const r = run([
      { story: STORY.declare, verdict: 'passed', guard: none },
      { story: STORY.proxier, verdict: 'passed', guard: none },
    ]);
    expect(rowOf(r, item)).to.include({
      status: 'not judged',
      detail:
        'no node has a loadable sctp module: kernel without module support (2 tests read every node before and after)',
    });
    const noAccess = run([
      {
        story: STORY.declare,
        verdict: 'passed',
        guard: guard('not judged', 'no node access: --node-access none'),
      },
    ]);
    expect(rowOf(noAccess, item).status).to.equal('not judged');
    expect(rowOf(noAccess, item).detail).to.include('no node access');
    // A load between tests fails the item even though every test's own guard held.
    const between = run([{ story: STORY.declare, verdict: 'passed', guard: guard('held', 'ok') }]);
    between.guard = {
      start: [],
      end: [],
      findings: ['node1: sctp.ko went from not-loaded to loaded between …'],
      reads: { count: 2, nodes: 1, medianMs: 40, maxMs: 50 },
    };
    expect(rowOf(between, item).status).to.equal('failed');
  });

  it('counts for "userspace SCTP stacks" only the guard of the connectivity tests, not their verdicts', () => {
    const conn = { tier: '[Feature:SCTPConnectivity]' as const, fullTitle: '[Feature:SCTPConnectivity] t' };
    const r = run([
      { ...conn, story: STORY.staleConntrack, verdict: 'failed', guard: guard('held', 'ok') },
      { ...conn, story: STORY.podPodService, verdict: 'passed', guard: guard('held', 'ok') },
    ]);
    expect(rowOf(r, 'userspace SCTP stacks on nodes where the module must stay unloaded').status).to.equal(
      'passed',
    );
    expect(rowOf(r, STORY.staleConntrack).status).to.equal('failed');
  });

  it('says "declared only" for the LoadBalancer item until SCTP went through a LoadBalancer IP', () => {
    const r = run([{ story: STORY.loadBalancer, verdict: 'passed' }]);
    expect(rowOf(r, STORY.loadBalancer).status).to.equal('declared only');
    expect(rowOf(r, STORY.loadBalancer).detail).to.match(
      /^only declared \(the API accepts it\); its SCTP traffic was not tested in this run/,
    );
    const skipped = run([
      { story: STORY.loadBalancer, verdict: 'passed' },
      { story: STORY.loadBalancerTraffic, verdict: 'skipped', reason: 'no LoadBalancer IP' },
    ]);
    expect(rowOf(skipped, STORY.loadBalancer).status).to.equal('declared only');
    const judged = run([
      { story: STORY.loadBalancer, verdict: 'passed' },
      { story: STORY.loadBalancerTraffic, verdict: 'passed' },
    ]);
    expect(rowOf(judged, STORY.loadBalancer).status).to.equal('passed');
  });

  it('says "declared only" when only the declaration test of an item passed, "passed" once its traffic test did', () => {
    const item = 'externalIPs reachable from outside the cluster';
    const declared = run([{ story: STORY.externalIPs, verdict: 'passed' }]);
    expect(rowOf(declared, item).status).to.equal('declared only');
    expect(rowOf(declared, item).detail).to.match(/its SCTP traffic was not tested in this run/);
    const both = run([
      { story: STORY.externalIPs, verdict: 'passed' },
      { story: STORY.externalIPsOutside, verdict: 'passed' },
    ]);
    expect(rowOf(both, item).status).to.equal('passed');
  });

  /** The run's cluster: one node whose kube-proxy runs `mode`. */
  const onProxyMode = (r: ReturnType<typeof run>, mode: ProxyMode) => {
    r.cluster = {
      server: 's',
      serverVersion: 'v',
      nodeAccess: 'ssh',
      agent: { kind: 'agnhost', image: 'i' },
      nodes: [{ name: 'n', proxyMode: mode }],
      openshift: '',
    };
  };

  it('the proxier criteria follow the cluster’s kube-proxy mode', () => {
    const r = run([{ story: STORY.declare, verdict: 'passed' }]);
    onProxyMode(r, 'ipvs');
    expect(rowOf(r, 'the ipvs proxier works').status).to.equal('not covered'); // no proxier test ran
    expect(rowOf(r, 'the iptables proxier works').detail).to.equal(
      'needs a cluster whose kube-proxy runs in iptables mode (this one: ipvs)',
    );
  });

  it('proxier tests on an nftables cluster judge the nftables item, not the KEP’s iptables ones', () => {
    const r = run([{ story: STORY.proxier, verdict: 'passed' }]);
    onProxyMode(r, 'nftables');
    expect(rowOf(r, 'the nftables proxier works').status).to.equal('passed');
    expect(rowOf(r, 'the iptables proxier works').status).to.equal('not covered');
    expect(rowOf(r, `${STORY.proxier} (rules on the node)`)).to.include({
      status: 'not covered',
      detail: 'needs a cluster whose kube-proxy runs in iptables mode (this one: nftables)',
    });
  });

  it('rebuilt without run.json, an item without tests is "not judged", not "not covered"', () => {
    const r = run([{ story: STORY.declare, verdict: 'passed' }]);
    r.rebuiltFrom = 'x';
    expect(rowOf(r, 'DNS SRV records with _sctp')).to.include({ status: 'not judged' });
    expect(rowOf(r, 'DNS SRV records with _sctp').detail).to.match(/selection is not known/);
  });
});
