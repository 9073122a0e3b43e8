/**
 * OpenShift SCTP enablement against the live local cluster. The cluster is
 * not OpenShift, so the test installs CustomResourceDefinitions of our own
 * for MachineConfig and MachineConfigPool (fixtures/openshift/crds.yaml) and
 * plays the Machine Config Operator by writing the pool's status through the
 * status subresource. What this cannot show — the MCO rendering the config,
 * draining and rebooting nodes, the module loading at boot — needs a real
 * OpenShift cluster (see README, "OpenShift").
 */
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { poll } from '../../helpers/framework/poll.ts';
import { ROOT } from '../../helpers/framework/runner.ts';
import { clusterIsUp, kubectl, sctpE2e, CACHE_BIN, KUBECONFIG, type CliRun } from './local-cluster.ts';

const CRDS = join(ROOT, 'fixtures', 'openshift', 'crds.yaml');
const MC_NAME = 'load-sctp-module';
const TEST_LABEL = 'sctp-e2e.io/test=openshift';
const ROLE = 'machineconfiguration.openshift.io/role';

async function apply(yaml: string): Promise<void> {
  const r = await execa(join(CACHE_BIN, 'kubectl'), ['--kubeconfig', KUBECONFIG, 'apply', '-f', '-'], {
    input: yaml,
    reject: false,
    all: true,
  });
  if (r.exitCode !== 0) throw new Error(`kubectl apply failed: ${r.all}`);
}

/** Status as the MCO would write it; `sources` are the MachineConfigs of the rendered config. */
async function setPoolStatus(s: {
  rendered: string;
  sources: string[];
  machines?: number;
  updated: number;
  updating?: string;
}): Promise<void> {
  const machines = s.machines ?? 2;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const done = !s.updating && s.updated === machines;
  const status = {
    machineCount: machines,
    updatedMachineCount: s.updated,
    readyMachineCount: machines - (done ? 0 : 1),
    unavailableMachineCount: done ? 0 : 1,
    degradedMachineCount: 0,
    configuration: {
      name: s.rendered,
      source: s.sources.map((name) => ({
        apiVersion: 'machineconfiguration.openshift.io/v1',
        kind: 'MachineConfig',
        name,
      })),
    },
    conditions: [
      {
        type: 'Updated',
        status: done ? 'True' : 'False',
        lastTransitionTime: now,
        reason: '',
        message: done ? `All nodes are updated with ${s.rendered}` : '',
      },
      {
        type: 'Updating',
        status: done ? 'False' : 'True',
        lastTransitionTime: now,
        reason: '',
        message: s.updating ?? '',
      },
      { type: 'Degraded', status: 'False', lastTransitionTime: now, reason: '', message: '' },
    ],
  };
  await kubectl(
    'patch',
    'machineconfigpool',
    'worker',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  );
}

/** The CLI started in the background, with its output readable while it runs. */
function startCli(args: string[]): { output: () => string; done: Promise<CliRun> } {
  const started = Date.now();
  const child = execa(join(ROOT, 'bin', 'sctp-e2e'), args, {
    reject: false,
    env: { SCTP_E2E_DEBUG: undefined },
    extendEnv: true,
  });
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = child.then((r) => ({
    code: r.exitCode ?? -1,
    stdout: r.stdout as string,
    stderr: r.stderr as string,
    verdicts: new Map(),
    seconds: (Date.now() - started) / 1000,
  }));
  return { output: () => stdout, done };
}

async function printed(cli: { output: () => string }, pattern: RegExp): Promise<void> {
  await poll(`the CLI to print ${pattern}`, { timeoutMs: 60_000, intervalMs: 200 }, async () => {
    if (pattern.test(cli.output())) return true;
    throw new Error(cli.output().split('\n').slice(-3).join(' | ') || '(no output)');
  });
}

async function machineConfigNames(): Promise<string[]> {
  return (await kubectl('get', 'machineconfigs', '-o', 'jsonpath={.items[*].metadata.name}'))
    .split(/\s+/)
    .filter(Boolean);
}

function expectOk(run: CliRun): void {
  expect(run.code, `${run.stdout}\n${run.stderr}`).to.equal(0);
}

function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.code, run.stdout + run.stderr).to.equal(2);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
  expect(run.stderr).to.not.match(/\n\s+at /);
}

/** The OpenShift pool table row for worker, from preflight output. */
function workerRow(run: CliRun): string {
  return run.stdout.split('\n').find((l) => /^worker\s/.test(l)) ?? `(no worker row in:\n${run.stdout})`;
}

