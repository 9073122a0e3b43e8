/**
 * The KEP-614 test plan, user stories and GA criteria as one table, each item
 * mapped to the stories our tests carry (sctpIt's second argument, constants
 * of helpers/framework/story.ts), so the summary can say for every item: passed,
 * failed, error, skipped (why), known failure, declared only (the object
 * was declared, its traffic not tested), not judged (why), not selected or
 * not covered. An item counts only the tests that exercise it. A story no
 * item names is a test the matrix would not show:
 * test/unit/report-coverage.test.ts keeps the two in step.
 */
import type { ProxyMode } from '../dataplane/index.ts';
import type { GuardResult } from '../framework/outcome.ts';
import { STORY, TIER } from '../framework/story.ts';
import type { RunRecord, TestRecord, UnselectedTest, Verdict } from './run-record.ts';

export { STORY } from '../framework/story.ts';

/** A test as the matrix sees it, run or not. */
export type TestRef = Pick<TestRecord, 'fullTitle' | 'tier' | 'story'> & { guard?: GuardResult };

export interface KepItem {
  section: string;
  item: string;
  /** The stories whose tests cover the item. */
  stories?: readonly string[];
  /** Coverage that is not one story: decided on each test and the run. */
  covers?: (t: TestRef, run: Pick<RunRecord, 'cluster'>) => boolean;
  /**
   * The item is judged by the module guard of its tests, not by their
   * verdicts: it holds in a test that failed for another reason.
   */
  byGuard?: boolean;
  /**
   * Stories whose tests only declare the object (the API accepts it, no
   * traffic flows). They count for the item, but while no test of `stories`
   * passed, a pass reads "declared only": the traffic was not judged.
   */
  declaredBy?: readonly string[];
  /**
   * The item names one kube-proxy mode: its tests count only on a cluster
   * whose nodes run it (a rule read from another proxier says nothing of it).
   */
  proxyMode?: ProxyMode;
  /** How the item is covered, or why this run does not cover it. */
  note?: string | ((run: Pick<RunRecord, 'cluster'>) => string);
}

const BASIC = TIER.basic;
const CONNECTIVITY = TIER.connectivity;
const proxyModes = (run: Pick<RunRecord, 'cluster'>) => new Set(run.cluster?.nodes.map((n) => n.proxyMode));
const proxierNote = (mode: ProxyMode) => (run: Pick<RunRecord, 'cluster'>) =>
  `needs a cluster whose kube-proxy runs in ${mode} mode (this one: ${[...proxyModes(run)].join(', ') || 'not recorded'})`;

