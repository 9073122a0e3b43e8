/**
 * [Feature:SCTP] the node programs SCTP: a DNAT rule for an SCTP hostPort,
 * and kube-proxy rules for SCTP ClusterIP, NodePort and externalIP Services,
 * read from the node's dataplane (iptables, nftables or ipvs). Upstream
 * removed these assertions; without them a proxier that drops SCTP passes.
 * The hostPort's pod declares its port but opens no socket; the Services'
 * endpoints are written by hand (see backendService).
 */
import type * as k8s from '@kubernetes/client-node';
import { nodeAddress } from '../../helpers/access/node-access.ts';
import { expectNodeRule, proxyModeOf } from '../../helpers/dataplane/node-rules.ts';
import { nodeNames } from '../../helpers/framework/run-context.ts';
import { sctpIt, STORY, type TestEnv } from '../../helpers/framework/sctp-test.ts';
import { createService, startPods } from '../../helpers/probing/workloads.ts';
import { containerPorts, endpointSlice, pod, service } from '../../fixtures/objects.ts';
import type { Protocol } from '../../helpers/probing/agent.ts';

/**
 * A Service `backend` on `port` → 8080 with no selector, and by hand the
 * EndpointSlice the EndpointSlice controller would make for a backend pod:
 * one ready endpoint, at a documentation address that no pod holds
 * (`address`: 192.0.2.0/24, or 2001:db8:: when the Service is IPv6).
 * kube-proxy programs a Service from its EndpointSlices alone, whoever wrote
 * them, so the node gets the rules a backend pod would give it. These tests
 * open no socket, so nothing has to answer at the endpoint, and a pod costs
 * this project's 2-core cluster about 3 CPU-seconds to start and delete.
 * (The EndpointSlice controller's own part is judged in declare.test.ts.)
 * Returns the Service and the endpoint its rules must lead to.
 */
async function backendService(
  t: TestEnv,
  purpose: string,
  address: number,
  options: Parameters<typeof service>[2] = {},
  protocols: Protocol[] = ['SCTP'],
  port = 5060,
): Promise<{ svc: k8s.V1Service; endpoint: string }> {
  const ns = await t.namespace(purpose);
  const svc = await createService(
    t,
    ns,
    service(
      'backend',
      protocols.map((protocol) => ({ port, targetPort: 8080, protocol })),
      { ...options, selector: null },
    ),
  );
  const ip = svc.spec!.clusterIP!.includes(':') ? `2001:db8::${address}` : `192.0.2.${address}`;
  const body = endpointSlice(
    'backend',
    [ip],
    svc.spec!.ports!.map((sp) => ({ name: sp.name!, port: 8080, protocol: sp.protocol as Protocol })),
  );
  await t.ctx.kube.discovery.createNamespacedEndpointSlice({ namespace: ns, body });
  t.evidence('EndpointSlice (made by the test; the Service has no selector)', JSON.stringify(body));
  return { svc, endpoint: `${ip}:8080` };
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
      const { svc, endpoint } = await backendService(t, 'rules-clusterip', 11);
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
      const { svc, endpoint } = await backendService(t, 'rules-nodeport', 12, { type: 'NodePort' });
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
      const { endpoint } = await backendService(t, 'rules-externalip', 13, {
        externalIPs: [externalIP],
      });
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
      const { svc, endpoint } = await backendService(t, 'rules-sameport', 14, {}, protocols, 5070);
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