const otherNameSameFiles = `
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: 99-worker-my-own-sctp
  labels: {${ROLE}: worker, sctp-e2e.io/test: openshift}
spec:
  config:
    ignition: {version: 2.2.0}
    storage:
      files:
      - {contents: {source: "data:,"}, verification: {}, filesystem: root, mode: 420, path: /etc/modprobe.d/sctp-blacklist.conf}
      - {contents: {source: "data:text/plain;charset=utf-8,sctp"}, filesystem: root, mode: 420, path: /etc/modules-load.d/sctp-load.conf}
`;

const blacklistOnly = `
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: 98-worker-blacklist-only
  labels: {${ROLE}: worker, sctp-e2e.io/test: openshift}
spec:
  config:
    ignition: {version: 3.2.0}
    storage:
      files:
      - {path: /etc/modprobe.d/sctp-blacklist.conf, mode: 420, overwrite: true, contents: {source: "data:,"}}
`;

async function removeEverything(): Promise<void> {
  // Objects first (by name and by our test label), then the definitions,
  // which would take any straggler with them.
  const crdsThere =
    (await kubectl('get', 'crd', '-l', 'sctp-e2e.io/fixture=openshift-crds', '-o', 'name')).trim() !== '';
  if (crdsThere) {
    await kubectl('delete', 'machineconfigs', '-l', TEST_LABEL, '--ignore-not-found', '--wait=true');
    await kubectl('delete', 'machineconfig', MC_NAME, '--ignore-not-found', '--wait=true');
    await kubectl('delete', 'machineconfigpool', 'worker', '--ignore-not-found', '--wait=true');
  }
  await kubectl('delete', '-f', CRDS, '--ignore-not-found', '--wait=true');
}