export const KEP614: readonly KepItem[] = [
  { section: 'Test plan [Feature:SCTP]', item: STORY.declare, stories: [STORY.declare] },
  { section: 'Test plan [Feature:SCTP]', item: STORY.hostPortRule, stories: [STORY.hostPortRule] },
  {
    // The KEP names the iptables proxier: rules read from another proxier
    // judge that proxier's item instead (GA criteria, beyond the KEP).
    section: 'Test plan [Feature:SCTP]',
    item: `${STORY.proxier} (rules on the node)`,
    stories: [STORY.proxier],
    proxyMode: 'iptables',
    note: proxierNote('iptables'),
  },
  { section: 'Test plan [Feature:SCTP]', item: STORY.policyNotTcpUdp, stories: [STORY.policyNotTcpUdp] },
  {
    section: 'Test plan [Feature:SCTP]',
    item: 'sctp.ko is not loaded by a test that found it unloaded',
    covers: (t) => t.tier === BASIC,
    byGuard: true,
    note: 'the module guard of every [Feature:SCTP] test (needs node access)',
  },
  {
    section: 'Test plan [Feature:SCTPConnectivity]',
    item: STORY.podPodService,
    stories: [STORY.podPodService],
  },
  {
    section: 'Test plan [Feature:SCTPConnectivity]',
    item: STORY.loadBalancer,
    // Declared by the basic tier's test, judged by the connectivity tier's.
    stories: [STORY.loadBalancerTraffic],
    declaredBy: [STORY.loadBalancer],
  },
  {
    section: 'Test plan [Feature:SCTPConnectivity]',
    item: STORY.policyAllowDeny,
    stories: [STORY.policyAllowDeny],
  },
  {
    section: 'User stories',
    item: 'headless SCTP Service',
    stories: [STORY.dnsSrv],
    declaredBy: [STORY.headless],
  },
  {
    section: 'User stories',
    item: 'Service without selector',
    declaredBy: [STORY.noSelector],
    note: 'no test sends SCTP traffic through a Service without selector yet',
  },
  {
    section: 'User stories',
    item: 'hostPort reachable from outside the cluster',
    stories: [STORY.hostPortOutside],
  },
  {
    section: 'User stories',
    item: 'NodePort reachable from outside the cluster',
    stories: [STORY.nodePortOutside, STORY.nodePort],
  },
  {
    section: 'User stories',
    item: 'externalIPs reachable from outside the cluster',
    stories: [STORY.externalIPsOutside],
    declaredBy: [STORY.externalIPs],
  },
  { section: 'User stories', item: 'DNS SRV records with _sctp', stories: [STORY.dnsSrv] },
  {
    section: 'User stories',
    item: 'userspace SCTP stacks on nodes where the module must stay unloaded',
    // Judged by the guard of the connectivity tests run with the userspace
    // agent: the module stayed out while userspace SCTP carried the traffic.
    // A connectivity test failing for another reason does not touch it.
    covers: (t, run) =>
      t.tier === CONNECTIVITY &&
      ('verdict' in t ? t.guard !== undefined : run.cluster?.agent.kind === 'usrsctp'),
    byGuard: true,
    note: 'the connectivity tier run with the usrsctp agent, module guard on',
  },
  {
    section: 'GA criteria',
    item: 'the iptables proxier works',
    stories: [STORY.proxier],
    proxyMode: 'iptables',
    note: proxierNote('iptables'),
  },
  {
    section: 'GA criteria',
    item: 'the ipvs proxier works',
    stories: [STORY.proxier],
    proxyMode: 'ipvs',
    note: proxierNote('ipvs'),
  },
  {
    section: 'GA criteria',
    item: 'two out-of-tree network plugins pass [Feature:SCTPConnectivity]',
    note: 'one run judges one plugin: run the connectivity tier on a cluster with each',
  },
  {
    // GA since Kubernetes v1.33, after the KEP: kube-proxy's nftables mode.
    section: 'Beyond the KEP',
    item: 'the nftables proxier works',
    stories: [STORY.proxier],
    proxyMode: 'nftables',
    note: proxierNote('nftables'),
  },
  { section: 'Beyond the KEP', item: STORY.nodeToPod, stories: [STORY.nodeToPod] },
  {
    section: 'Beyond the KEP',
    item: 'a LoadBalancer IP reachable from outside the cluster',
    stories: [STORY.loadBalancerOutside],
  },
  { section: 'Beyond the KEP', item: STORY.staleConntrack, stories: [STORY.staleConntrack] },
  { section: 'Beyond the KEP', item: STORY.multiStream, stories: [STORY.multiStream] },
];

export function itemCovers(item: KepItem, t: TestRef, run: Pick<RunRecord, 'cluster'>): boolean {
  if (item.proxyMode && !proxyModes(run).has(item.proxyMode)) return false;
  return Boolean(
    item.stories?.includes(t.story ?? '') ||
    item.declaredBy?.includes(t.story ?? '') ||
    item.covers?.(t, run),
  );
}

/**
 * 'passed in part': every test that ran passed, but some of the item's tests
 * were skipped, so part of what it claims was not exercised (e.g. pod→pod
 * across nodes on a one-node cluster): never a plain "passed".
 */
export type CoverageStatus =
  Verdict | 'passed in part' | 'declared only' | 'not judged' | 'not selected' | 'not covered';

export interface CoverageRow {
  item: KepItem;
  status: CoverageStatus;
  /** One line: counts and the reasons that matter (skip reasons, failing tests, why not covered). */
  detail: string;
  tests: TestRecord[];
  unselected: UnselectedTest[];
}

const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** Worst first: one failing test fails the item; all skipped is skipped, with the reasons. */
function statusOf(tests: readonly TestRecord[]): Verdict {
  for (const v of ['failed', 'error', 'known', 'passed'] as const)
    if (tests.some((t) => t.verdict === v)) return v;
  return 'skipped';
}

/**
 * A guard item: failed when a node broke (or the run saw a load between
 * tests), error when a node could not be read, passed only when some node
 * had a loadable, unloaded module that stayed unloaded; otherwise not
 * judged, with the reasons.
 */
