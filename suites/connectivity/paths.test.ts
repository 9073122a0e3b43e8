/**
 * [Feature:SCTPConnectivity] real SCTP associations through every path a
 * packet takes: pod IP, ClusterIP (port ≠ targetPort), NodePort, headless
 * DNS, a LoadBalancer IP, from the node and from outside the cluster, across an endpoint change
 * and with several streams and large messages. A probe passes only on a full
 * round trip, and where the agent says who answered, it must be the pod the
 * path leads to.
 */
import type * as k8s from '@kubernetes/client-node';
import type { ProbeTarget } from '../../helpers/probing/agent.ts';
import { expectReach, outcome, show, target } from '../../helpers/probing/expect-reach.ts';
import { TestError } from '../../helpers/framework/errors.ts';
import { poll, PollTimeout } from '../../helpers/framework/poll.ts';
import { loadBalancerCreateFailed } from '../../helpers/probing/lb-refusal.ts';
import { podExec, nodeAddress } from '../../helpers/access/node-access.ts';
import {
  clientPod,
  type ClientPod,
  nodeProber,
  outsideProber,
  outsideUnavailable,
  podProber,
  type Prober,
} from '../../helpers/probing/probers.ts';
import { nodeNames } from '../../helpers/framework/run-context.ts';
import { sctpIt, type TestEnv } from '../../helpers/framework/sctp-test.ts';
import { createService, startPods, waitForEndpoints } from '../../helpers/probing/workloads.ts';
import { containerPorts, pod, service } from '../../fixtures/objects.ts';

const PORT = 80;
const STORY_POD = 'pod→pod, pod→Service IP';

interface Backend {
  ns: string;
  server: k8s.V1Pod;
  /** Probes from a pod on the server's node (see ClientKind). */
  fromClient(): Prober;
}

/**
 * Where a backend's client runs: the run's client pod on the server's node
 * (`run`: started once per node and run, beside the first server), a pod of
 * the backend's own beside the server (`own`: for a test whose client state is
 * part of its claim, a reused source port and its conntrack entry), or
 * nowhere (`none`: the test probes from outside or from the node).
 */
type ClientKind = 'run' | 'own' | 'none';

/**
 * The run's client pod on `node`, its wait a step of the test. Started
 * before the test's own pods and awaited after them, so both start together;
 * a failure is thrown where it is awaited.
 */
function startRunClient(t: TestEnv, node: string): Promise<ClientPod> {
  const started = t.time('run client pod Running', async () => {
    const client = await clientPod(t.ctx, node);
    t.uses(client.namespace); // its pod and events are evidence when the test fails
    return client;
  });
  started.catch(() => undefined);
  return started;
}

/** A server pod (SCTP 80, hostPort optional) on one node, and its client there. */
async function backend(
  t: TestEnv,
  purpose: string,
  options: { hostPort?: number; node?: string; client?: ClientKind } = {},
): Promise<Backend> {
  const ns = await t.namespace(purpose);
  const node = options.node ?? nodeNames(t.ctx)[0];
  const client = options.client ?? 'run';
  const serverContainer = {
    ...t.ctx.agent.server('agent', { sctp: [PORT] }),
    ports: containerPorts([{ port: PORT, protocol: 'SCTP', hostPort: options.hostPort }]),
  };
  const runClient = client === 'run' ? startRunClient(t, node) : undefined;
  const [server] = await startPods(t, ns, [
    pod('server', [serverContainer], { labels: { role: 'backend' }, node }),
    ...(client === 'own' ? [pod('client', [t.ctx.agent.client('agent', { sctp: true })], { node })] : []),
  ]);
  const fromClient =
    client === 'own'
      ? podProber(t.ctx, ns, 'client', 'agent')
      : client === 'run'
        ? (await runClient!).prober
        : undefined;
  return {
    ns,
    server,
    fromClient: () => {
      if (!fromClient) throw new Error(`backend ${ns} was made without a client`);
      return fromClient;
    },
  };
}

/** The backend's Service, SCTP port 7777 → 80, once its endpoint is ready. */
async function backendService(
  t: TestEnv,
  b: Backend,
  options: { type?: 'NodePort' | 'LoadBalancer'; externalIPs?: string[] } = {},
): Promise<k8s.V1Service> {
  const svc = await createService(
    t,
    b.ns,
    service('backend', [{ port: 7777, targetPort: PORT, protocol: 'SCTP' }], {
      selector: { role: 'backend' },
      ...options,
    }),
  );
  await waitForEndpoints(t, b.ns, 'backend', 1);
  return svc;
}