describe('OpenShift: sctp-e2e enable-sctp / disable-sctp / preflight against MachineConfig CRDs on the local cluster', function () {
  this.timeout(300_000);

  before(async function () {
    if (!clusterIsUp())
      throw new Error('the local cluster is not up: run `sudo bin/sctp-e2e cluster up` first');
    await removeEverything(); // leftovers of an interrupted earlier run
    await kubectl('apply', '-f', CRDS);
    await kubectl(
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      'crd/machineconfigs.machineconfiguration.openshift.io',
      'crd/machineconfigpools.machineconfiguration.openshift.io',
    );
    // A worker pool as the installer makes it, holding the local node, and
    // the pool's base config; its status says two machines are up to date.
    await apply(`
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfigPool
metadata:
  name: worker
  labels: {sctp-e2e.io/test: openshift}
spec:
  machineConfigSelector:
    matchLabels: {${ROLE}: worker}
  nodeSelector:
    matchLabels: {kubernetes.io/os: linux}
---
apiVersion: machineconfiguration.openshift.io/v1
kind: MachineConfig
metadata:
  name: 00-worker
  labels: {${ROLE}: worker, sctp-e2e.io/test: openshift}
spec:
  config:
    ignition: {version: 3.2.0}
    storage:
      files:
      - {path: /etc/kubernetes/kubelet-ca.crt, mode: 420, contents: {source: "data:,x"}}
`);
    await setPoolStatus({ rendered: 'rendered-worker-1', sources: ['00-worker'], updated: 2 });
  });

  after(async function () {
    this.timeout(120_000);
    await removeEverything();
  });

  it('enable-sctp without --openshift, with an unknown pool or a bad --wait-timeout exits 2 with one line', async () => {
    expectOneLineError(await sctpE2e(['enable-sctp']), /^sctp-e2e: enable-sctp needs --openshift — /);
    expectOneLineError(
      await sctpE2e(['enable-sctp', '--openshift', '--pool', 'nosuch']),
      /^sctp-e2e: MachineConfigPool "nosuch" does not exist — use --pool with one of: worker$/,
    );
    expectOneLineError(
      await sctpE2e(['enable-sctp', '--openshift', '--wait-timeout', 'soon']),
      /^sctp-e2e: invalid --wait-timeout "soon"/,
    );
    expectOneLineError(
      await sctpE2e(['preflight', '--pool', 'worker']),
      /belong to enable-sctp and disable-sctp, not preflight/,
    );
  });

  it('enable-sctp --dry-run prints the documented MachineConfig for the pool and creates nothing', async () => {
    const run = await sctpE2e(['enable-sctp', '--openshift', '--dry-run']);
    expectOk(run);
    const mc = parseYaml(run.stdout) as {
      kind: string;
      metadata: { name: string; labels: Record<string, string> };
      spec: { config: { ignition: { version: string } } };
    };
    expect(mc.kind).to.equal('MachineConfig');
    expect(mc.metadata.name).to.equal(MC_NAME);
    expect(mc.metadata.labels[ROLE]).to.equal('worker');
    expect(mc.spec.config.ignition.version).to.equal('3.2.0');
    expect(run.stdout).to.include('source: data:,sctp');
    expect(await machineConfigNames()).to.not.include(MC_NAME);
  });

  it('preflight sees OpenShift and reports the worker pool as not enabled, with the remedy per node', async () => {
    const run = await sctpE2e(['preflight']);
    expectOk(run);
    expect(run.stdout).to.include('OpenShift       machineconfiguration.openshift.io served');
    expect(workerRow(run)).to.match(/^worker\s+not enabled\s+-\s+2\/2 updated \(rendered-worker-1\)/);
    expect(run.stdout).to.match(/^sctp-e2e-node1\s+worker\s+-\s+absent\s+no sctp/m);
    expect(run.stdout).to.include(
      'remedy          SCTP is not enabled on node sctp-e2e-node1 (MachineConfigPool worker: nothing overwrites /etc/modprobe.d/sctp-blacklist.conf',
    );
    expect(run.stdout).to.include('run `sctp-e2e enable-sctp --openshift --pool worker`');
  });

  it('with the kernel-SCTP agent, connectivity tests skip with that remedy instead of failing', async () => {
    // agnhost needs sctp.ko, which this pool does not enable yet: nothing is
    // deployed, each test says what to run.
    const run = await sctpE2e([
      'run',
      '--disruptive',
      '--agent',
      'agnhost',
      '--focus',
      'pod to pod over SCTP by pod IP on the same node',
      '--report-dir',
      join(ROOT, 'reports', 'openshift-skip'),
    ]);
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.summary).to.deep.equal({ passed: 0, failed: 0, skipped: 1 });
    expect(run.stdout).to.match(
      /SCTP is not enabled on 1 node\(s\), e\.g\. sctp-e2e-node1: .*sctp-e2e enable-sctp --openshift --pool worker/,
    );
  });

  it('enable-sctp creates the MachineConfig, the API accepts it, and it waits for the pool to report it on all machines', async () => {
    const cli = startCli(['enable-sctp', '--openshift', '--pool', 'worker', '--wait-timeout', '120']);
    await printed(cli, /waiting up to 120 s \(until \S+Z\) for MachineConfigPool worker/);
    const mc = JSON.parse(await kubectl('get', 'machineconfig', MC_NAME, '-o', 'json'));
    expect(mc.metadata.labels).to.deep.equal({
      [ROLE]: 'worker',
      'app.kubernetes.io/managed-by': 'sctp-e2e',
    });
    expect(mc.spec.config.storage.files).to.deep.equal([
      {
        path: '/etc/modprobe.d/sctp-blacklist.conf',
        mode: 420,
        overwrite: true,
        contents: { source: 'data:,' },
      },
      {
        path: '/etc/modules-load.d/sctp-load.conf',
        mode: 420,
        overwrite: true,
        contents: { source: 'data:,sctp' },
      },
    ]);
    // Still "Updated", but for the old config: not done.
    await printed(
      cli,
      /worker: config rendered-worker-1 \(without load-sctp-module\), 2\/2 machines updated/,
    );
    await setPoolStatus({
      rendered: 'rendered-worker-1',
      sources: ['00-worker'],
      updated: 1,
      updating: 'All nodes are updating to rendered-worker-2',
    });
    await printed(
      cli,
      /1\/2 machines updated, 1 ready, 0 degraded, Updated=False Updating=True Degraded=False \(All nodes are updating to rendered-worker-2\)/,
    );
    await setPoolStatus({ rendered: 'rendered-worker-2', sources: ['00-worker', MC_NAME], updated: 2 });
    const run = await cli.done;
    expectOk(run);
    expect(run.stdout).to.include(
      `created MachineConfig ${MC_NAME} (${ROLE}=worker) for MachineConfigPool worker`,
    );
    expect(run.stdout).to.include(
      'SCTP is enabled on MachineConfigPool worker: 2/2 machines run rendered-worker-2 (from load-sctp-module)',
    );
  });

  it('enable-sctp again is idempotent: unchanged, one MachineConfig, done at once', async () => {
    const before = JSON.parse(await kubectl('get', 'machineconfig', MC_NAME, '-o', 'json')).metadata
      .resourceVersion;
    const run = await sctpE2e(['enable-sctp', '--openshift', '--pool', 'worker', '--wait-timeout', '30']);
    expectOk(run);
    expect(run.stdout).to.include(
      `MachineConfig ${MC_NAME} for MachineConfigPool worker is already as it should be: unchanged`,
    );
    expect(
      JSON.parse(await kubectl('get', 'machineconfig', MC_NAME, '-o', 'json')).metadata.resourceVersion,
    ).to.equal(before);
    expect((await machineConfigNames()).sort()).to.deep.equal(['00-worker', MC_NAME]);
  });

  it('preflight reports the worker pool as enabled by load-sctp-module, and no remedy', async () => {
    const run = await sctpE2e(['preflight']);
    expectOk(run);
    expect(workerRow(run)).to.match(
      /^worker\s+enabled\s+load-sctp-module\s+2\/2 updated \(rendered-worker-2\)$/,
    );
    expect(run.stdout).to.not.include('remedy ');
  });

  it('disable-sctp deletes it and waits for the pool to roll out without it', async () => {
    const cli = startCli(['disable-sctp', '--openshift', '--pool', 'worker', '--wait-timeout', '120']);
    await printed(cli, /worker: config rendered-worker-2 \(still with load-sctp-module\)/);
    expect(await machineConfigNames()).to.not.include(MC_NAME);
    await setPoolStatus({ rendered: 'rendered-worker-3', sources: ['00-worker'], updated: 2 });
    const run = await cli.done;
    expectOk(run);
    expect(run.stdout).to.include(`deleted MachineConfig ${MC_NAME} from MachineConfigPool worker`);
    expect(run.stdout).to.include('SCTP is not enabled by any MachineConfig of MachineConfigPool worker');
    expectOk(await sctpE2e(['disable-sctp', '--openshift', '--pool', 'worker']));
  });

  it('a MachineConfig with another name but the same files (Ignition 2.2, as older docs wrote it) counts as enabled', async () => {
    await apply(otherNameSameFiles);
    await setPoolStatus({
      rendered: 'rendered-worker-4',
      sources: ['00-worker', '99-worker-my-own-sctp'],
      updated: 2,
    });
    const pre = await sctpE2e(['preflight']);
    expectOk(pre);
    expect(workerRow(pre)).to.match(/^worker\s+enabled\s+99-worker-my-own-sctp\s/);
    // enable-sctp does not add a second MachineConfig (another reboot of every node).
    const run = await sctpE2e(['enable-sctp', '--openshift', '--wait-timeout', '30']);
    expectOk(run);
    expect(run.stdout).to.include(
      'MachineConfigPool worker already enables SCTP by MachineConfig 99-worker-my-own-sctp: nothing to create',
    );
    expect(await machineConfigNames()).to.not.include(MC_NAME);
    await kubectl('delete', 'machineconfig', '99-worker-my-own-sctp', '--wait=true');
  });

  it('a MachineConfig with only the blacklist file does not count as enabled', async () => {
    await apply(blacklistOnly);
    const run = await sctpE2e(['preflight']);
    expectOk(run);
    expect(workerRow(run)).to.match(
      /^worker\s+not enabled\s+-\s+.*no \/etc\/modules-load\.d\/\*\.conf lists sctp$/,
    );
    await kubectl('delete', 'machineconfig', '98-worker-blacklist-only', '--wait=true');
  });

  it('enable-sctp exits 2 with one line naming the pool, what it saw and the deadline when the rollout does not finish', async () => {
    await setPoolStatus({ rendered: 'rendered-worker-5', sources: ['00-worker'], updated: 2 });
    const run = await sctpE2e(['enable-sctp', '--openshift', '--pool', 'worker', '--wait-timeout', '4']);
    expectOneLineError(
      run,
      /^sctp-e2e: MachineConfigPool worker did not roll out a config with load-sctp-module to all machines by the deadline \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \(--wait-timeout 4 s\); last seen: config rendered-worker-5 \(without load-sctp-module\), 2\/2 machines updated, 2 ready, 0 degraded, Updated=True Updating=False Degraded=False — see `oc get mcp worker`/,
    );
    expect(run.stdout).to.include(`created MachineConfig ${MC_NAME}`);
    expect(run.seconds).to.be.lessThan(30);
    expectOk(await sctpE2e(['disable-sctp', '--openshift', '--pool', 'worker', '--wait-timeout', '30']));
  });
});
