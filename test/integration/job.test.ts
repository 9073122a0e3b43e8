/**
 * The suite where nightly CI runs it, on the local cluster: `sctp-e2e job`
 * (the suite image as a Job with in-cluster config) judges like the run from
 * outside, copies its reports out and leaves nothing behind, even on Ctrl-C;
 * its ClusterRole holds no rule the run can do without; and the Sonobuoy
 * plugin's pod, run the way Sonobuoy's worker runs it, leaves its JUnit and
 * the done file where the worker looks.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import type * as k8s from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../helpers/framework/config.ts';
import { jobCommand, jobNames, jobObjects } from '../../helpers/in-cluster/job.ts';
import { poll } from '../../helpers/framework/poll.ts';
import { accessName, clusterRoleRules } from '../../helpers/access/rbac.ts';
import { ROOT } from '../../helpers/framework/runner.ts';
import { cluster, clusterEnv, clusterUp, kubectl, sctpE2e, type CliRun } from './local-cluster.ts';

const tmp = tempDir('sctp-e2e-job-');
const BASIC = '\\[Feature:SCTP\\]';
/** A few quick tests: enough to see a run start, judge and report. */
const FEW = '\\[Feature:SCTP\\] declaring SCTP Services';

function verdictTable(run: CliRun): string[] {
  return [...run.verdicts].map(([title, verdict]) => `${verdict} ${title}`).sort();
}

/** Objects of run `runId` still listed: namespaces (job's and inner run's), ClusterRoles, bindings. */
async function leftovers(runId: string): Promise<string> {
  const names = await Promise.all([
    kubectl('get', 'namespaces', '-l', `sctp-e2e.io/run in (${runId},${runId}-in)`, '-o', 'name'),
    kubectl('get', 'clusterroles,clusterrolebindings', '-l', `sctp-e2e.io/run=${runId}`, '-o', 'name'),
  ]);
  return names.join('\n').trim();
}

async function goneWithin(runId: string, ms: number): Promise<string> {
  return poll(`the objects of run ${runId} to be gone`, { timeoutMs: ms, intervalMs: 1000 }, async () => {
    const left = await leftovers(runId);
    if (left === '') return left;
    throw new Error(left);
  }).catch(() => leftovers(runId));
}

