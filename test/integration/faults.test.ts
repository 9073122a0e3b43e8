/**
 * The fault harness: each row breaks the local cluster the way a test guards
 * against, runs the suite, and checks that exactly the tests that must fail
 * fail (with a message naming what is missing) while the others still pass;
 * then repairs the cluster. After the rows of each shape, one run checks that
 * every test they made fail passes again. A conformance test that no row can
 * make fail is a test that cannot fail.
 */
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { execa, type ResultPromise } from 'execa';
import { dirname, join } from 'node:path';
import { ROOT } from '../../helpers/framework/runner.ts';
import {
  clusterUp,
  HOST_VETH,
  inNode,
  kubectl,
  LB_POOL,
  NETNS,
  NETPOL_QUEUE_CHAIN,
  NODE1_DIR,
  SECOND_SHAPE,
  stopComponent,
} from './local-cluster.ts';
import { printTable, runRepaired, runUnderFault, type Fault } from './fault-harness.ts';
import { poll } from '../../helpers/framework/poll.ts';

const CNI_CONF = join(NODE1_DIR, 'cni', 'net.d', '10-sctp-e2e.conflist');
const SCTP_CLOSED_SYSCTL = '/proc/sys/net/netfilter/nf_conntrack_sctp_timeout_closed';

/**
 * Puts `text` in place of the CNI config in one step: containerd reloads on
 * every write event in the directory, and a file written in place is first
 * empty ("unexpected end of JSON input" in containerd's log), which can
 * leave it on the old config. A rename is one event with the whole file.
 */
function replaceCniConf(text: string): void {
  const staged = join(dirname(CNI_CONF), '.staged-by-fault-harness'); // no .conf/.conflist: never loaded
  writeFileSync(staged, text);
  renameSync(staged, CNI_CONF);
}

/**
 * portmap deletes a pod's hostPort rules at the pod's CNI DEL, and only when
 * it is in the chain at that moment. A hostPort pod of an earlier run whose
 * sandbox is torn down after this row removes portmap keeps its DNAT rule for
 * good (its namespace can be gone from the API before that), and the next pod
 * on the same hostPort is sent to the dead pod's address: seen in a CI run,
 * where this row's repaired run and a later basic tier then failed. So the
 * row waits until node1 holds no pod's hostPort rule (no pod of the harness
 * is left to hold one), in either of portmap's backends.
 */
async function hostPortRulesGone(): Promise<void> {
  await poll(
    'the hostPort rules of earlier pods to be gone from node1',
    { timeoutMs: 60_000, intervalMs: 500 },
    async () => {
      const left = await inNode(
        "iptables-save -t nat | grep '^:CNI-DN-'; nft list table ip cni_hostport 2>/dev/null | grep -w dnat; true",
      );
      if (!left.trim()) return true;
      throw new Error(left.trim());
    },
  );
}

async function removePortmap(): Promise<void> {
  await hostPortRulesGone();
  copyFileSync(CNI_CONF, `${CNI_CONF}.orig`);
  const conf = JSON.parse(readFileSync(CNI_CONF, 'utf8'));
  conf.plugins = conf.plugins.filter((p: { type: string }) => p.type !== 'portmap');
  replaceCniConf(JSON.stringify(conf, null, 2));
  await new Promise((r) => setTimeout(r, 2000)); // containerd reloads CNI config on change
}

async function restorePortmap(): Promise<void> {
  replaceCniConf(readFileSync(`${CNI_CONF}.orig`, 'utf8'));
  await new Promise((r) => setTimeout(r, 2000));
}

/**
 * Something on the node (a firewall reload, another agent) flushing portmap's
 * nftables chain after the pods started: portmap rewrites its skeleton and
 * adds a pod's rules at every CNI ADD, so a one-time flush would be undone by
 * the next pod. The chain is flushed as soon as `nft monitor` shows a rule
 * added to portmap's table (5 ms later, measured), and every half second as
 * well. A flush every half second alone left each new pod's rule there
 * until the next one, longer with six tests at once loading the machine,
 * and the rule test once found it (seen in a CI rehearsal).
 */
let portmapFlusher: ResultPromise | undefined;

const FLUSH_PORTMAP_CHAIN = [
  'flush() { nft flush chain ip cni_hostport hostports 2>/dev/null; }',
  'nft monitor rules 2>/dev/null | while read -r l; do case "$l" in "add rule ip cni_hostport "*) flush;; esac; done &',
  'while :; do flush; sleep 0.5; done',
].join('\n');

