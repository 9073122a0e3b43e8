/**
 * The KEP-614 test plan, user stories and GA criteria as one table, each item
 * mapped to the `story` labels our tests carry (sctpIt's second argument), so
 * the summary can say for every item: passed, failed, skipped (why), known
 * failure, not selected or not covered. A story no item names is a test the
 * matrix would not show: test/unit/report-coverage.test.ts keeps the two in step.
 */
import type { RunRecord, TestRecord, Tier, UnselectedTest, Verdict } from './run-record.ts';

/** The stories of suites/** (the labels tests are declared with). */
export const STORY = {
  declare: 'Pods, Services, and NetworkPolicies can declare SCTP ports',
  hostPortRule: 'Pods can declare SCTP HostPorts (rule on the node)',
  proxier: 'Services can declare SCTP ServicePorts when using the iptables proxier',
  policyNotTcpUdp: 'A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic',
  podPodService: 'pod→pod, pod→Service IP',
  loadBalancer: 'pod→LoadBalancer (skip where unsupported)',
  policyAllowDeny: 'NetworkPolicy allow/deny for SCTP ports',
  headless: 'KEP user story: headless SCTP Service',
  noSelector: 'KEP user story: Service without selector',
  nodePort: 'KEP user story: NodePort',
  nodePortOutside: 'KEP user story: NodePort reachable from outside',
  externalIPs: 'KEP user story: externalIPs',
  externalIPsOutside: 'KEP user story: externalIPs reachable from outside',
  hostPortOutside: 'KEP user story: hostPort reachable from outside',
  dnsSrv: 'KEP user story: DNS SRV records with _sctp',
  nodeToPod: 'node→pod and node→Service (upstream skips them)',
  staleConntrack: 'Stale SCTP conntrack after an endpoint goes away (kubernetes#115299)',
  multiStream: 'Multi-stream and large messages',
} as const;

/** A test as the matrix sees it, run or not. */
export type TestRef = Pick<TestRecord, 'fullTitle' | 'tier' | 'story'>;

export interface KepItem {
  section: string;
  item: string;
  /** The stories whose tests cover the item. */
  stories?: readonly string[];
  /** Coverage that is not one story: decided on each test and the run. */
  covers?: (t: TestRef, run: Pick<RunRecord, 'cluster'>) => boolean;
  /**
   * The item's verdict on one test, where it is not the test's own: the
   * module guard holds in a test that failed for another reason.
   */
  verdictOf?: (t: TestRecord) => Verdict;
  /** How the item is covered, or why this run does not cover it. */
  note?: string | ((run: Pick<RunRecord, 'cluster'>) => string);
}

const BASIC: Tier = '[Feature:SCTP]';
const CONNECTIVITY: Tier = '[Feature:SCTPConnectivity]';
const proxyModes = (run: Pick<RunRecord, 'cluster'>) => new Set(run.cluster?.nodes.map((n) => n.proxyMode));
const proxierNote = (mode: string) => (run: Pick<RunRecord, 'cluster'>) =>
  `needs a cluster whose kube-proxy runs in ${mode} mode (this one: ${[...proxyModes(run)].join(', ') || 'not recorded'})`;

export const KEP614: readonly KepItem[] = [
  { section: 'Test plan [Feature:SCTP]', item: STORY.declare, stories: [STORY.declare] },
  { section: 'Test plan [Feature:SCTP]', item: STORY.hostPortRule, stories: [STORY.hostPortRule] },
  {
    section: 'Test plan [Feature:SCTP]',
    item: `${STORY.proxier} (rules on the node)`,
    stories: [STORY.proxier],
  },
  { section: 'Test plan [Feature:SCTP]', item: STORY.policyNotTcpUdp, stories: [STORY.policyNotTcpUdp] },
  {
    section: 'Test plan [Feature:SCTP]',
    item: 'sctp.ko is not loaded by a test that found it unloaded',
    covers: (t, run) => t.tier === BASIC && run.cluster?.nodeAccess !== 'none',
    // sctp-test.ts fails a test with this message when the guard sees the module loaded.
    verdictOf: (t) => (t.message?.startsWith('sctp.ko was loaded during this test') ? 'failed' : 'passed'),
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
    stories: [STORY.loadBalancer],
  },
  {
    section: 'Test plan [Feature:SCTPConnectivity]',
    item: STORY.policyAllowDeny,
    stories: [STORY.policyAllowDeny],
  },
  { section: 'User stories', item: 'headless SCTP Service', stories: [STORY.headless, STORY.dnsSrv] },
  { section: 'User stories', item: 'Service without selector', stories: [STORY.noSelector] },
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
    stories: [STORY.externalIPsOutside, STORY.externalIPs],
  },
  { section: 'User stories', item: 'DNS SRV records with _sctp', stories: [STORY.dnsSrv] },
  {
    section: 'User stories',
    item: 'userspace SCTP stacks on nodes where the module must stay unloaded',
    covers: (t, run) => t.tier === CONNECTIVITY && run.cluster?.agent.kind === 'usrsctp',
    note: 'the connectivity tier run with the usrsctp agent, module guard on',
  },
  {
    section: 'GA criteria',
    item: 'the iptables proxier works',
    covers: (t, run) => t.story === STORY.proxier && proxyModes(run).has('iptables'),
    note: proxierNote('iptables'),
  },
  {
    section: 'GA criteria',
    item: 'the ipvs proxier works',
    covers: (t, run) => t.story === STORY.proxier && proxyModes(run).has('ipvs'),
    note: proxierNote('ipvs'),
  },
  {
    section: 'GA criteria',
    item: 'two out-of-tree network plugins pass [Feature:SCTPConnectivity]',
    note: 'one run judges one plugin: run the connectivity tier on a cluster with each',
  },
  { section: 'Beyond the KEP', item: STORY.nodeToPod, stories: [STORY.nodeToPod] },
  { section: 'Beyond the KEP', item: STORY.staleConntrack, stories: [STORY.staleConntrack] },
  { section: 'Beyond the KEP', item: STORY.multiStream, stories: [STORY.multiStream] },
];

export function itemCovers(item: KepItem, t: TestRef, run: Pick<RunRecord, 'cluster'>): boolean {
  return Boolean(item.stories?.includes(t.story ?? '') || item.covers?.(t, run));
}

export type CoverageStatus = Verdict | 'not selected' | 'not covered';

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
  for (const v of ['failed', 'known', 'passed'] as const) if (tests.some((t) => t.verdict === v)) return v;
  return 'skipped';
}

export function coverage(run: Pick<RunRecord, 'cluster' | 'tests' | 'unselected'>): CoverageRow[] {
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
      const note = typeof item.note === 'function' ? item.note(run) : item.note;
      return { item, status: 'not covered', detail: note ?? 'no test covers it', tests, unselected };
    }
    const judged = item.verdictOf ? tests.map((t) => ({ ...t, verdict: item.verdictOf!(t) })) : tests;
    const status = statusOf(judged);
    const count = (v: Verdict) => judged.filter((t) => t.verdict === v);
    const parts: string[] = [];
    if (status === 'failed')
      parts.push(
        `failed: ${count('failed')
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
    return { item, status, detail: parts.join('; ') + notRun, tests, unselected };
  });
}