describe('sctp-e2e job and the Sonobuoy plugin on the local cluster', function () {
  this.timeout(900_000);
  before(async () => {
    await clusterUp();
    // `job` loads the suite image itself; the Sonobuoy test's pod needs it too.
    const r = await cluster('load-suite');
    if (r.code !== 0) throw new Error(`cluster load-suite failed (exit ${r.code}):\n${r.output}`);
  });

  it('runs [Feature:SCTP] in a Job with the verdicts of the run from outside, copies the reports out, leaves nothing', async () => {
    // The same selection and settings from outside: node access through the
    // host-exec pod, no outside client (the job cannot have one).
    const outside = await sctpE2e([
      'run',
      '--focus',
      BASIC,
      '--node-access',
      'pod',
      '--external-agent',
      '',
      '--report-dir',
      join(tmp, 'outside'),
    ]);
    const reportDir = join(tmp, 'job');
    const inside = await sctpE2e(['job', '--focus', BASIC, '--report-dir', reportDir]);
    const detail = `${inside.stdout.slice(-4000)}\n${inside.stderr}`;
    expect(outside.code, outside.stdout.slice(-3000)).to.equal(0);
    expect(inside.code, detail).to.equal(outside.code);
    expect(inside.summary, detail).to.deep.equal(outside.summary);
    expect(verdictTable(inside)).to.deep.equal(verdictTable(outside));
    expect(inside.stdout).to.match(/node access pod/);
    for (const f of ['run.json', 'junit.xml', 'summary.md', 'allure-results'])
      expect(existsSync(join(reportDir, f)), `${f} copied out`).to.equal(true);
    expect(JSON.parse(readFileSync(join(reportDir, 'run.json'), 'utf8')).exitCode).to.equal(0);
    const runId = /^sctp-e2e job (\S+):/m.exec(inside.stdout)![1];
    expect(await goneWithin(runId, 60_000)).to.equal('');
  });

  it('Ctrl-C during job leaves no namespace, ClusterRole or ClusterRoleBinding of the run after 60 s', async () => {
    const child = execa(
      join(ROOT, 'bin', 'sctp-e2e'),
      ['job', '--focus', BASIC, '--report-dir', join(tmp, 'int')],
      {
        reject: false,
        all: true,
      },
    );
    let output = '';
    // Interrupt once the run inside the pod has started creating things.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the in-cluster run never started:\n${output}`)),
        300_000,
      );
      child.all!.on('data', (d: Buffer) => {
        output += d.toString();
        if (/^(ok|FAIL|skip) /m.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    const runId = /^sctp-e2e job (\S+):/m.exec(output)![1];
    child.kill('SIGINT');
    const stopped = Date.now();
    const r = await child;
    expect(r.exitCode, r.all).to.equal(130);
    expect(await goneWithin(runId, 60_000 - (Date.now() - stopped)), r.all).to.equal('');
  });

  it('needs every rule of its ClusterRole: without any one the in-cluster run exits 2 naming it', async () => {
    // Positive control: the whole ClusterRole runs the tier (the first test).
    const rules = clusterRoleRules();
    const outcomes: string[] = [];
    const one = async (i: number) => {
      const rule = rules[i];
      const needed = rule.verbs.map((verb) =>
        accessName({ verb, resource: rule.resources![0], group: rule.apiGroups![0] || undefined }),
      );
      const out: string[] = [];
      const err: string[] = [];
      const config = loadConfig({ flags: { focus: FEW, quiet: true, reportDir: join(tmp, `rbac-${i}`) } });
      const code = await jobCommand(config, {
        keep: false,
        rules: rules.filter((_, j) => j !== i),
        out: (l) => out.push(l),
        err: (l) => err.push(l),
      });
      const detail = `without ${needed.join(', ')}:\n${out.join('\n')}\n${err.join('\n')}`;
      expect(code, detail).to.equal(2);
      expect(err, detail).to.have.length(1);
      expect(err[0], detail).to.match(/lacks RBAC for: /);
      for (const name of needed) expect(err[0], detail).to.include(name);
      expect(await goneWithin(config.runId, 60_000)).to.equal('');
      outcomes.push(`${needed.join(', ')}: exit ${code}`);
    };
    // Three at a time: each is a pod start and the preflight, a few seconds.
    // allSettled: a failing one must not leave the others running past the test.
    for (let i = 0; i < rules.length; i += 3) {
      const batch = await Promise.allSettled([i, i + 1, i + 2].filter((j) => j < rules.length).map(one));
      for (const r of batch) if (r.status === 'rejected') throw r.reason;
    }
    expect(outcomes).to.have.length(rules.length);
  });

  it('a suite image that cannot be pulled ends job with exit 2 and one line', async () => {
    const r = await sctpE2e(['job', '--focus', FEW, '--suite-image', 'localhost/sctp-e2e/no-such-image:0']);
    expect(r.code, r.stdout + r.stderr).to.equal(2);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(/cannot start: .*(ErrImagePull|ImagePullBackOff)/);
    const runId = /^sctp-e2e job (\S+):/m.exec(r.stdout)![1];
    expect(await goneWithin(runId, 60_000)).to.equal('');
  });

  it('the Sonobuoy plugin, run as Sonobuoy runs it, writes its JUnit and the done file naming it', async () => {
    const plugin = parseYaml(readFileSync(join(ROOT, 'fixtures', 'sonobuoy', 'sctp-e2e.yaml'), 'utf8')) as {
      'sonobuoy-config': Record<string, string>;
      spec: k8s.V1Container;
    };
    expect(plugin['sonobuoy-config']).to.include({ driver: 'Job', 'result-format': 'junit' });
    const expected = (await sctpE2e(['run', '--list', '--focus', FEW])).stdout.trim().split('\n').length;
    expect(expected).to.be.greaterThan(0);

    // What `sonobuoy run --plugin sctp-e2e.yaml --plugin-env sctp-e2e.NAME=VALUE` makes:
    // the plugin container with the worker's variables and overrides, the
    // worker sidecar waiting for the done file, the results emptyDir.
    const local = clusterEnv();
    const overrides: Record<string, string> = {
      SCTP_E2E_FOCUS: FEW,
      SCTP_E2E_AGENT: 'usrsctp',
      SCTP_E2E_AGENT_IMAGE: local.SCTP_E2E_AGENT_IMAGE,
    };
    const results = '/tmp/sonobuoy/results';
    const env = [
      ...plugin.spec.env!.map((e) => (e.name in overrides ? { name: e.name, value: overrides[e.name] } : e)),
      { name: 'SONOBUOY', value: 'true' },
      { name: 'SONOBUOY_CONFIG_DIR', value: '/tmp/sonobuoy/config' },
      { name: 'SONOBUOY_RESULTS_DIR', value: results },
      { name: 'SONOBUOY_PROGRESS_PORT', value: '8099' },
    ];
    const config = loadConfig({ flags: {} });
    const names = jobNames(config.runId);
    const objects = jobObjects(config, names);
    const pod: k8s.V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'sonobuoy-sctp-e2e-job',
        namespace: names.namespace,
        labels: objects.namespace.metadata!.labels,
      },
      spec: {
        serviceAccountName: names.serviceAccount,
        restartPolicy: 'Never',
        containers: [
          { ...plugin.spec, env },
          {
            name: 'sonobuoy-worker',
            image: local.SCTP_E2E_AGENT_IMAGE,
            // Ends on SIGTERM, as Sonobuoy's worker does: a shell waiting
            // in the foreground would hold the pod's deletion for its whole
            // 30 s grace period.
            command: [
              'sh',
              '-c',
              `trap 'exit 0' TERM; until [ -f ${results}/done ]; do sleep 1; done; sleep 3600 & wait`,
            ],
            env: [{ name: 'RESULTS_DIR', value: results }],
            volumeMounts: [{ name: 'results', mountPath: results }],
          },
        ],
        volumes: [{ name: 'results', emptyDir: {} }],
      },
    };
    const manifest = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Namespace', ...objects.namespace },
        { apiVersion: 'v1', kind: 'ServiceAccount', ...objects.serviceAccount },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', ...objects.clusterRole },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', ...objects.binding },
        pod,
      ],
    });
    const file = join(tmp, 'sonobuoy.json');
    await execa('sh', ['-c', `cat > ${file}`], { input: manifest });
    try {
      await kubectl('apply', '-f', file);
      const worker = (...cmd: string[]) =>
        kubectl('-n', names.namespace, 'exec', pod.metadata!.name!, '-c', 'sonobuoy-worker', '--', ...cmd);
      const done = await poll(
        'the plugin to write its done file',
        { timeoutMs: 400_000, intervalMs: 2000 },
        () => worker('cat', `${results}/done`),
      );
      expect(done).to.equal(`${results}/sctp-e2e.tar.gz`);
      const listing = await worker('tar', '-tzf', done);
      for (const f of ['./junit.xml', './summary.md', './run.json', './allure-results/'])
        expect(listing.split('\n'), listing).to.include(f);
      expect(listing.split('\n').filter((f) => f.endsWith('.xml'))).to.deep.equal(['./junit.xml']);
      const junit = await worker('tar', '-xzOf', done, './junit.xml');
      expect(Number(/<testsuite [^>]*tests="(\d+)"/.exec(junit)?.[1]), junit.slice(0, 2000)).to.equal(
        expected,
      );
      expect(junit.match(/<testcase /g) ?? []).to.have.length(expected);
      expect(Number(/<testsuite [^>]*failures="(\d+)"/.exec(junit)?.[1]), junit.slice(0, 4000)).to.equal(0);
    } finally {
      await kubectl('delete', '--wait=false', '--ignore-not-found', '-f', file).catch(() => '');
    }
    expect(await goneWithin(names.runId, 90_000)).to.equal('');
  });
});