async function flushPortmapChain(): Promise<void> {
  // Its own process group: stopping it stops the monitor and the loop too.
  portmapFlusher = execa('ip', ['netns', 'exec', NETNS, 'sh', '-c', FLUSH_PORTMAP_CHAIN], {
    reject: false,
    stdio: 'ignore',
    detached: true,
  });
}

async function stopFlushingPortmapChain(): Promise<void> {
  if (portmapFlusher?.pid) process.kill(-portmapFlusher.pid, 'SIGKILL');
  await portmapFlusher;
  portmapFlusher = undefined;
}

/**
 * MetalLB's speakers gone from every node (their DaemonSet selects no node),
 * and the host's neighbour entries for the pool flushed, as they expire on a
 * real client: nothing answers ARP for a LoadBalancer IP any more, while the
 * controller still assigns it and kube-proxy still serves it inside the
 * cluster.
 */
const metallb = (...args: string[]) => kubectl('-n', 'metallb-system', ...args);

/** Sets (or, with null, removes) the node selector of the speakers' DaemonSet. */
const selectSpeakerNodes = (selector: Record<string, string> | null) =>
  metallb(
    'patch',
    'daemonset/speaker',
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { template: { spec: { nodeSelector: selector } } } }),
  );

async function stopSpeakers(): Promise<void> {
  await selectSpeakerNodes({ 'sctp-e2e/fault': 'speakers-stopped' });
  await metallb('wait', '--for=delete', 'pod', '-l', 'component=speaker', '--timeout=60s');
  await execa('ip', ['neigh', 'flush', 'to', LB_POOL, 'dev', HOST_VETH]);
}

async function startSpeakers(): Promise<void> {
  await selectSpeakerNodes(null);
  await metallb('rollout', 'status', 'daemonset/speaker', '--timeout=90s');
}

const REFUSE_SCTP = join(ROOT, 'test', 'fixtures', 'faults', 'refuse-sctp.yaml');

const REFUSE_EXEC = join(ROOT, 'test', 'fixtures', 'faults', 'refuse-exec.yaml');
const GARBAGE_AGENT = join(ROOT, 'test', 'fixtures', 'faults', 'garbage-agent.sh');
const GARBAGE_AGENT_IMAGE = 'localhost/sctp-e2e/agent-garbage:fault';

/** Every test that probes from inside a pod (pod exec), with no verdict possible when the probe cannot run or says nothing. */
const POD_PROBING = [
  'pod to pod over SCTP by pod IP on the same node',
  'pod to a ClusterIP Service over SCTP',
  'pod to a NodePort Service over SCTP',
  'node to pod and node to Service over SCTP',
  'client reusing its source port',
  'several SCTP streams and a 64 KiB message',
  'default-deny ingress policy in namespace x for SCTP',
  'only on SCTP port 80 (81 blocked)',
  'only from pods pod=b in namespaces ns=y',
  'deny all egress from x/a over SCTP',
  'egress from x/a only to namespace z on SCTP port 81',
];

/**
 * The five SCTP truth tables, failing the way a policy engine that decides
 * nothing makes them fail: deny cells connect (the rows also forbid the
 * reverse, "expected connected, observed blocked", with notMessage).
 */
const DENY_CELLS_CONNECT: Fault['mustFail'] = [
  'default-deny ingress policy in namespace x for SCTP',
  'only on SCTP port 80 (81 blocked)',
  'only from pods pod=b in namespaces ns=y',
  'deny all egress from x/a over SCTP',
  'egress from x/a only to namespace z on SCTP port 81',
].map((title) => ({ title, message: /expected blocked, observed connected/ }));

/** A pod-probing test's verdict on the repaired local cluster: the stale-conntrack test is in its known profile. */
const repairedVerdicts = (title: string) => (title === 'client reusing its source port' ? ['KNOWN'] : ['ok']);

