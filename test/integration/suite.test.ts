/**
 * The suite as a user runs it against the local cluster: the whole
 * [Feature:SCTP] tier passes with node access over SSH and over the host-exec
 * pod (the module guard runs both ways), reports land in the report dir, and
 * every way of getting the configuration wrong ends in exit 2 with one line.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../../helpers/framework/runner.ts';
import { clusterEnv, clusterUp, expectGreen, runNamespaces, sctpE2e, type CliRun } from './local-cluster.ts';

const tmp = tempDir('sctp-e2e-suite-');

function expectOneLineError(run: CliRun, pattern: RegExp): void {
  expect(run.code, run.stdout + run.stderr).to.equal(2);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).to.have.length(1);
  expect(lines[0]).to.match(pattern);
  expect(run.stderr).to.not.match(/\n\s+at /); // no stack trace
}

describe('sctp-e2e run against the local cluster', function () {
  this.timeout(900_000);
  before(clusterUp);

  it('passes the whole [Feature:SCTP] tier with node access over SSH', async () => {
    const reportDir = join(tmp, 'ssh');
    const run = await sctpE2e(['run', '--focus', '\\[Feature:SCTP\\]', '--report-dir', reportDir]);
    expectGreen(run);
    expect(run.stdout).to.match(/node access ssh/);
    expect(readdirSync(join(reportDir, 'allure-results')).some((f) => f.endsWith('-result.json'))).to.equal(
      true,
    );
    expect(readFileSync(join(reportDir, 'junit.xml'), 'utf8')).to.include('[Feature:SCTP]');
    // The summary says what the guard could not judge on this kernel, and that the
    // LoadBalancer test declares the Service only.
    const md = readFileSync(join(reportDir, 'summary.md'), 'utf8');
    expect(md).to.match(
      /\| sctp.ko is not loaded by a test that found it unloaded \| not judged \| no node has a loadable sctp module: kernel without module support/,
    );
    expect(md).to.match(/\| pod→LoadBalancer \(skip where unsupported\) \| (declared only|skipped) \|/);
    const record = JSON.parse(readFileSync(join(reportDir, 'run.json'), 'utf8'));
    expect(record.guard.start).to.deep.equal([{ node: 'sctp-e2e-node1', state: 'unavailable' }]);
    expect(record.guard.findings).to.deep.equal([]);
    // The run waited for its namespaces at its end and says so.
    expect(record.namespacesAtEnd.left).to.deep.equal([]);
    expect(md).to.match(/Cleanup: no namespace of the run was left \d+\.\d s after the last test\./);
    // One tracker saw the whole run: the start, before and after every test, the end
    // (the CLI and the test files once had a tracker each, and the run's record only two readings).
    expect(record.guard.reads.count).to.equal(2 + 2 * record.tests.length);
    // Each test says where its time went.
    for (const t of record.tests)
      expect(
        t.steps.map((s: { step: string }) => s.step),
        t.title,
      ).to.include.members(['module guard', 'rest of the body', 'cleanup']);
    expect(await runNamespaces()).to.equal('');
  });

  it('passes the tier with node access through the host-exec pod', async () => {
    const run = await sctpE2e([
      'run',
      '--focus',
      '\\[Feature:SCTP\\]',
      '--node-access',
      'pod',
      '--report-dir',
      join(tmp, 'pod'),
    ]);
    expectGreen(run);
    expect(run.stdout).to.match(/node access pod/);
    // The guard's readings are in the allure results of every test.
    const results = readdirSync(join(tmp, 'pod', 'allure-results')).filter((f) =>
      f.endsWith('-attachment.txt'),
    );
    const guard = results
      .map((f) => readFileSync(join(tmp, 'pod', 'allure-results', f), 'utf8'))
      .filter((t) => t.includes('sctp-e2e-node1:'));
    expect(guard.length).to.be.greaterThan(0);
    expect(guard[0]).to.match(/sctp-e2e-node1: unavailable → unavailable/);
    expect(await runNamespaces()).to.equal('');
  });

  it('passes the [Feature:SCTPConnectivity] tier, the stale-conntrack bug of kube-proxy reported as known', async () => {
    const known = join(ROOT, 'fixtures', 'known', 'local-cluster.yaml');
    const run = await sctpE2e([
      'run',
      '--disruptive',
      '--focus',
      '\\[Feature:SCTPConnectivity\\]',
      '--known',
      known,
      '--report-dir',
      join(tmp, 'conn'),
    ]);
    expectGreen(run);
    const knownTests = [...run.verdicts].filter(([, v]) => v === 'KNOWN').map(([title]) => title);
    expect(knownTests).to.have.length(1);
    expect(knownTests[0]).to.include('reusing its source port');
    expect(run.stdout).to.include('kubernetes/kubernetes#115299');
    expect(await runNamespaces()).to.equal('');
  });

  it('without the profile, that test fails the run with exit 1 and its evidence', async () => {
    const run = await sctpE2e([
      'run',
      '--disruptive',
      '--focus',
      'reusing its source port',
      '--report-dir',
      join(tmp, 'stale'),
    ]);
    expect(run.code, run.stdout).to.equal(1);
    expect(run.summary).to.deep.equal({ passed: 0, failed: 1, skipped: 0 });
    expect(run.stdout).to.match(/SCTP conntrack entries for source port 40123/);
  });

  it('--strict: a known failure makes the exit code 1 and the summary says which', async () => {
    const run = await sctpE2e([
      'run',
      '--disruptive',
      '--strict',
      '--focus',
      'reusing its source port',
      '--known',
      join(ROOT, 'fixtures', 'known', 'local-cluster.yaml'),
      '--report-dir',
      join(tmp, 'strict'),
    ]);
    expect(run.code, run.stdout).to.equal(1);
    expect(run.summary).to.deep.equal({ passed: 0, failed: 0, skipped: 1 });
    expect(run.stdout).to.match(
      /^--strict: 1 test\(s\) skipped or known make the run fail: .*reusing its source port/m,
    );
    const md = readFileSync(join(tmp, 'strict', 'summary.md'), 'utf8');
    expect(md).to.include('**Exit 1: --strict: a test was skipped or a known failure.**');
    expect(md).to.match(
      /- --strict: known failure .*reusing its source port.* — kube-proxy v1\.34\.4 clears stale conntrack/,
    );
  });

  it('lists what run would run, without a cluster', async () => {
    const list = await sctpE2e(['list', '--focus', 'node rules', '--kubeconfig', '/nonexistent']);
    expect(list.code, list.stderr).to.equal(0);
    const titles = list.stdout.trim().split('\n');
    expect(titles.length).to.equal(5);
    expect(titles.every((t) => t.includes('[Feature:SCTP]') && t.includes('node rules'))).to.equal(true);
  });

  it('reports configuration problems as exit 2 with one line and no stack', async () => {
    const bad = join(tmp, 'bad-kubeconfig');
    writeFileSync(bad, 'this: [is not a kubeconfig\n');
    expectOneLineError(await sctpE2e(['run', '--kubeconfig', bad]), /cannot load kubeconfig/);
    expectOneLineError(
      await sctpE2e(['run', '--kubeconfig', join(tmp, 'missing')]),
      /kubeconfig .* does not exist/,
    );
    const unreachable = join(tmp, 'unreachable-kubeconfig');
    writeFileSync(
      unreachable,
      readFileSync(clusterEnv().SCTP_E2E_KUBECONFIG, 'utf8').replace(
        /server: .*/,
        'server: https://127.0.0.1:1',
      ),
    );
    expectOneLineError(
      await sctpE2e(['run', '--kubeconfig', unreachable]),
      /cannot reach the API server at https:\/\/127\.0\.0\.1:1/,
    );
    // No kubeconfig anywhere and no local cluster env: the client's silent
    // fallback to localhost:8080 must not be taken for a cluster.
    expectOneLineError(
      await sctpE2e(['run'], {
        SCTP_E2E_STATE: join(tmp, 'no-local-cluster'),
        HOME: tmp,
        KUBECONFIG: undefined,
      }),
      /no kubeconfig found/,
    );
    expectOneLineError(await sctpE2e(['run', '--node-access', 'telnet']), /invalid flag --node-access/);
    // A user the cluster knows but grants nothing: a client certificate
    // signed by the cluster's CA, with no RBAC binding.
    const pki = join(dirname(clusterEnv().SCTP_E2E_KUBECONFIG), 'pki');
    const key = join(tmp, 'nobody.key');
    const crt = join(tmp, 'nobody.crt');
    const { execFileSync } = await import('node:child_process');
    execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        key,
        '-subj',
        '/CN=sctp-e2e-nobody',
        '-out',
        `${crt}.csr`,
      ],
      { stdio: 'ignore' },
    );
    execFileSync(
      'openssl',
      [
        'x509',
        '-req',
        '-in',
        `${crt}.csr`,
        '-CA',
        join(pki, 'ca.crt'),
        '-CAkey',
        join(pki, 'ca.key'),
        '-CAcreateserial',
        '-days',
        '1',
        '-out',
        crt,
      ],
      { stdio: 'ignore' },
    );
    const nobody = join(tmp, 'nobody-kubeconfig');
    writeFileSync(
      nobody,
      readFileSync(clusterEnv().SCTP_E2E_KUBECONFIG, 'utf8')
        .replace(/client-certificate: .*/, `client-certificate: ${crt}`)
        .replace(/client-key: .*/, `client-key: ${key}`),
    );
    expectOneLineError(
      await sctpE2e(['run', '--kubeconfig', nobody]),
      /the kubeconfig user lacks RBAC for: .*create namespaces/,
    );
    const otherKey = await import('node:child_process').then((cp) => {
      const path = join(tmp, 'other-key');
      if (!existsSync(path)) cp.execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path]);
      return path;
    });
    expectOneLineError(
      await sctpE2e(['run', '--node-access', 'ssh', '--ssh-key', otherKey]),
      /SSH authentication to root@198\.18\.0\.2:22 \(node sctp-e2e-node1\) failed/,
    );
    expectOneLineError(
      await sctpE2e(['run', '--node-access', 'ssh', '--ssh-port', '2222']),
      /cannot SSH to root@198\.18\.0\.2:2222/,
    );
    expectOneLineError(
      await sctpE2e(['run', '--focus', 'no such test at all']),
      /no test matched the selection/,
    );
  });
});
