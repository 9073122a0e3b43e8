/**
 * [Feature:SCTP] A NetworkPolicy that allows only SCTP on a port must not let
 * TCP or UDP through on that port (kubernetes#102509: plugins that read
 * `protocol: SCTP` as TCP). Only TCP and UDP are probed, so no SCTP socket
 * is opened; both are first shown flowing, so "blocked" cannot be vacuous.
 */
import { TestError } from '../../helpers/framework/errors.ts';
import { inPod, probe, type ProbeResult, type Protocol } from '../../helpers/probing/agent.ts';
import { poll, PollTimeout } from '../../helpers/framework/poll.ts';
import { sctpIt, STORY, type TestEnv } from '../../helpers/framework/sctp-test.ts';
import { startPods } from '../../helpers/probing/workloads.ts';
import { networkPolicy, pod } from '../../fixtures/objects.ts';

const PORT = 80;

function probeAll(t: TestEnv, ns: string, host: string, protocols: Protocol[]): Promise<ProbeResult[]> {
  const { kube, agent, config } = t.ctx;
  const targets = protocols.map((protocol) => ({ protocol, host, port: PORT }));
  return probe(agent, inPod(kube, ns, 'client', 'c'), targets, config.probeTimeout);
}

const show = (results: ProbeResult[]) =>
  results.map((r) => `${r.protocol} ${r.host}:${r.port} → ${r.result}   ${r.raw}`).join('\n');

describe('[sig-network] SCTP [Feature:SCTP] NetworkPolicy', () => {
  sctpIt(
    'A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic',
    STORY.policyNotTcpUdp,
    async (t) => {
      const ns = await t.namespace('policy-sctp-only');
      const { agent } = t.ctx;
      const [server] = await startPods(t, ns, [
        pod('server', [agent.server('s', { tcp: [PORT], udp: [PORT] })]),
        pod('client', [agent.client('c')]),
      ]);
      const serverIP = server.status!.podIP!;

      // Positive control: with no policy, TCP and UDP reach the server.
      const open = await poll(
        'TCP and UDP to flow before the policy',
        { timeoutMs: t.ctx.config.ruleTimeout * 1000, intervalMs: 500 },
        async () => {
          const results = await probeAll(t, ns, serverIP, ['TCP', 'UDP']);
          if (results.every((r) => r.result === 'connected')) return results;
          throw new Error(show(results));
        },
      );
      t.evidence('before the policy', show(open));

      await t.ctx.kube.networking.createNamespacedNetworkPolicy({
        namespace: ns,
        body: networkPolicy('allow-only-sctp', {
          podSelector: { app: 'server' },
          ingress: [{ ports: [{ port: PORT, protocol: 'SCTP' }] }],
        }),
      });

      // The engine needs a moment to program the policy; wait for both to stop,
      // then check once more that neither comes back.
      // Blocked means timeout or refused: an agent error is no observation,
      // so it cannot stand for "blocked" (the test is an error instead).
      const blocked = (r: ProbeResult) => r.result === 'timeout' || r.result === 'refused';
      let last: ProbeResult[] = [];
      await poll(
        'TCP and UDP to be blocked by the SCTP-only policy',
        { timeoutMs: t.ctx.config.ruleTimeout * 1000, intervalMs: 500 },
        async () => {
          last = await probeAll(t, ns, serverIP, ['TCP', 'UDP']);
          if (last.every(blocked)) return last;
          throw new Error(show(last));
        },
      ).catch((err) => {
        if (!(err instanceof PollTimeout)) throw err;
      });
      if (last.every(blocked)) last = await probeAll(t, ns, serverIP, ['TCP', 'UDP']);
      t.evidence('after the policy', show(last));
      const errors = last.filter((r) => r.result === 'error');
      if (errors.length)
        throw new TestError(
          `the agent gave no result for ${errors.map((r) => `${r.protocol} ${r.host}:${r.port}`).join(' and ')} after the policy`,
          show(errors),
        );
      const leaked = last.filter((r) => r.result === 'connected');
      if (leaked.length)
        throw new Error(
          `a policy allowing only SCTP/${PORT} let ${leaked.map((r) => r.protocol).join(' and ')} through: ` +
            `${leaked.map((r) => `${r.protocol} to ${r.host}:${r.port} connected`).join(', ')} ` +
            `after waiting up to ${t.ctx.config.ruleTimeout} s for the policy (expected: timeout or refused)`,
        );
    },
    // Its probes wait out timeouts: before the policy is in force, and once more after.
    { long: true },
  );
});
