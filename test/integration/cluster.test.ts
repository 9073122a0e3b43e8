/**
 * The local cluster (issue: `sctp-e2e cluster up | down | status | env`):
 * it is real Kubernetes that runs pods from local images, programs SCTP
 * Service and hostPort rules, enforces NetworkPolicy, serves exec, logs, DNS
 * and SSH; and `down` leaves the host as it found it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/framework/runner.ts';
import { expect } from 'chai';
import { execa } from 'execa';
import { poll } from '../../helpers/framework/poll.ts';
import {
  cluster,
  clusterEnv,
  clusterUp,
  inNode,
  kubectl,
  leftovers,
  NETNS,
  NODE1_DIR,
  NODE_IP,
  STATE_DIR,
} from './local-cluster.ts';

const NS = 'cluster-selftest';

async function applyYaml(yaml: string): Promise<void> {
  const r = await execa('sh', ['-c', `"$KUBECTL" --kubeconfig "$KC" apply -f -`], {
    input: yaml,
    env: {
      KUBECTL: `${process.env.HOME ?? '/root'}/.cache/sctp-e2e/bin/kubectl`,
      KC: `${STATE_DIR}/kubeconfig.yaml`,
    },
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(r.all);
}

const agentPod = (name: string, args: string[], extra = '') => `
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${NS}, labels: {app: ${name}}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: agent
    image: localhost/sctp-e2e/agent:0.4.1
    imagePullPolicy: Never
    args: ${JSON.stringify(args)}
${extra}`;

async function probe(from: string, protocol: string, host: string, port: number): Promise<string> {
  const r = await execa(
    `${process.env.HOME ?? '/root'}/.cache/sctp-e2e/bin/kubectl`,
    [
      '--kubeconfig',
      `${STATE_DIR}/kubeconfig.yaml`,
      '-n',
      NS,
      'exec',
      from,
      '--',
      '/bin/agent',
      'probe',
      '--protocol',
      protocol,
      '--host',
      host,
      '--port',
      String(port),
      '--timeout-ms',
      '1500',
    ],
    { reject: false },
  );
  return JSON.parse(r.stdout || '{"result":"error"}').result;
}

describe('local cluster', function () {
  before(async function () {
    this.timeout(3_600_000); // a cold first build on a fresh machine
    await clusterUp();
    await kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=true');
    await kubectl('create', 'namespace', NS);
  });
  after(async () => {
    await kubectl('delete', 'namespace', NS, '--ignore-not-found', '--wait=false').catch(() => '');
  });

  it('has a Ready node and every component running', async () => {
    const ready = await kubectl(
      'get',
      'node',
      'sctp-e2e-node1',
      '-o',
      'jsonpath={range .status.conditions[?(@.type=="Ready")]}{.status}|{.reason}: {.message}{end}',
    );
    expect(ready.split('|')[0], `node Ready condition: ${ready}`).to.equal('True');
    const status = await cluster('status');
    expect(status.code, status.output).to.equal(0);
    expect(status.output).to.not.include('stopped');
  });

  it('runs pods from locally imported images, with exec and logs', async () => {
    await applyYaml(
      agentPod(
        'server',
        ['--tcp', '80', '--udp', '80'],
        '    ports: [{containerPort: 80, protocol: SCTP, hostPort: 30180}]',
      ),
    );
    await applyYaml(agentPod('client', []));
    await kubectl('-n', NS, 'wait', '--for=condition=Ready', 'pod/server', 'pod/client', '--timeout=90s');
    const out = await kubectl('-n', NS, 'exec', 'server', '--', '/bin/agent', 'version');
    expect(out).to.match(/^sctp-e2e agent/);
    expect(await kubectl('-n', NS, 'logs', 'server')).to.include('ready name=server');
  });

  it('gives an SCTP ClusterIP Service an EndpointSlice and kube-proxy -p sctp rules', async () => {
    await applyYaml(`
apiVersion: v1
kind: Service
metadata: {name: sctp-svc, namespace: ${NS}}
spec:
  selector: {app: server}
  ports: [{port: 7777, targetPort: 80, protocol: SCTP}]`);
    const slice = await poll('an SCTP EndpointSlice', { timeoutMs: 30_000 }, async () => {
      const ports = await kubectl(
        '-n',
        NS,
        'get',
        'endpointslices',
        '-l',
        'kubernetes.io/service-name=sctp-svc',
        '-o',
        'jsonpath={.items[*].ports[*].protocol}:{.items[*].ports[*].port}',
      );
      if (ports === 'SCTP:80') return ports;
      throw new Error(ports);
    });
    expect(slice).to.equal('SCTP:80');
    const ip = await kubectl('-n', NS, 'get', 'svc', 'sctp-svc', '-o', 'jsonpath={.spec.clusterIP}');
    const rule = await poll('kube-proxy SCTP rule', { timeoutMs: 30_000 }, async () => {
      const rules = (await inNode('iptables-save -t nat'))
        .split('\n')
        .filter((l) => l.includes(`-d ${ip}/32 -p sctp`));
      if (rules.length) return rules[0];
      throw new Error('no rule yet');
    });
    expect(rule).to.include('--dport 7777');
  });

  it('gives an SCTP hostPort a portmap DNAT rule for sctp', async () => {
    const [podIP, nodeName] = (
      await kubectl('-n', NS, 'get', 'pod', 'server', '-o', 'jsonpath={.status.podIP} {.spec.nodeName}')
    ).split(' ');
    // portmap writes the rule on the pod's node.
    const nat = await inNode('iptables-save -t nat', Number(/node(\d+)$/.exec(nodeName)![1]));
    expect(nat).to.include('-A CNI-HOSTPORT-DNAT -p sctp');
    expect(nat).to.include(`-p sctp -m sctp --dport 30180 -j DNAT --to-destination ${podIP}:80`);
  });

  it('enforces a NetworkPolicy: TCP that flowed is blocked once denied', async () => {
    const podIP = await kubectl('-n', NS, 'get', 'pod', 'server', '-o', 'jsonpath={.status.podIP}');
    expect(await probe('client', 'tcp', podIP, 80), 'TCP flows before the policy').to.equal('connected');
    await applyYaml(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all-ingress, namespace: ${NS}}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]`);
    const blocked = await poll('TCP to be blocked', { timeoutMs: 30_000, intervalMs: 500 }, async () => {
      const r = await probe('client', 'tcp', podIP, 80);
      if (r !== 'connected') return r;
      throw new Error(r);
    });
    expect(blocked).to.be.oneOf(['refused', 'timeout']);
    await kubectl('-n', NS, 'delete', 'networkpolicy', 'deny-all-ingress');
  });

  it('resolves kubernetes.default.svc.cluster.local from a pod', async () => {
    const out = await kubectl(
      '-n',
      NS,
      'exec',
      'client',
      '--',
      'nslookup',
      'kubernetes.default.svc.cluster.local',
    );
    const svcIP = await kubectl(
      'get',
      'svc',
      'kubernetes',
      '-n',
      'default',
      '-o',
      'jsonpath={.spec.clusterIP}',
    );
    expect(out).to.include(svcIP);
  });

  it('accepts SSH with the generated key on the node address', async () => {
    const env = clusterEnv();
    const r = await execa(
      'ssh',
      [
        '-i',
        env.SCTP_E2E_SSH_KEY,
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'BatchMode=yes',
        `root@${NODE_IP}`,
        'ip -o addr show dev cni0',
      ],
      { reject: false },
    );
    expect(r.exitCode, r.stderr).to.equal(0);
    expect(r.stdout).to.include('198.19.0.1');
  });

  it('refuses to run without root, with one line saying so', async () => {
    const r = await execa(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', join(ROOT, 'cluster', 'up.sh')],
      { reject: false, all: true },
    );
    expect(r.exitCode).to.equal(2);
    expect(r.all).to.match(/^sctp-e2e cluster: the local cluster needs root/);
  });

  it('refuses a port in use in the node, naming the port and the component that needs it', async () => {
    // A foreign listener on the DNS port in the node: CoreDNS cannot start.
    await execa('kill', ['-KILL', readFileSync(join(NODE1_DIR, 'pids', 'coredns.pid'), 'utf8').trim()]);
    const squatter = execa('ip', ['netns', 'exec', NETNS, 'busybox', 'nc', '-l', '-p', '53'], {
      reject: false,
    });
    try {
      await poll('the squatter to listen', { timeoutMs: 5000 }, async () =>
        (await inNode(`ss -Hltn 'sport = :53'`)).trim() ? true : undefined,
      );
      const r = await cluster('up');
      expect(r.code, r.output).to.equal(2);
      expect(r.output).to.match(/port 53 in sctp-e2e-node1 is in use by another process; coredns needs it/);
    } finally {
      squatter.kill('SIGKILL');
      await squatter;
    }
    await clusterUp();
  });

  it('keeps the node off the host uplink: no default route in the node', async () => {
    expect(await inNode('ip route show default')).to.equal('');
    expect(await inNode('iptables-save -t nat | grep -c -- "-o eth0" || true')).to.equal('0');
  });

  it('survives up twice, and down leaves nothing of ours, also twice; up works again', async function () {
    this.timeout(600_000);
    const again = await cluster('up');
    expect(again.code, again.output).to.equal(0);
    const down = await cluster('down');
    expect(down.code, down.output).to.equal(0);
    const left = await leftovers();
    expect(left, left.join('\n')).to.deep.equal([]);
    expect((await execa('ip', ['netns', 'list'])).stdout).to.not.include(NETNS);
    // Nothing to remove is not a failure (it was: pipefail on an empty cgroup glob).
    const downAgain = await cluster('down');
    expect(downAgain.code, downAgain.output).to.equal(0);
    // One node, as clusterUp starts it for the files after this one; the
    // default (two) is nodes.test.ts's.
    const up = await cluster('up', '--nodes', '1');
    expect(up.code, up.output).to.equal(0);
  });
});