/**
 * The backend's Service as type LoadBalancer, and the IP a load balancer gave
 * it. Skips, saying why, when the cluster refuses SCTP load balancers or no
 * provider gives the Service an address within the rule deadline: the path
 * then cannot be judged (upstream skips it the same way).
 */
async function loadBalancerIP(t: TestEnv, b: Backend): Promise<string> {
  await backendService(t, b, { type: 'LoadBalancer' }).catch((err: unknown) =>
    loadBalancerCreateFailed(err, (why) => t.skip(why)),
  );
  const seconds = t.ctx.config.ruleTimeout;
  let last: k8s.V1LoadBalancerIngress[] = [];
  try {
    const ip = await poll(
      `an IP for the LoadBalancer Service ${b.ns}/backend`,
      { timeoutMs: seconds * 1000, intervalMs: 250 },
      async () => {
        const svc = await t.ctx.kube.core.readNamespacedService({ namespace: b.ns, name: 'backend' });
        last = svc.status?.loadBalancer?.ingress ?? [];
        const ip = last.find((i) => i.ip)?.ip;
        if (ip) return ip;
        throw new Error(last.length ? `ingress without an IP: ${JSON.stringify(last)}` : 'no ingress yet');
      },
    );
    t.evidence('LoadBalancer status', JSON.stringify({ ingress: last }));
    return ip;
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err;
    return t.skip(
      `no load balancer gave the SCTP LoadBalancer Service an IP within ${seconds} s ` +
        `(${last.length ? `ingress ${JSON.stringify(last)}` : 'no ingress'}): the cluster has no ` +
        'LoadBalancer provider, or its pool is exhausted',
    );
  }
}

const sctp = (host: string, port: number, extra: Partial<ProbeTarget> = {}): ProbeTarget => ({
  protocol: 'SCTP',
  host,
  port,
  ...extra,
});

