/**
 * [Feature:SCTP] objects declare SCTP: the API accepts Pods, Services of
 * every type, EndpointSlices and NetworkPolicies with SCTP ports and gives
 * them back unchanged. No test here opens a socket of any kind.
 */
import { expect } from 'chai';
import { loadBalancerCreateFailed } from '../../helpers/probing/lb-refusal.ts';
import { sctpIt } from '../../helpers/framework/sctp-test.ts';
import { startPods, createService, waitForEndpoints } from '../../helpers/probing/workloads.ts';
import { containerPorts, endpointSlice, networkPolicy, pod, service } from '../../fixtures/objects.ts';

const SCTP_PORT = 5060;

describe('[sig-network] SCTP [Feature:SCTP] declaring SCTP', () => {
  sctpIt(
    'Pods can declare SCTP containerPorts and hostPorts',
    'Pods, Services, and NetworkPolicies can declare SCTP ports',
    async (t) => {
      const ns = await t.namespace('decl-pod');
      const container = {
        ...t.ctx.agent.client('c'),
        ports: containerPorts([
          { port: SCTP_PORT, protocol: 'SCTP', name: 'sig' },
          { port: 5061, protocol: 'SCTP', hostPort: 30561 },
        ]),
      };
      await startPods(t, ns, [pod('declares', [container])]);
      const back = await t.ctx.kube.core.readNamespacedPod({ namespace: ns, name: 'declares' });
      const ports = back.spec!.containers[0].ports!;
      expect(ports.map((p) => [p.containerPort, p.protocol, p.hostPort ?? null])).to.deep.equal([
        [SCTP_PORT, 'SCTP', null],
        [5061, 'SCTP', 30561],
      ]);
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts of type ClusterIP and get SCTP EndpointSlices',
    'Pods, Services, and NetworkPolicies can declare SCTP ports',
    async (t) => {
      const ns = await t.namespace('decl-clusterip');
      await startPods(t, ns, [
        pod('sctp-backend', [
          { ...t.ctx.agent.client('c'), ports: containerPorts([{ port: 8080, protocol: 'SCTP' }]) },
        ]),
      ]);
      const svc = await createService(
        t,
        ns,
        service('sctp-backend', [{ name: 'sig', port: SCTP_PORT, targetPort: 8080, protocol: 'SCTP' }]),
      );
      expect(svc.spec!.clusterIP, 'a ClusterIP is allocated').to.match(/\d+\.\d+\.\d+\.\d+|:/);
      expect(svc.spec!.ports![0]).to.include({ protocol: 'SCTP', port: SCTP_PORT, targetPort: 8080 });
      const slices = await waitForEndpoints(t, ns, 'sctp-backend', 1);
      const ports = slices.flatMap((s) => s.ports ?? []);
      t.evidence('EndpointSlice ports', JSON.stringify(ports));
      expect(ports).to.deep.include({ name: 'sig', port: 8080, protocol: 'SCTP' });
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts when headless',
    'KEP user story: headless SCTP Service',
    async (t) => {
      const ns = await t.namespace('decl-headless');
      await startPods(t, ns, [
        pod('sctp-headless', [
          { ...t.ctx.agent.client('c'), ports: containerPorts([{ port: SCTP_PORT, protocol: 'SCTP' }]) },
        ]),
      ]);
      const svc = await createService(
        t,
        ns,
        service('sctp-headless', [{ name: 'sip', port: SCTP_PORT, protocol: 'SCTP' }], { headless: true }),
      );
      expect(svc.spec!.clusterIP).to.equal('None');
      expect(svc.spec!.ports![0]).to.include({ protocol: 'SCTP', port: SCTP_PORT });
      const slices = await waitForEndpoints(t, ns, 'sctp-headless', 1);
      expect(slices.flatMap((s) => s.ports ?? [])).to.deep.include({
        name: 'sip',
        port: SCTP_PORT,
        protocol: 'SCTP',
      });
    },
  );

  sctpIt(
    'Services without selector accept a hand-made SCTP EndpointSlice',
    'KEP user story: Service without selector',
    async (t) => {
      const ns = await t.namespace('decl-noselector');
      await createService(
        t,
        ns,
        service('sctp-external', [{ name: 'sig', port: SCTP_PORT, protocol: 'SCTP' }], { selector: null }),
      );
      const body = endpointSlice(
        'sctp-external',
        ['192.0.2.10'],
        [{ name: 'sig', port: SCTP_PORT, protocol: 'SCTP' }],
      );
      await t.ctx.kube.discovery.createNamespacedEndpointSlice({ namespace: ns, body });
      const back = await t.ctx.kube.discovery.readNamespacedEndpointSlice({
        namespace: ns,
        name: body.metadata!.name!,
      });
      expect(back.ports).to.deep.equal([{ name: 'sig', port: SCTP_PORT, protocol: 'SCTP' }]);
      expect(back.endpoints!.map((e) => e.addresses)).to.deep.equal([['192.0.2.10']]);
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts of type NodePort and get a nodePort',
    'Pods, Services, and NetworkPolicies can declare SCTP ports',
    async (t) => {
      const ns = await t.namespace('decl-nodeport');
      const svc = await createService(
        t,
        ns,
        service('sctp-np', [{ port: SCTP_PORT, protocol: 'SCTP' }], { type: 'NodePort' }),
      );
      const port = svc.spec!.ports![0];
      expect(port.protocol).to.equal('SCTP');
      expect(port.nodePort, 'a nodePort is allocated').to.be.a('number').within(1, 65535);
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts with externalIPs',
    'KEP user story: externalIPs',
    async (t) => {
      const ns = await t.namespace('decl-externalip');
      const externalIP = '198.18.100.20';
      const svc = await createService(
        t,
        ns,
        service('sctp-eip', [{ port: SCTP_PORT, protocol: 'SCTP' }], { externalIPs: [externalIP] }),
      );
      expect(svc.spec!.externalIPs).to.deep.equal([externalIP]);
      expect(svc.spec!.ports![0].protocol).to.equal('SCTP');
    },
  );

  sctpIt(
    'Services can declare SCTP ServicePorts of type LoadBalancer (accepted, or refused by the provider)',
    'pod→LoadBalancer (skip where unsupported)',
    async (t) => {
      const ns = await t.namespace('decl-lb');
      // Some providers' admission refuses SCTP load balancers: that is the
      // provider's documented limit, reported as such rather than a failure.
      // Any other error (API unreachable, a refusal about something else)
      // is not that limit and fails the test.
      const svc = await createService(
        t,
        ns,
        service('sctp-lb', [{ port: SCTP_PORT, protocol: 'SCTP' }], { type: 'LoadBalancer' }),
      ).catch((err: unknown) => loadBalancerCreateFailed(err, (why) => t.skip(why)));
      const port = svc.spec!.ports![0];
      if (svc.spec!.type !== 'LoadBalancer' || port.protocol !== 'SCTP' || port.port !== SCTP_PORT)
        throw new Error(
          `the API accepted an SCTP LoadBalancer Service but stored type ${svc.spec!.type}, ` +
            `port ${port.protocol}/${port.port} (asked: LoadBalancer, SCTP/${SCTP_PORT})`,
        );
      t.evidence('LoadBalancer status', JSON.stringify(svc.status?.loadBalancer ?? {}));
    },
  );

  sctpIt(
    'NetworkPolicies can declare SCTP ports for ingress and egress',
    'Pods, Services, and NetworkPolicies can declare SCTP ports',
    async (t) => {
      const ns = await t.namespace('decl-policy');
      const body = networkPolicy('sctp-ports', {
        podSelector: { app: 'server' },
        ingress: [
          {
            from: [{ podLabels: { app: 'client' } }],
            ports: [
              { port: SCTP_PORT, protocol: 'SCTP' },
              { port: 30000, endPort: 30100, protocol: 'SCTP' },
            ],
          },
        ],
        egress: [
          { to: [{ namespaceLabels: { team: 'sig' } }], ports: [{ port: SCTP_PORT, protocol: 'SCTP' }] },
        ],
      });
      await t.ctx.kube.networking.createNamespacedNetworkPolicy({ namespace: ns, body });
      const back = await t.ctx.kube.networking.readNamespacedNetworkPolicy({
        namespace: ns,
        name: 'sctp-ports',
      });
      expect(back.spec!.policyTypes).to.deep.equal(['Ingress', 'Egress']);
      expect(back.spec!.ingress![0].ports).to.deep.equal([
        { port: SCTP_PORT, protocol: 'SCTP' },
        { port: 30000, endPort: 30100, protocol: 'SCTP' },
      ]);
      expect(back.spec!.egress![0].ports).to.deep.equal([{ port: SCTP_PORT, protocol: 'SCTP' }]);
    },
  );
});
