/**
 * Stress run of the NetworkPolicy probing, for the question "does the suite's
 * own probing ever report a blocked cell where nothing blocks?". Not a test
 * (its figures depend on the machine); run it by hand against a cluster with
 * no policy in force, as root on the local cluster:
 *
 *   node --import tsx test/stress/probe-matrix.ts [--rounds 15] [--models 3] \
 *     [--cell-timeout 2] [--form each|pipeline] [--exec session|each]
 *
 * It deploys `--models` copies of the 3 × 3 model (namespaces labelled for a
 * run, removed at the end and on Ctrl-C), then probes every model's full
 * matrix at once for `--rounds` rounds with ONE round per observation (no
 * confirmation round), and counts the cells that did not connect. With no
 * policy every cell must connect, so each one is a false "blocked".
 * `--form pipeline` probes the way the suite did before `agent probe-each`
 * (one `sh | agent probe | sed` pipeline per target), for comparison.
 * `--exec each` runs every pod's probes of a round in an exec of their own,
 * as the suite did before it kept one exec session per model pod
 * (helpers/probing/pod-session.ts).
 */
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { MODEL_PODS, CELLS, cellId } from '../../helpers/netpol/model.ts';
import { probeCells, type DeployedPod, type CellResult } from '../../helpers/netpol/probe.ts';
import { batch, inPod, UsrsctpAgent, type ProbeTarget } from '../../helpers/probing/agent.ts';
import { PodSessions } from '../../helpers/probing/pod-session.ts';
import { loadKubeConfig, makeKube } from '../../helpers/access/kube.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '15' },
    models: { type: 'string', default: '3' },
    'cell-timeout': { type: 'string', default: '2' },
    form: { type: 'string', default: 'each' },
    exec: { type: 'string', default: 'session' },
    image: { type: 'string', default: process.env.SCTP_E2E_AGENT_IMAGE ?? 'localhost/sctp-e2e/agent:0.4.1' },
    kubeconfig: {
      type: 'string',
      default: process.env.KUBECONFIG ?? '/var/lib/sctp-e2e/cluster/kubeconfig.yaml',
    },
  },
});
const rounds = Number(values.rounds);
const models = Number(values.models);
const cellTimeout = Number(values['cell-timeout']);
if (values.form !== 'each' && values.form !== 'pipeline') throw new Error('--form each|pipeline');
if (values.exec !== 'session' && values.exec !== 'each') throw new Error('--exec session|each');

/** The pre-probe-each command: one shell pipeline per target (kept here only to compare). */
class PipelineAgent extends UsrsctpAgent {
  probeCommand(targets: ProbeTarget[], timeoutSeconds: number): string[] {
    // probe-each's options for one target are exactly `agent probe`'s.
    return batch(
      targets.map((t) => ['/bin/agent', 'probe', ...super.probeCommand([t], timeoutSeconds).slice(3)]),
    );
  }
}
const agent = values.form === 'pipeline' ? new PipelineAgent(values.image) : new UsrsctpAgent(values.image);

const run = `stress-${Date.now().toString(36)}`;
const kubectl = (...args: string[]) => execa('kubectl', ['--kubeconfig', values.kubeconfig, ...args]);
const cleanup = () =>
  kubectl('delete', 'namespace', '-l', `sctp-e2e-stress=${run}`, '--wait=false').catch(() => undefined);
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

const manifests: string[] = [];
for (let m = 0; m < models; m++)
  for (const ns of ['x', 'y', 'z']) {
    const name = `${run}-m${m}-${ns}`;
    manifests.push(`apiVersion: v1
kind: Namespace
metadata: {name: ${name}, labels: {sctp-e2e-stress: ${run}}}`);
    for (const pod of ['a', 'b', 'c'])
      manifests.push(`apiVersion: v1
kind: Pod
metadata: {name: ${pod}, namespace: ${name}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: agent
    image: ${values.image}
    imagePullPolicy: IfNotPresent
    command: [/bin/agent, serve]
    args: [--sctp, "80,81", --name, ${ns}-${pod}]
    securityContext: {capabilities: {add: [NET_RAW]}}`);
  }

try {
  await execa('kubectl', ['--kubeconfig', values.kubeconfig, 'apply', '-f', '-'], {
    input: manifests.join('\n---\n'),
  });
  const kube = makeKube(loadKubeConfig({ kubeconfig: values.kubeconfig }));
  const deployed: DeployedPod[][] = [];
  for (let m = 0; m < models; m++) {
    const pods: DeployedPod[] = [];
    for (const p of MODEL_PODS) {
      const namespace = `${run}-m${m}-${p.ns}`;
      await kubectl('-n', namespace, 'wait', '--for=condition=Ready', `pod/${p.pod}`, '--timeout=180s');
      const ip = (await kubectl('-n', namespace, 'get', 'pod', p.pod, '-o', 'jsonpath={.status.podIP}'))
        .stdout;
      pods.push({ ...p, namespace, name: p.pod, container: 'agent', ip });
    }
    deployed.push(pods);
  }
  const sessions = new PodSessions(kube);
  const execFor = (p: DeployedPod) =>
    values.exec === 'session'
      ? sessions.executor(p.namespace, p.name, p.container)
      : inPod(kube, p.namespace, p.name, p.container);
  let cells = 0;
  const notConnected: CellResult[] = [];
  const roundMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = Date.now();
    const all = await Promise.all(
      deployed.map((pods) => probeCells(agent, execFor, pods, CELLS, cellTimeout)),
    );
    roundMs.push(Date.now() - t0);
    for (const results of all) {
      cells += results.length;
      notConnected.push(...results.filter((c) => c.result.result !== 'connected'));
    }
  }
  for (const c of notConnected.slice(0, 10))
    console.log(`  ${cellId(c.cell)} ${c.result.result}: ${c.result.raw.replace(/\s+/g, ' ').slice(0, 200)}`);
  const byKind = notConnected.reduce<Record<string, number>>((acc, c) => {
    acc[c.result.result] = (acc[c.result.result] ?? 0) + 1;
    return acc;
  }, {});
  roundMs.sort((a, b) => a - b);
  console.log(
    `form=${values.form} exec=${values.exec} models=${models} pods=${models * MODEL_PODS.length} cell-timeout=${cellTimeout}s rounds=${rounds}: ` +
      `${cells} cells, ${notConnected.length} not connected ${JSON.stringify(byKind)} ` +
      `(${((100 * notConnected.length) / cells).toFixed(2)} %); round median ${roundMs[Math.floor(roundMs.length / 2)]} ms`,
  );
  sessions.close();
} finally {
  await cleanup();
}
