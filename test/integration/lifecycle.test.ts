/**
 * Runs always end clean, on the local cluster (issue 9, bullets 7 and 9):
 *  - an unusable --report-dir is exit 2 with one line within 5 s;
 *  - an image the node cannot pull ends node-access setup at once, naming
 *    the image and --host-exec-image (not after the whole pod timeout);
 *  - SIGINT while the host-exec pod is pending, during a test and during the
 *    run's cleanup: exit 130 and no namespace of the run after 60 s;
 *  - a second SIGINT exits at once.
 * Each row finds its moment by watching the API (the namespaces the run
 * makes) or the run's own console, not by guessing a delay.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa, type ResultPromise } from 'execa';
import { loadKubeConfig, makeKube } from '../../helpers/access/kube.ts';
import { RUN_LABEL } from '../../helpers/access/namespaces.ts';
import { poll, sleep } from '../../helpers/framework/poll.ts';
import { ROOT } from '../../helpers/framework/runner.ts';
import { clusterUp, KUBECONFIG, kubectl, sctpE2e } from './local-cluster.ts';

const CLI = join(ROOT, 'bin', 'sctp-e2e');
const tmp = tempDir('sctp-e2e-lifecycle-');
/** One quick basic-tier test: one namespace, one pod, a Service. */
const ONE_TEST = 'SCTP ServicePorts of type ClusterIP';
const kube = () => makeKube(loadKubeConfig({ kubeconfig: KUBECONFIG }));

/** A run in the background whose console is read as it comes. */
class BackgroundRun {
  readonly child: ResultPromise;
  stdout = '';
  stderr = '';
  constructor(args: string[]) {
    this.child = execa(CLI, args, { reject: false, env: { SCTP_E2E_DEBUG: undefined }, extendEnv: true });
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }
  get pid(): number {
    return this.child.pid!;
  }
  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async end(): Promise<{ code: number; seconds: number }> {
    const started = Date.now();
    const r = await this.child;
    return { code: r.exitCode ?? -1, seconds: (Date.now() - started) / 1000 };
  }
}

/** The first namespace of any run matching `selector`, as soon as the API lists it. */
async function firstNamespace(
  run: BackgroundRun,
  selector: string,
): Promise<{ name: string; runId: string }> {
  const k = kube();
  return poll(`a namespace ${selector}`, { timeoutMs: 120_000, intervalMs: 50 }, async () => {
    if (!run.alive()) throw new Error(`the run ended first:\n${run.stdout}\n${run.stderr}`);
    const ns = (await k.core.listNamespace({ labelSelector: selector })).items[0];
    return ns && { name: ns.metadata!.name!, runId: ns.metadata!.labels![RUN_LABEL] };
  });
}

/** The run's namespaces this long after `since`, polled until none is left. */
async function namespacesLeft(runId: string, since: number, withinMs = 60_000): Promise<string[]> {
  const k = kube();
  const list = async () =>
    (await k.core.listNamespace({ labelSelector: `${RUN_LABEL}=${runId}` })).items.map(
      (n) => n.metadata!.name!,
    );
  for (;;) {
    const left = await list();
    if (left.length === 0 || Date.now() - since > withinMs) return left;
    await sleep(500);
  }
}

