/**
 * A run record as `sctp-e2e run` writes it, constructed for the report tests:
 * one test of each kind a summary must show (passed, failed with evidence,
 * skipped with its reason, known failure, known failure now passing, a
 * NetworkPolicy truth table that differs from expected), tests the selection
 * left out, and the local cluster's preflight facts.
 */
import { Reachability, renderComparison, renderReachability } from '../../helpers/netpol/model.ts';
import type { GuardResult } from '../../helpers/framework/outcome.ts';
import { countVerdicts, type RunRecord, type TestRecord } from '../../helpers/report/run-record.ts';
import { STORY, type Story } from '../../helpers/framework/story.ts';

const BASIC = '[sig-network] SCTP [Feature:SCTP]';
const CONN = '[sig-network] SCTP [Feature:SCTPConnectivity] [Disruptive]';

/** What the guard says on this machine's kernel: nothing to judge. */
export const GUARD_NOT_JUDGED: GuardResult = {
  nodes: [
    {
      node: 'sctp-e2e-node1',
      before: 'unavailable',
      after: 'unavailable',
      judgement: 'not judged',
      why: 'no loadable sctp module: kernel without module support',
    },
  ],
};

function test(
  describe: string,
  title: string,
  story: Story,
  verdict: TestRecord['verdict'],
  extra: Partial<TestRecord> = {},
): TestRecord {
  const fullTitle = `${describe} ${title}`;
  return {
    fullTitle,
    title,
    tier: fullTitle.includes('SCTPConnectivity') ? '[Feature:SCTPConnectivity]' : '[Feature:SCTP]',
    story,
    verdict,
    durationMs: 2345,
    evidence: [],
    guard: GUARD_NOT_JUDGED,
    ...extra,
  };
}

// x/a may reach x/b only on 80; the "plugin" let 81 through as well.
const expected = Reachability.allowAll().denyTo({ ns: 'x', pod: 'b' }, [81]).allowLoopback();
const observed = Reachability.allowAll();

export const POLICY_FAILURE =
  "a policy allowing only SCTP/80 let TCP and UDP through on port 80: expected [ 'TCP', 'UDP' ] to deeply equal []";

export function fixtureRun(): RunRecord {
  const tests: TestRecord[] = [
    test(
      `${BASIC} declaring SCTP`,
      'Pods can declare SCTP containerPorts and hostPorts',
      STORY.declare,
      'passed',
    ),
    test(
      `${BASIC} NetworkPolicy`,
      'A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic',
      STORY.policyNotTcpUdp,
      'failed',
      {
        reason: POLICY_FAILURE,
        failure: POLICY_FAILURE,
        evidence: [
          {
            name: 'before the policy',
            text: 'TCP 198.19.0.44:80 → connected\nUDP 198.19.0.44:80 → connected',
          },
          {
            name: 'after the policy',
            text: 'TCP 198.19.0.44:80 → connected\nUDP 198.19.0.44:80 → connected',
          },
          {
            name: 'events in sctp-e2e-x-policy',
            text: '11:40:01 Normal Scheduled Pod/server: Successfully assigned',
          },
          { name: 'weird ``` fence', text: 'a line with ``` inside' },
        ],
      },
    ),
    test(
      `${BASIC} declaring SCTP`,
      'Services can declare SCTP ServicePorts of type LoadBalancer (accepted, or refused by the provider)',
      STORY.loadBalancer,
      'skipped',
      { reason: 'the cluster has no LoadBalancer provider' },
    ),
    test(
      `${CONN} paths`,
      "a Service's endpoint replaced under a client reusing its source port",
      STORY.staleConntrack,
      'known',
      {
        reason: 'kube-proxy clears stale conntrack entries only for UDP Services',
        failure: 'the first association from the reused source port did not complete: timeout',
        known: {
          test: 'reusing its source port',
          message: '^the first association from the reused source port did not complete',
          reason: 'kube-proxy clears stale conntrack entries only for UDP Services',
          reference: 'kubernetes/kubernetes#115299',
        },
        evidence: [{ name: 'conntrack entries for source port 40123', text: 'sctp 132 ... dport=7777' }],
      },
    ),
    test(`${CONN} paths`, 'pod to pod over SCTP by pod IP on the same node', STORY.podPodService, 'passed', {
      knownNowPasses: true,
      known: {
        test: 'pod IP on the same node',
        message: 'timeout',
        reason: 'flaky on kind',
        reference: 'example#1',
      },
    }),
    test(
      `${CONN} NetworkPolicy over SCTP (truth table)`,
      'should allow ingress to x/b only on SCTP port 80',
      STORY.policyAllowDeny,
      'failed',
      {
        reason: 'NetworkPolicy over SCTP: 8 of 162 cells differ from expected after 30 s:',
        failure:
          'NetworkPolicy over SCTP: 8 of 162 cells differ from expected after 30 s:\nx/a → x/b :81 expected blocked, observed connected',
        evidence: [
          { name: 'expected', text: renderReachability('Expected', expected) },
          { name: 'observed', text: renderReachability('Observed', observed) },
          { name: 'comparison', text: renderComparison(expected, observed) },
        ],
      },
    ),
  ];
  return {
    runId: '2611221200-abcd',
    startedAt: '2026-11-22T12:00:00.000Z',
    finishedAt: '2026-11-22T12:02:05.000Z',
    exitCode: 1,
    selection: { focus: 'SCTP', disruptive: true, known: 'fixtures/known/local-cluster.yaml' },
    cluster: {
      server: 'https://198.18.0.2:6443',
      serverVersion: 'v1.34.4',
      nodeAccess: 'ssh',
      agent: { kind: 'usrsctp', image: 'localhost/sctp-e2e/agent:0.4.0' },
      nodes: [
        {
          name: 'sctp-e2e-node1',
          kernel: '6.18.44',
          sctpModule: 'unavailable',
          blacklisted: false,
          loadAtBoot: false,
          proxyMode: 'iptables',
          cni: 'bridge host-local portmap',
        },
      ],
      openshift: '',
    },
    counts: countVerdicts(tests),
    tests,
    unselected: [
      {
        fullTitle: `${BASIC} declaring SCTP Services without selector accept a hand-made SCTP EndpointSlice`,
        tier: '[Feature:SCTP]',
        story: STORY.noSelector,
      },
    ],
  };
}