const FAULTS: Fault[] = [
  {
    // The API refuses SCTP objects, as some providers' admission does: every
    // declaration test must fail on it (the LoadBalancer test skips, by design).
    name: 'an admission policy refusing protocol SCTP',
    apply: async () => {
      await kubectl('apply', '-f', REFUSE_SCTP);
      await new Promise((r) => setTimeout(r, 3000)); // the policy is compiled asynchronously
    },
    undo: () => kubectl('delete', '-f', REFUSE_SCTP, '--wait=true').then(() => undefined),
    mustFail: [
      'Pods can declare SCTP containerPorts and hostPorts',
      'SCTP ServicePorts of type ClusterIP',
      'SCTP ServicePorts when headless',
      'Services without selector accept a hand-made SCTP EndpointSlice',
      'SCTP ServicePorts of type NodePort',
      'SCTP ServicePorts with externalIPs',
      'NetworkPolicies can declare SCTP ports for ingress and egress',
    ].map((title) => ({ title, message: /SCTP refused by the fault harness/ })),
    mustPass: [],
  },
  {
    name: 'portmap removed from the CNI chain',
    apply: removePortmap,
    undo: restorePortmap,
    connectivity: true,
    mustFail: [
      { title: 'their node has a DNAT rule for them', message: /no .*rule .*hostPort/i },
      { title: 'outside the cluster to a hostPort over SCTP', message: /no SCTP round trip/ },
    ],
    mustPass: [
      'ClusterIP rules on every node',
      'NodePort rules on every node',
      'outside the cluster to a NodePort over SCTP',
      'pod to pod over SCTP by pod IP on the same node',
    ],
  },
  {
    // Also what the basic tier sees: Services made while kube-proxy is
    // stopped get no rule, and no earlier Service's rule is left to match.
    name: 'kube-proxy stopped with its SCTP rules flushed',
    apply: async () => {
      await stopComponent('kube-proxy');
      // Only kube-proxy's SCTP rules: portmap's hostPort rules stay.
      await inNode("iptables-save -t nat | grep -v -E '^-A KUBE-.* -p sctp ' | iptables-restore");
    },
    undo: clusterUp,
    connectivity: true,
    mustFail: [
      { title: 'ClusterIP rules on every node', message: /no .*rule .*SCTP/i },
      { title: 'NodePort rules on every node', message: /no .*rule .*SCTP/i },
      { title: 'externalIP rules on every node', message: /no .*rule .*SCTP/i },
      { title: 'TCP, UDP and SCTP on the same port', message: /no .*rule/i },
      { title: 'pod to a ClusterIP Service over SCTP', message: /no SCTP round trip/ },
      { title: 'pod to a NodePort Service over SCTP', message: /no SCTP round trip/ },
      { title: 'node to pod and node to Service over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to a NodePort over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to an externalIP over SCTP', message: /no SCTP round trip/ },
      { title: 'several SCTP streams and a 64 KiB message', message: /no SCTP round trip/ },
      { title: 'pod to a LoadBalancer IP over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to a LoadBalancer IP over SCTP', message: /no SCTP round trip/ },
    ],
    mustPass: [
      'their node has a DNAT rule for them',
      'pod to pod over SCTP by pod IP on the same node',
      'outside the cluster to a hostPort over SCTP',
      'A and _sctp SRV records',
    ],
  },
  {
    // Inside the cluster kube-proxy still carries the LoadBalancer IP; from
    // outside, nothing answers ARP for it.
    name: "MetalLB's speakers stopped (the host's ARP entries for the pool flushed)",
    apply: stopSpeakers,
    undo: startSpeakers,
    connectivity: true,
    mustFail: [
      { title: 'outside the cluster to a LoadBalancer IP over SCTP', message: /no SCTP round trip/ },
    ],
    mustPass: ['pod to a LoadBalancer IP over SCTP', 'outside the cluster to a NodePort over SCTP'],
  },
  {
    name: 'SCTP INIT-ACK dropped in the node FORWARD chain',
    // mangle FORWARD comes before the filter table, where the cluster's own
    // chains (kube-proxy's KUBE-FORWARD, kube-router's) accept replies first.
    apply: () =>
      inNode('iptables -t mangle -I FORWARD -p sctp -m sctp --chunk-types any INIT_ACK -j DROP').then(
        () => undefined,
      ),
    undo: () =>
      inNode('iptables -t mangle -D FORWARD -p sctp -m sctp --chunk-types any INIT_ACK -j DROP').then(
        () => undefined,
      ),
    connectivity: true,
    mustFail: [
      { title: 'pod to pod over SCTP by pod IP on the same node', message: /no SCTP round trip/ },
      { title: 'pod to a ClusterIP Service over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to a NodePort over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to a hostPort over SCTP', message: /no SCTP round trip/ },
    ],
    // The node's own associations: INIT-ACK comes back through INPUT.
    mustPass: ['node to pod and node to Service over SCTP'],
  },
  {
    // A closed association's conntrack entry lives 1 s instead of 10: a stale
    // entry is gone before the reused source port's association completes,
    // so reaching the new pod proves nothing, and the test must say "not
    // judged" rather than pass (--strict makes that skip fail the run).
    name: 'SCTP conntrack CLOSED timeout of 1 s on the node',
    apply: () => inNode(`echo 1 > ${SCTP_CLOSED_SYSCTL}`).then(() => undefined),
    undo: () => inNode(`echo 10 > ${SCTP_CLOSED_SYSCTL}`).then(() => undefined),
    connectivity: true,
    brokenArgs: ['--strict'],
    mustFail: [
      {
        title: 'client reusing its source port',
        message: /^not judged: .* CLOSED timeout \(1 s, /,
        verdicts: ['skip'],
        repaired: ['KNOWN'],
      },
    ],
    mustPass: ['pod to pod over SCTP by pod IP on the same node'],
  },
  {
    name: 'CoreDNS stopped',
    apply: () => stopComponent('coredns'),
    undo: clusterUp,
    connectivity: true,
    mustFail: [{ title: 'A and _sctp SRV records', message: /timed out .* waiting for A records/ }],
    mustPass: ['pod to pod over SCTP by pod IP on the same node', 'pod to a ClusterIP Service over SCTP'],
  },
  {
    // Deny cells must fail, allow cells must pass: the differences named are
    // all "expected blocked, observed connected".
    name: 'kube-router stopped before the SCTP policies exist',
    apply: () => stopComponent('netpol'),
    undo: clusterUp,
    connectivity: true,
    notMessage: /expected connected, observed blocked/,
    mustFail: [
      ...DENY_CELLS_CONNECT,
      { title: 'does not allow TCP or UDP traffic', message: /let TCP and UDP through/ },
    ],
    mustPass: [
      'pod to pod over SCTP by pod IP on the same node',
      'NetworkPolicies can declare SCTP ports for ingress and egress',
    ],
  },
  {
    // Exec into the run's pods is refused once they run: nothing can be
    // observed from inside a pod, so every such probing test is an error
    // (never a pass, never a "blocked" cell); the outside client needs no
    // exec and still passes.
    name: 'pod exec refused after the pods start',
    apply: async () => {
      await kubectl('apply', '-f', REFUSE_EXEC);
      await new Promise((r) => setTimeout(r, 3000)); // the policy is compiled asynchronously
    },
    undo: () => kubectl('delete', '-f', REFUSE_EXEC, '--wait=true').then(() => undefined),
    connectivity: true,
    notMessage: /observed blocked|observed connected/,
    mustFail: POD_PROBING.map((title) => ({
      title,
      // The API's refusal, in its words where the client gets them (the admission
      // policy's message) or as the refused upgrade's status (WebSocket exec).
      message:
        /could not run the probe[^]*(exec refused by the fault harness|Unexpected server response: 4\d\d)/,
      verdicts: ['FAIL', 'ERROR'],
      repaired: repairedVerdicts(title),
    })),
    mustPass: ['outside the cluster to a NodePort over SCTP'],
  },
  {
    // The agent's probe prints garbage (and exits 0): no cell may read as
    // blocked or connected; every pod-probing test is an error with the
    // agent's raw output.
    name: 'an agent that prints garbage',
    apply: () => execa(GARBAGE_AGENT, ['apply']).then(() => undefined),
    undo: () => execa(GARBAGE_AGENT, ['undo']).then(() => undefined),
    brokenArgs: ['--agent-image', GARBAGE_AGENT_IMAGE],
    connectivity: true,
    notMessage: /observed blocked|observed connected|no reply within|refused \(ABORT/,
    mustFail: POD_PROBING.map((title) => ({
      title,
      message: /(could not be judged|no verdict)[^]*garbage from a broken agent/,
      verdicts: ['FAIL', 'ERROR'],
      repaired: repairedVerdicts(title),
    })),
    mustPass: ['outside the cluster to a NodePort over SCTP'],
  },
  {
    // kube-proxy's nftables rules flushed with it: no stale rule of an
    // earlier Service can carry a probe, and Services made meanwhile get
    // none. The table stays (flushed, not deleted), so the node still shows
    // kube-proxy's nftables mode and the rule tests judge its rules rather
    // than skip on an unknown proxy.
    name: 'kube-proxy (nftables) stopped with its rules flushed',
    shape: SECOND_SHAPE,
    apply: async () => {
      await stopComponent('kube-proxy');
      await inNode('nft flush table ip kube-proxy');
    },
    undo: () => clusterUp(SECOND_SHAPE),
    connectivity: true,
    mustFail: [
      { title: 'ClusterIP rules on every node', message: /no kube-proxy nftables rule .*SCTP/i },
      { title: 'NodePort rules on every node', message: /no kube-proxy nftables rule .*SCTP/i },
      { title: 'externalIP rules on every node', message: /no kube-proxy nftables rule .*SCTP/i },
      { title: 'TCP, UDP and SCTP on the same port', message: /no kube-proxy nftables rule/i },
      { title: 'pod to a ClusterIP Service over SCTP', message: /no SCTP round trip/ },
      { title: 'pod to a NodePort Service over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to a NodePort over SCTP', message: /no SCTP round trip/ },
      { title: 'outside the cluster to an externalIP over SCTP', message: /no SCTP round trip/ },
    ],
    mustPass: [
      'their node has a DNAT rule for them',
      'pod to pod over SCTP by pod IP on the same node',
      'outside the cluster to a hostPort over SCTP',
    ],
  },
  {
    // portmap's nftables backend: the rule test reads the live nft chain,
    // the outside client goes through it; Services are kube-proxy's.
    name: "portmap's nftables chain flushed",
    shape: SECOND_SHAPE,
    apply: flushPortmapChain,
    undo: stopFlushingPortmapChain,
    connectivity: true,
    mustFail: [
      { title: 'their node has a DNAT rule for them', message: /no .*rule .*hostPort/i },
      { title: 'outside the cluster to a hostPort over SCTP', message: /no SCTP round trip/ },
    ],
    mustPass: ['NodePort rules on every node', 'outside the cluster to a NodePort over SCTP'],
  },
  {
    // kube-network-policies decides nothing it is not asked: without the
    // hook that queues pod flows to it, every deny cell connects.
    name: 'kube-network-policies without its queue hook',
    shape: SECOND_SHAPE,
    apply: () => inNode(`iptables -t mangle -D POSTROUTING -j ${NETPOL_QUEUE_CHAIN}`).then(() => undefined),
    undo: () => clusterUp(SECOND_SHAPE),
    connectivity: true,
    notMessage: /expected connected, observed blocked/,
    mustFail: [
      ...DENY_CELLS_CONNECT,
      { title: 'does not allow TCP or UDP traffic', message: /let TCP and UDP through/ },
    ],
    mustPass: ['pod to pod over SCTP by pod IP on the same node'],
  },
];

describe('fault harness', function () {
  this.timeout(600_000);
  /**
   * The shape the cluster runs in; undefined while a switch or a repair is
   * under way, and after one failed, so that the next row runs `up` again. A
   * row of another shape switches it, and the rows after it of that shape
   * find it switched: the second shape's rows are consecutive, so the harness
   * switches there once and back once rather than twice per row (each switch
   * restarts kube-proxy and the engine on every node).
   */
  let running: string[] | undefined = [];
  async function ensureShape(shape: string[]): Promise<void> {
    if (running?.join(' ') === shape.join(' ')) return;
    running = undefined;
    await clusterUp(shape);
    running = shape;
  }
  before(clusterUp);
  after(async () => {
    printTable('fault harness');
    await ensureShape([]); // the default shape, for the files after this one
  });

  // Consecutive rows of one shape, then the check of their repair.
  const groups: Fault[][] = [];
  for (const fault of FAULTS) {
    const last = groups.at(-1);
    if (last && (last[0].shape ?? []).join(' ') === (fault.shape ?? []).join(' ')) last.push(fault);
    else groups.push([fault]);
  }
  for (const group of groups) {
    const shape = group[0].shape ?? [];
    for (const fault of group)
      it(`${fault.name}: exactly the guarding tests fail`, async () => {
        await ensureShape(shape);
        try {
          await runUnderFault(fault);
        } catch (e) {
          // A row that failed half-way may leave its fault in place: repair
          // the cluster in its shape before the next row.
          running = undefined;
          await ensureShape(shape);
          throw e;
        }
      });
    it(`repaired after the ${group.length} rows above (${shape.join(' ') || 'the default shape'}): every test they made fail passes again`, async () => {
      await ensureShape(shape);
      await runRepaired(group);
    });
  }
});
