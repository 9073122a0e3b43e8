/**
 * [Feature:SCTP] the node programs SCTP: a DNAT rule for an SCTP hostPort,
 * and kube-proxy rules for SCTP ClusterIP, NodePort and externalIP Services,
 * read from the node's dataplane (iptables, nftables or ipvs). Upstream
 * removed these assertions; without them a proxier that drops SCTP passes.
 * Pods here declare ports but open no socket.
 */
import { expect } from 'chai';
import { nodeAddress } from '../../helpers/node-access.ts';
import { expectNodeRule, proxyModeOf } from '../../helpers/node-rules.ts';
import { nodeNames } from '../../helpers/run-context.ts';
import { sctpIt } from '../../helpers/sctp-test.ts';
import { createService, startPods, waitForEndpoints } from '../../helpers/workloads.ts';
import { containerPorts, pod, service } from '../../fixtures/objects.ts';
import type { Protocol } from '../../helpers/agent.ts';

const STORY_PROXIER = 'Services can declare SCTP ServicePorts when using the iptables proxier';

/** A backend pod that declares SCTP port 8080 (and opens nothing). */
async function backend(
  t: Parameters<Parameters<typeof sctpIt>[2]>[0],
  ns: string,
  ports = [{ port: 8080, protocol: 'SCTP' as Protocol }],
) {
  const [p] = await startPods(t, ns, [
    pod('backend', [{ ...t.ctx.agent.client('c'), ports: containerPorts(ports) }]),
  ]);
  return p;
}

describe('[sig-network] SCTP [Feature:SCTP] node rules', () => {
  sctpIt(
    'Pods can declare SCTP HostPorts and their node has a DNAT rule for them',
    'Pods can declare SCTP HostPorts (rule on the node)',
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
    STORY_PROXIER,
    async (t) => {
      const ns = await t.namespace('rules-clusterip');
      const p = await backend(t, ns);
      const svc = await createService(
        t,
        ns,
        service('backend', [{ port: 5060, targetPort: 8080, protocol: 'SCTP' }]),
      );
      await waitForEndpoints(t, ns, 'backend', 1);
      for (const node of nodeNames(t.ctx)) {
        await expectNodeRule(
          t,
          node,
          { kind: 'service', address: svc.spec!.clusterIP!, port: 5060, protocol: 'SCTP' },
          `${p.status!.podIP}:8080`,
        );
      }
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts when using the kube-proxy proxier: NodePort rules on every node',
    STORY_PROXIER,
    async (t) => {
      const ns = await t.namespace('rules-nodeport');
      const p = await backend(t, ns);
      const svc = await createService(
        t,
        ns,
        service('backend', [{ port: 5060, targetPort: 8080, protocol: 'SCTP' }], { type: 'NodePort' }),
      );
      const nodePort = svc.spec!.ports![0].nodePort!;
      await waitForEndpoints(t, ns, 'backend', 1);
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
          `${p.status!.podIP}:8080`,
        );
      }
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts when using the kube-proxy proxier: externalIP rules on every node',
    STORY_PROXIER,
    async (t) => {
      const ns = await t.namespace('rules-externalip');
      const p = await backend(t, ns);
      const externalIP = '198.18.100.21';
      await createService(
        t,
        ns,
        service('backend', [{ port: 5060, targetPort: 8080, protocol: 'SCTP' }], {
          externalIPs: [externalIP],
        }),
      );
      await waitForEndpoints(t, ns, 'backend', 1);
      for (const node of nodeNames(t.ctx)) {
        await expectNodeRule(
          t,
          node,
          { kind: 'service', address: externalIP, port: 5060, protocol: 'SCTP' },
          `${p.status!.podIP}:8080`,
        );
      }
    },
  );

  sctpIt(
    'A Service with TCP, UDP and SCTP on the same port gets rules for each protocol',
    STORY_PROXIER,
    async (t) => {
      const ns = await t.namespace('rules-sameport');
      const protocols: Protocol[] = ['TCP', 'UDP', 'SCTP'];
      const p = await backend(
        t,
        ns,
        protocols.map((protocol) => ({ port: 8080, protocol })),
      );
      const svc = await createService(
        t,
        ns,
        service(
          'backend',
          protocols.map((protocol) => ({ port: 5070, targetPort: 8080, protocol })),
        ),
      );
      expect(svc.spec!.ports!.map((sp) => sp.protocol)).to.deep.equal(protocols);
      await waitForEndpoints(t, ns, 'backend', 1);
      const node = nodeNames(t.ctx)[0];
      const lines = new Map<Protocol, string[]>();
      for (const protocol of protocols) {
        lines.set(
          protocol,
          await expectNodeRule(
            t,
            node,
            { kind: 'service', address: svc.spec!.clusterIP!, port: 5070, protocol },
            `${p.status!.podIP}:8080`,
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
        expect(
          specific(proto).some((l) => names[proto].test(l)),
          `${proto} rules name ${proto}`,
        ).to.equal(true);
      }
      for (const other of ['TCP', 'UDP'] as const) {
        expect(
          specific('SCTP').filter((l) => specific(other).includes(l)),
          `rule lines shared by SCTP and ${other}`,
        ).to.deep.equal([]);
      }
      t.parameter('proxy mode', await proxyModeOf(t.ctx, node));
    },
  );
});
