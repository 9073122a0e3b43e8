/**
 * [Feature:SCTP] the node programs SCTP: a DNAT rule for an SCTP hostPort,
 * and kube-proxy rules for SCTP ClusterIP, NodePort and externalIP Services,
 * read from the node's dataplane (iptables, nftables or ipvs). Upstream
 * removed these assertions; without them a proxier that drops SCTP passes.
 * Pods here declare ports but open no socket.
 */
import type * as k8s from '@kubernetes/client-node';
import { nodeAddress } from '../../helpers/access/node-access.ts';
import { expectNodeRule, proxyModeOf } from '../../helpers/dataplane/node-rules.ts';
import { nodeNames } from '../../helpers/framework/run-context.ts';
import { sctpIt, STORY, type TestEnv } from '../../helpers/framework/sctp-test.ts';
import { createService, startPods, waitForEndpoints } from '../../helpers/probing/workloads.ts';
import { containerPorts, pod, service } from '../../fixtures/objects.ts';
import type { Protocol } from '../../helpers/probing/agent.ts';

/** A backend pod that declares SCTP port 8080 (and opens nothing). */
/**
 * A backend pod declaring SCTP 8080 (it opens nothing) behind a Service
 * `backend` on port 5060 → 8080, once the Service has its endpoint.
 * Returns the Service and the endpoint its rules must lead to.
 */
async function backendService(
  t: TestEnv,
  purpose: string,
  options: Parameters<typeof service>[2] = {},
  protocols: Protocol[] = ['SCTP'],
  port = 5060,
): Promise<{ svc: k8s.V1Service; endpoint: string }> {
  const ns = await t.namespace(purpose);
  const [p] = await startPods(t, ns, [
    pod('backend', [
      {
        ...t.ctx.agent.client('c'),
        ports: containerPorts(protocols.map((protocol) => ({ port: 8080, protocol }))),
      },
    ]),
  ]);
  const svc = await createService(
    t,
    ns,
    service(
      'backend',
      protocols.map((protocol) => ({ port, targetPort: 8080, protocol })),
      options,
    ),
  );
  await waitForEndpoints(t, ns, 'backend', 1);
  return { svc, endpoint: `${p.status!.podIP}:8080` };
}

describe('[sig-network] SCTP [Feature:SCTP] node rules', () => {
  sctpIt(
    'Pods can declare SCTP HostPorts and their node has a DNAT rule for them',
    STORY.hostPortRule,
    async (t) => {
      const ns = await t.namespace('rules-hostport');
      const hostPort = 30562;
      const [p] = await startPods(t, ns, [
        pod('hostport', [
          { ...t.ctx.agent.client('c'), ports: containerPorts([{ port: 5062, protocol: 'SCTP', hostPort }]) },
        ]),
      ]);
      const node = p.spec!.nodeName!;
      t.parameter('node', node);
      await expectNodeRule(
        t,
        node,
        { kind: 'hostPort', port: hostPort, protocol: 'SCTP' },
        `${p.status!.podIP}:5062`,
      );
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts when using the kube-proxy proxier: ClusterIP rules on every node',
    STORY.proxier,
    async (t) => {
      const { svc, endpoint } = await backendService(t, 'rules-clusterip');
      for (const node of nodeNames(t.ctx)) {
        await expectNodeRule(
          t,
          node,
          { kind: 'service', address: svc.spec!.clusterIP!, port: 5060, protocol: 'SCTP' },
          endpoint,
        );
      }
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts when using the kube-proxy proxier: NodePort rules on every node',
    STORY.proxier,
    async (t) => {
      const { svc, endpoint } = await backendService(t, 'rules-nodeport', { type: 'NodePort' });
      const nodePort = svc.spec!.ports![0].nodePort!;
      for (const node of t.ctx.nodes) {
        const name = node.metadata!.name!;
        await expectNodeRule(
          t,
          name,
          {
            kind: 'nodePort',
            nodeAddress: nodeAddress(node, 'InternalIP')!,
            port: nodePort,
            protocol: 'SCTP',
          },
          endpoint,
        );
      }
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts when using the kube-proxy proxier: externalIP rules on every node',
    STORY.proxier,
    async (t) => {
      const externalIP = '198.18.100.21';
      const { endpoint } = await backendService(t, 'rules-externalip', { externalIPs: [externalIP] });
      for (const node of nodeNames(t.ctx)) {
        await expectNodeRule(
          t,
          node,
          { kind: 'service', address: externalIP, port: 5060, protocol: 'SCTP' },
          endpoint,
        );
      }
    },
  );

  sctpIt(
    'A Service with TCP, UDP and SCTP on the same port gets rules for each protocol',
    STORY.proxier,
    async (t) => {
      const protocols: Protocol[] = ['TCP', 'UDP', 'SCTP'];
      const { svc, endpoint } = await backendService(t, 'rules-sameport', {}, protocols, 5070);
      const declared = svc.spec!.ports!.map((sp) => sp.protocol);
      if (declared.join() !== protocols.join())
        throw new Error(
          `the Service on port 5070 came back with protocols ${declared.join(', ')} (declared: ${protocols.join(', ')})`,
        );
      const node = nodeNames(t.ctx)[0];
      const lines = new Map<Protocol, string[]>();
      for (const protocol of protocols) {
        lines.set(
          protocol,
          await expectNodeRule(
            t,
            node,
            { kind: 'service', address: svc.spec!.clusterIP!, port: 5070, protocol },
            endpoint,
          ),
        );
      }
      // Each protocol has rules of its own: SCTP's are not TCP's reused. Jumps
      // that name no protocol (PREROUTING -> KUBE-SERVICES) are shared by design.
      // ipvsadm writes TCP and UDP as -t/-u, SCTP as --sctp-service.
      const names: Record<Protocol, RegExp> = {
        TCP: /\btcp\b|(^|\s)-t\s/i,
        UDP: /\budp\b|(^|\s)-u\s/i,
        SCTP: /\bsctp\b|--sctp-service/i,
      };
      const specific = (proto: Protocol) =>
        lines.get(proto)!.filter((l) => protocols.some((p) => names[p].test(l)));
      for (const proto of protocols) {
        if (!specific(proto).some((l) => names[proto].test(l)))
          throw new Error(
            `no ${proto} rule on ${node} names ${proto} for ${svc.spec!.clusterIP}:5070; its rule lines:\n${lines.get(proto)!.join('\n')}`,
          );
      }
      for (const other of ['TCP', 'UDP'] as const) {
        const shared = specific('SCTP').filter((l) => specific(other).includes(l));
        if (shared.length)
          throw new Error(
            `SCTP reuses ${other}'s rules on ${node} for ${svc.spec!.clusterIP}:5070 (expected rules of its own):\n${shared.join('\n')}`,
          );
      }
      t.parameter('proxy mode', await proxyModeOf(t.ctx, node));
    },
  );
});