function guardRow(
  tests: TestRecord[],
  findings: readonly string[],
): { status: CoverageStatus; detail: string } {
  const guarded = tests.filter((t): t is TestRecord & { guard: GuardResult } => t.guard !== undefined);
  const nodesOf = (j: string) =>
    guarded.flatMap((t) => t.guard.nodes.filter((n) => n.judgement === j).map((n) => ({ t, n })));
  const broken = nodesOf('broken');
  if (broken.length || findings.length)
    return {
      status: 'failed',
      detail: [...broken.map(({ t, n }) => `${t.title}: ${n.node}: ${n.why}`), ...findings].join('; '),
    };
  const unreadable = guarded.filter((t) => t.guard.nodes.some((n) => n.raw !== undefined));
  if (unreadable.length)
    return {
      status: 'error',
      detail: `the module state could not be read in ${unreadable.map((t) => t.title).join('; ')}`,
    };
  const held = guarded.filter((t) => t.guard.nodes.some((n) => n.judgement === 'held'));
  if (held.length)
    return { status: 'passed', detail: `held in ${held.length} of ${plural(guarded.length, 'test')}` };
  if (!guarded.length) {
    const skipped = [...new Set(tests.map((t) => t.reason ?? 'not given'))];
    return { status: 'not judged', detail: `no test ran its guard (skipped: ${skipped.join('; ')})` };
  }
  const whys = [...new Set(nodesOf('not judged').map(({ n }) => n.why))];
  const NONE = 'no loadable sctp module: ';
  const why = whys.every((w) => w.startsWith(NONE))
    ? `no node has a loadable sctp module: ${whys.map((w) => w.slice(NONE.length)).join('; ')}`
    : `no node had a loadable, unloaded sctp module: ${whys.join('; ')}`;
  return {
    status: 'not judged',
    detail: `${why} (${plural(guarded.length, 'test')} read every node before and after)`,
  };
}

export function coverage(
  run: Pick<RunRecord, 'cluster' | 'tests' | 'unselected' | 'guard' | 'rebuiltFrom'>,
): CoverageRow[] {
  return KEP614.map((item) => {
    const tests = run.tests.filter((t) => itemCovers(item, t, run));
    const unselected = run.unselected.filter((t) => itemCovers(item, t, run));
    const notRun = unselected.length ? `; ${plural(unselected.length, 'test')} not selected` : '';
    if (tests.length === 0) {
      if (unselected.length)
        return {
          item,
          status: 'not selected',
          detail: `${plural(unselected.length, 'test')} not selected`,
          tests,
          unselected,
        };
      if (run.rebuiltFrom)
        return {
          item,
          status: 'not judged',
          detail: 'no test of it in these allure results (without run.json the selection is not known)',
          tests,
          unselected,
        };
      const note = typeof item.note === 'function' ? item.note(run) : item.note;
      return { item, status: 'not covered', detail: note ?? 'no test covers it', tests, unselected };
    }
    if (item.byGuard) {
      const findings = item.section.includes(BASIC) ? (run.guard?.findings ?? []) : [];
      const row = guardRow(tests, findings);
      return { item, status: row.status, detail: row.detail + notRun, tests, unselected };
    }
    const verdict = statusOf(tests);
    const count = (v: Verdict) => tests.filter((t) => t.verdict === v);
    const parts: string[] = [];
    for (const v of ['failed', 'error'] as const)
      if (count(v).length)
        parts.push(
          `${v}: ${count(v)
            .map((t) => t.title)
            .join('; ')}`,
        );
    if (count('known').length)
      parts.push(
        `known failure: ${count('known')
          .map((t) => t.title)
          .join('; ')}`,
      );
    parts.push(`${count('passed').length} of ${plural(tests.length, 'test')} passed`);
    const skips = [...new Set(count('skipped').map((t) => t.reason ?? 'not given'))];
    if (skips.length) parts.push(`skipped: ${skips.join('; ')}`);
    // Passed, but only by tests that declare the object: say so, never "passed".
    const declaredOnly =
      verdict === 'passed' &&
      item.declaredBy !== undefined &&
      !count('passed').some((t) => !item.declaredBy!.includes(t.story ?? ''));
    if (declaredOnly) {
      const note = typeof item.note === 'function' ? item.note(run) : item.note;
      parts.unshift(
        `only declared (the API accepts it); ${note ?? 'its SCTP traffic was not tested in this run'}`,
      );
    }
    const inPart = verdict === 'passed' && count('skipped').length > 0;
    return {
      item,
      status: declaredOnly ? 'declared only' : inPart ? 'passed in part' : verdict,
      detail: parts.join('; ') + notRun,
      tests,
      unselected,
    };
  });
}