describe('[sig-network] SCTP [Feature:SCTPConnectivity] [Disruptive] paths', () => {
  sctpIt('pod to pod over SCTP by pod IP on the same node', STORY_POD, async (t) => {
    const b = await backend(t, 'conn-pod-same');
    await expectReach(
      t,
      b.fromClient(),
      'client → server pod IP',
      [sctp(b.server.status!.podIP!, PORT)],
      'server',
    );
  });

  sctpIt('pod to pod over SCTP by pod IP across nodes', STORY_POD, async (t) => {
    const names = nodeNames(t.ctx);
    if (names.length < 2)
      t.skip(`the cluster has ${names.length} schedulable node: pods on different nodes need two`);
    // Both directions: each pod serves and probes, so an overlay that
    // carries only one way (a route or a VXLAN forwarding entry missing on
    // one node) fails here.
    const ns = await t.namespace('conn-pod-cross');
    const [server, client] = await startPods(t, ns, [
      pod('server', [t.ctx.agent.server('agent', { sctp: [PORT] })], { node: names[0] }),
      pod('client', [t.ctx.agent.server('agent', { sctp: [PORT] })], { node: names[1] }),
    ]);
    await expectReach(
      t,
      podProber(t.ctx, ns, 'client', 'agent'),
      `client on ${names[1]} → server on ${names[0]}`,
      [sctp(server.status!.podIP!, PORT)],
      'server',
    );
    await expectReach(
      t,
      podProber(t.ctx, ns, 'server', 'agent'),
      `server on ${names[0]} → client on ${names[1]}`,
      [sctp(client.status!.podIP!, PORT)],
      'client',
    );
  });

  sctpIt('pod to a ClusterIP Service over SCTP with port different from targetPort', STORY_POD, async (t) => {
    const b = await backend(t, 'conn-clusterip');
    const svc = await backendService(t, b);
    await expectReach(
      t,
      b.fromClient(),
      'client → ClusterIP 7777 → server 80',
      [sctp(svc.spec!.clusterIP!, 7777)],
      'server',
    );
  });

  sctpIt(
    'pod to a NodePort Service over SCTP on every node address',
    'KEP user story: NodePort',
    async (t) => {
      const b = await backend(t, 'conn-nodeport');
      const svc = await backendService(t, b, { type: 'NodePort' });
      const nodePort = svc.spec!.ports![0].nodePort!;
      const targets = t.ctx.nodes.flatMap((n) =>
        (n.status?.addresses ?? [])
          .filter((a) => a.type === 'InternalIP' || a.type === 'ExternalIP')
          .map((a) => sctp(a.address, nodePort)),
      );
      await expectReach(t, b.fromClient(), `client → every node address :${nodePort}`, targets, 'server');
    },
  );

  sctpIt('pod to a LoadBalancer IP over SCTP', 'pod→LoadBalancer IP over SCTP', async (t) => {
    const b = await backend(t, 'conn-lb');
    const ip = await loadBalancerIP(t, b);
    await expectReach(
      t,
      b.fromClient(),
      `client → LoadBalancer ${ip}:7777 → server 80`,
      [sctp(ip, 7777)],
      'server',
    );
  });

  sctpIt(
    'node to pod and node to Service over SCTP',
    'node→pod and node→Service (upstream skips them)',
    async (t) => {
      const b = await backend(t, 'conn-node', { client: 'none' });
      const svc = await backendService(t, b);
      for (const node of nodeNames(t.ctx)) {
        const fromNode = await t.time('node agent pod Running', () => nodeProber(t.ctx, node));
        await expectReach(
          t,
          fromNode,
          `node ${node} → pod IP and ClusterIP`,
          [sctp(b.server.status!.podIP!, PORT), sctp(svc.spec!.clusterIP!, 7777)],
          'server',
        );
      }
    },
  );

  describe('from outside the cluster', () => {
    sctpIt(
      'outside the cluster to a NodePort over SCTP on every node address',
      'KEP user story: NodePort reachable from outside',
      async (t) => {
        const why = outsideUnavailable(t.ctx);
        if (why) t.skip(why);
        const b = await backend(t, 'conn-out-nodeport', { client: 'none' });
        const svc = await backendService(t, b, { type: 'NodePort' });
        const nodePort = svc.spec!.ports![0].nodePort!;
        const targets = t.ctx.nodes.map((n) => sctp(nodeAddress(n, 'InternalIP')!, nodePort));
        await expectReach(t, await outsideProber(t.ctx), `outside → node :${nodePort}`, targets, 'server');
      },
    );

    sctpIt(
      'outside the cluster to an externalIP over SCTP',
      'KEP user story: externalIPs reachable from outside',
      async (t) => {
        const why =
          outsideUnavailable(t.ctx) ??
          (t.ctx.config.externalIpRange
            ? undefined
            : 'no routed range for externalIPs: give --external-ip-range CIDR (a range this machine routes to the nodes)');
        if (why) t.skip(why);
        const b = await backend(t, 'conn-out-eip', { client: 'none' });
        const externalIP = t.ctx.config.externalIpRange!.replace(/\.\d+\/\d+$/, '.30');
        await backendService(t, b, { externalIPs: [externalIP] });
        await expectReach(
          t,
          await outsideProber(t.ctx),
          `outside → externalIP ${externalIP}:7777`,
          [sctp(externalIP, 7777)],
          'server',
        );
      },
    );

    sctpIt(
      'outside the cluster to a LoadBalancer IP over SCTP',
      'LoadBalancer IP reachable from outside',
      async (t) => {
        const why = outsideUnavailable(t.ctx);
        if (why) t.skip(why);
        const b = await backend(t, 'conn-out-lb', { client: 'none' });
        const ip = await loadBalancerIP(t, b);
        await expectReach(
          t,
          await outsideProber(t.ctx),
          `outside → LoadBalancer ${ip}:7777`,
          [sctp(ip, 7777)],
          'server',
        );
      },
    );

    sctpIt(
      'outside the cluster to a hostPort over SCTP',
      'KEP user story: hostPort reachable from outside',
      async (t) => {
        const why = outsideUnavailable(t.ctx);
        if (why) t.skip(why);
        const hostPort = 30580;
        const b = await backend(t, 'conn-out-hostport', { hostPort, client: 'none' });
        const node = t.ctx.nodes.find((n) => n.metadata!.name === b.server.spec!.nodeName)!;
        await expectReach(
          t,
          await outsideProber(t.ctx),
          `outside → hostPort ${hostPort}`,
          [sctp(nodeAddress(node, 'InternalIP')!, hostPort)],
          'server',
        );
      },
    );
  });

  sctpIt(
    'a headless SCTP Service resolves (A and _sctp SRV records) from a pod and each endpoint answers',
    'KEP user story: DNS SRV records with _sctp',
    async (t) => {
      if (t.ctx.agent.kind !== 'usrsctp')
        t.skip('DNS lookups use nslookup, which the agnhost image lacks (use --agent usrsctp)');
      const ns = await t.namespace('conn-headless');
      // The client resolves the Service's full name, so any namespace's pod
      // can: the run's client pod on the first node.
      const clientPromise = startRunClient(t, nodeNames(t.ctx)[0]);
      const servers = await startPods(t, ns, [
        pod('server-1', [t.ctx.agent.server('agent', { sctp: [PORT] })], { labels: { role: 'backend' } }),
        pod('server-2', [t.ctx.agent.server('agent', { sctp: [PORT] })], { labels: { role: 'backend' } }),
      ]);
      const client = await clientPromise;
      await createService(
        t,
        ns,
        service('sig', [{ name: 'sigtran', port: PORT, protocol: 'SCTP' }], {
          selector: { role: 'backend' },
          headless: true,
        }),
      );
      await waitForEndpoints(t, ns, 'sig', 2);
      const inClient = (argv: string[]) => podExec(t.ctx.kube, client.namespace, client.name, 'agent', argv);
      const lookup = async (args: string[]) => (await inClient(['nslookup', ...args])).stdout;
      const resolv = (await inClient(['cat', '/etc/resolv.conf'])).stdout;
      const domain = /search .*?svc\.(\S+)/.exec(resolv)?.[1] ?? 'cluster.local';
      const name = `sig.${ns}.svc.${domain}`;
      const want = servers.map((s) => s.status!.podIP!).sort();
      const a = await poll(
        `A records of ${name} listing both pods`,
        { timeoutMs: t.ctx.config.ruleTimeout * 1000, intervalMs: 500 },
        async () => {
          const out = await lookup([name]);
          const ips = [...out.matchAll(/^Address:\s*([\d.]+)\s*$/gm)].map((m) => m[1]).sort();
          if (JSON.stringify(ips) === JSON.stringify(want)) return out;
          throw new Error(out);
        },
      );
      t.evidence(`nslookup ${name}`, a);
      const srvName = `_sigtran._sctp.${name}`;
      const srv = await poll(
        `SRV records of ${srvName}`,
        { timeoutMs: t.ctx.config.ruleTimeout * 1000, intervalMs: 500 },
        async () => {
          const out = await lookup(['-type=SRV', srvName]);
          const records = [...out.matchAll(/service = \d+ \d+ (\d+) (\S+)/g)];
          if (records.length === 2 && records.every((r) => Number(r[1]) === PORT)) return out;
          throw new Error(out);
        },
      );
      t.evidence(`nslookup -type=SRV ${srvName}`, srv);
      for (const s of servers)
        await expectReach(
          t,
          client.prober,
          `client → ${s.metadata!.name} by its A record`,
          [sctp(s.status!.podIP!, PORT)],
          s.metadata!.name,
        );
    },
  );

  /** The sysctl giving how long a closed SCTP association's conntrack entry lives, and its Linux default. */
  const SCTP_CLOSED_SYSCTL = '/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_closed';
  const LINUX_SCTP_CLOSED_SECONDS = 10;

  sctpIt(
    "a Service's endpoint replaced under a client reusing its source port: new associations reach the new pod",
    'Stale SCTP conntrack after an endpoint goes away (kubernetes#115299)',
    async (t) => {
      const probeOptions = { sourcePort: 40123 };
      const reason = t.ctx.agent.unsupported(sctp('0.0.0.0', 1, probeOptions));
      if (reason) t.skip(reason);
      const b = await backend(t, 'conn-stale', { client: 'own' });
      // The replacement pod runs before the first association: the old
      // association's conntrack entry (CLOSED, 10 s by default on Linux)
      // must outlive the replacement, or a stale entry would have expired on
      // its own and the test would pass on a kube-proxy that leaves it. So
      // the replacement is a relabel, not a pod start (seconds under load).
      const [svc] = await Promise.all([
        backendService(t, b),
        startPods(t, b.ns, [
          pod('server-new', [t.ctx.agent.server('agent', { sctp: [PORT] })], {
            labels: { role: 'standby' },
            node: b.server.spec!.nodeName,
          }),
        ]),
      ]);
      const vip = svc.spec!.clusterIP!;
      // The Service first from fresh source ports, until it answers: a probe
      // from the fixed port sent before kube-proxy has programmed the new
      // Service leaves a conntrack entry without its NAT, which that port's
      // next attempts keep matching (seen: 9 s of attempts from port 40123
      // when this test ran alone). A port of its own for each attempt never
      // meets such an entry.
      await expectReach(t, b.fromClient(), 'client → Service → server', [sctp(vip, 7777)], 'server');
      await expectReach(
        t,
        b.fromClient(),
        'client (source port 40123) → Service → server',
        [sctp(vip, 7777, probeOptions)],
        'server',
      );
      const firstAssociation = Date.now();

      // Replace the endpoint: the old pod goes, the new one takes its place.
      await t.ctx.kube.core.deleteNamespacedPod({ namespace: b.ns, name: 'server', gracePeriodSeconds: 0 });
      await t.ctx.kube.core.patchNamespacedPod({
        namespace: b.ns,
        name: 'server-new',
        body: [{ op: 'replace', path: '/metadata/labels/role', value: 'backend' }],
      });
      await poll('the old server pod to be gone', { timeoutMs: t.ctx.config.podTimeout * 1000 }, async () => {
        const pods = await t.ctx.kube.core.listNamespacedPod({
          namespace: b.ns,
          labelSelector: 'role=backend',
        });
        const names = pods.items.map((p) => p.metadata!.name);
        if (names.length === 1 && names[0] === 'server-new') return true;
        throw new Error(pods.items.map((p) => `${p.metadata!.name} ${p.status?.phase}`).join(', '));
      });
      // The dataplane has the new endpoint once a fresh source port reaches it;
      // only then does the reused source port's first association count.
      await expectReach(
        t,
        b.fromClient(),
        'client (fresh source port) → Service → new server',
        [sctp(vip, 7777)],
        'server-new',
      );
      const sentSeconds = (Date.now() - firstAssociation) / 1000;
      const [again] = await b.fromClient().probe([sctp(vip, 7777, probeOptions)]);
      // When the probe returned: its association (if any) completed before.
      const doneSeconds = (Date.now() - firstAssociation) / 1000;
      const timeoutSeconds = t.ctx.config.probeTimeout;
      t.evidence(
        'client (source port 40123 again) → Service',
        `${show([again], timeoutSeconds, 'server-new')}\n(sent ${sentSeconds.toFixed(1)} s after the first association from that port, returned at ${doneSeconds.toFixed(1)} s)`,
      );
      // How long a closed association's conntrack entry lives on the client's
      // node (where the Service's DNAT happens): past it, a stale entry is gone
      // on its own, and reaching the new pod proves nothing.
      const node = b.server.spec!.nodeName!; // the client's too
      let closedSeconds = LINUX_SCTP_CLOSED_SECONDS;
      let closedFrom = 'the Linux default: no node access to read it';
      if (t.ctx.access.kind !== 'none') {
        const ct = await t.ctx.access.exec(
          node,
          `conntrack -L -p sctp 2>/dev/null | grep -F -- 'sport=40123' || true`,
        );
        t.evidence(`SCTP conntrack entries for source port 40123 on ${node}`, ct.stdout.trim() || '(none)');
        const sysctl = await t.ctx.access.exec(node, `cat ${SCTP_CLOSED_SYSCTL}`);
        const read = Number(sysctl.stdout.trim());
        if (sysctl.code === 0 && Number.isInteger(read) && read > 0) {
          closedSeconds = read;
          closedFrom = `${SCTP_CLOSED_SYSCTL} on ${node}`;
        } else closedFrom = `the Linux default: ${SCTP_CLOSED_SYSCTL} on ${node} could not be read`;
      }
      const seen = `${target(again)}: ${outcome(again, timeoutSeconds, 'server-new')}`;
      if (again.result === 'error')
        throw new TestError(`the reused source port's probe gave no verdict: ${seen}`, again.raw);
      // The probe retries its INIT for seconds: an association that completed
      // only after the stale entry would have expired proves nothing.
      if (again.result === 'connected' && doneSeconds >= closedSeconds)
        t.skip(
          `not judged: the reused source port's association completed by ${doneSeconds.toFixed(1)} s after the ` +
            `first one, not before the SCTP conntrack CLOSED timeout (${closedSeconds} s, ${closedFrom}): a stale ` +
            'entry would have expired on its own by then, so reaching the new pod proves nothing',
        );
      if (again.result !== 'connected')
        throw new Error(
          `the first association from the reused source port did not complete: ${seen} ` +
            '(a conntrack entry still sends it to the deleted pod?)',
        );
      if (again.answeredBy !== 'server-new')
        throw new Error(
          `the reused source port reached ${again.answeredBy ?? 'an unnamed pod'}, not the new pod server-new: ${seen}`,
        );
    },
  );

  sctpIt(
    'several SCTP streams and a 64 KiB message round-trip through a Service',
    'Multi-stream and large messages',
    async (t) => {
      const targets = [{ streams: 8 }, { size: 65536 }];
      const reason =
        t.ctx.agent.unsupported(sctp('0.0.0.0', 1, targets[0])) ??
        t.ctx.agent.unsupported(sctp('0.0.0.0', 1, targets[1]));
      if (reason) t.skip(reason);
      const b = await backend(t, 'conn-streams');
      const svc = await backendService(t, b);
      await expectReach(
        t,
        b.fromClient(),
        'client → Service: 8 streams; one 64 KiB message',
        targets.map((o) => sctp(svc.spec!.clusterIP!, 7777, o)),
        'server',
      );
    },
  );
});