function expectEndedBySignal(run: BackgroundRun, code: number): void {
  const detail = `${run.stdout.slice(-3000)}\n${run.stderr}`;
  expect(code, detail).to.equal(130);
  expect(run.stderr, detail).to.match(/sctp-e2e: SIGINT: stopping; removing this run's namespaces/);
  // An interrupted run claims no verdict.
  expect(run.stdout, detail).to.not.match(/^\d+ passed, \d+ failed, \d+ skipped$/m);
}

describe('runs always end clean (local cluster)', function () {
  this.timeout(600_000);
  before(clusterUp);
  afterEach(async () => {
    // Whatever a failed row left: the cluster stays clean for the next one.
    await kubectl('delete', 'namespaces', '-l', RUN_LABEL, '--wait=false').catch(() => undefined);
  });

  it('an unusable --report-dir: exit 2 with one line within 5 s', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    for (const dir of ['/proc/forbidden', join(file, 'reports')]) {
      const r = await sctpE2e(['run', '--report-dir', dir]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.include(`--report-dir ${dir} is not a directory this run can write`);
      expect(r.seconds, `${dir}: ${r.seconds} s`).to.be.below(5);
    }
  });

  it('an image the node cannot pull ends node-access setup at once, naming the image and the flag', async () => {
    const run = new BackgroundRun([
      'run',
      '--node-access',
      'pod',
      '--host-exec-image',
      'localhost/none:0',
      '--focus',
      ONE_TEST,
      '--report-dir',
      join(tmp, 'pull'),
    ]);
    const { runId } = await firstNamespace(run, 'sctp-e2e.io/purpose=hostexec');
    const { code, seconds } = await run.end();
    expect(code, run.stderr).to.equal(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).to.have.length(1);
    expect(lines[0]).to.match(
      /host-exec pod on sctp-e2e-node1: the node cannot pull image localhost\/none:0 \((ErrImagePull|ImagePullBackOff)/,
    );
    expect(lines[0]).to.include('--host-exec-image');
    expect(seconds, 'far below the 120 s pod timeout').to.be.below(30);
    expect(await namespacesLeft(runId, Date.now())).to.deep.equal([]);
  });

  it('SIGINT while the host-exec pod is pending: exit 130, no namespace of the run after 60 s', async () => {
    // The image cannot be pulled, so the pod stays Pending until the run
    // notices; the signal comes as soon as the host-exec namespace exists.
    const run = new BackgroundRun([
      'run',
      '--node-access',
      'pod',
      '--host-exec-image',
      'localhost/none:0',
      '--focus',
      ONE_TEST,
      '--report-dir',
      join(tmp, 'setup'),
    ]);
    const { runId } = await firstNamespace(run, 'sctp-e2e.io/purpose=hostexec');
    const signalled = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.end();
    expectEndedBySignal(run, code);
    expect(run.stderr, 'the signal came before the pull failure').to.not.include('cannot pull');
    expect(await namespacesLeft(runId, signalled)).to.deep.equal([]);
  });

  it('SIGINT during a test: exit 130, no namespace of the run after 60 s', async () => {
    const reportDir = join(tmp, 'test');
    const run = new BackgroundRun([
      'run',
      '--node-access',
      'pod',
      '--focus',
      ONE_TEST,
      '--report-dir',
      reportDir,
    ]);
    // The test's own namespace exists: the test is running.
    const { runId } = await firstNamespace(run, `${RUN_LABEL},sctp-e2e.io/purpose=decl-clusterip`);
    const signalled = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.end();
    expectEndedBySignal(run, code);
    expect(existsSync(join(reportDir, 'run.json')), 'an interrupted run writes no run.json').to.equal(false);
    expect(await namespacesLeft(runId, signalled)).to.deep.equal([]);
  });

  it('SIGINT during the run’s cleanup: exit 130, no namespace of the run after 60 s', async () => {
    const run = new BackgroundRun([
      'run',
      '--node-access',
      'pod',
      '--focus',
      ONE_TEST,
      '--report-dir',
      join(tmp, 'cleanup'),
    ]);
    const { runId } = await firstNamespace(run, 'sctp-e2e.io/purpose=hostexec');
    // The test's verdict line: from here on the run only ends. Freeze it at
    // once, then let it go in small steps until its cleanup has begun (the
    // host-exec namespace is being deleted), and signal it right there.
    await poll('the test verdict line', { timeoutMs: 300_000, intervalMs: 5 }, async () =>
      /^(ok|FAIL|ERROR|skip|KNOWN) /m.test(run.stdout) ? true : undefined,
    );
    process.kill(run.pid, 'SIGSTOP');
    const k = kube();
    const hostexec = `sctp-e2e-${runId}-hostexec`;
    const deleting = async () => {
      const ns = await k.core.readNamespace({ name: hostexec }).catch(() => undefined);
      return !ns || Boolean(ns.metadata?.deletionTimestamp);
    };
    for (let i = 0; i < 500 && !(await deleting()); i++) {
      process.kill(run.pid, 'SIGCONT');
      await sleep(10);
      process.kill(run.pid, 'SIGSTOP');
    }
    expect(await deleting(), 'the run reached its cleanup').to.equal(true);
    expect(run.alive(), 'the run had not ended yet').to.equal(true);
    const signalled = Date.now();
    process.kill(run.pid, 'SIGINT');
    process.kill(run.pid, 'SIGCONT');
    const { code } = await run.end();
    expectEndedBySignal(run, code);
    expect(await namespacesLeft(runId, signalled)).to.deep.equal([]);
  });

  it('a second SIGINT exits at once', async () => {
    const run = new BackgroundRun([
      'run',
      '--node-access',
      'pod',
      '--focus',
      ONE_TEST,
      '--report-dir',
      join(tmp, 'twice'),
    ]);
    const { runId } = await firstNamespace(run, `${RUN_LABEL},sctp-e2e.io/purpose=decl-clusterip`);
    run.child.kill('SIGINT');
    await poll('the first signal to be taken', { timeoutMs: 10_000, intervalMs: 5 }, async () =>
      run.stderr.includes('SIGINT: stopping') ? true : undefined,
    );
    const second = Date.now();
    run.child.kill('SIGINT');
    const { code } = await run.end();
    const seconds = (Date.now() - second) / 1000;
    expect(code, run.stderr).to.equal(130);
    expect(run.stderr).to.include('second SIGINT: exiting now');
    expect(seconds, `${seconds} s after the second signal`).to.be.below(2);
    // What the first signal had not finished, `sctp-e2e cleanup` removes.
    const cleanup = await sctpE2e(['cleanup', '--run', runId]);
    expect(cleanup.code, cleanup.stderr).to.equal(0);
    expect(await namespacesLeft(runId, Date.now())).to.deep.equal([]);
  });
});
