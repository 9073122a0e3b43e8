/**
 * Reports people read, against the local cluster: with kube-router stopped
 * (no NetworkPolicy engine) the SCTP-only policy test fails; the run exits 1
 * and its summary.md and JUnit body carry the evidence (probes before and
 * after the policy, the pods' logs and events); `report` makes one
 * self-contained HTML file of it. Listed in a known-failures profile, the same
 * failure exits 0 as KNOWN; with the cluster repaired, the listed test is
 * reported as a known failure that now passes. The cluster is repaired
 * whatever happens.
 *
 * With chromium on PATH (Debian: apt-get install chromium) it also takes
 * screenshots of the HTML report: SCTP_E2E_SCREENSHOTS (default /tmp).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { externalResources } from '../../helpers/report/html.ts';
import type { RunRecord } from '../../helpers/report/run-record.ts';
import { clusterUp, componentPid, sctpE2e, stopComponent, type CliRun } from './local-cluster.ts';

const FOCUS = 'does not allow TCP or UDP';
const TITLE =
  '[sig-network] SCTP [Feature:SCTP] NetworkPolicy A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic';
const tmp = tempDir('sctp-e2e-report-');
const SHOTS = process.env.SCTP_E2E_SCREENSHOTS ?? tmpdir();

/**
 * One run with kube-router stopped. Others sharing the cluster may run
 * `cluster up` meanwhile, which restarts it; a run the fault did not last
 * through says nothing, so it is made again.
 */
async function runUnderFault(args: string[]): Promise<CliRun> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    await stopComponent('netpol');
    const run = await sctpE2e(args);
    if (!componentPid('netpol').alive) return run;
  }
  throw new Error(
    'kube-router was restarted during each of 3 runs (someone ran `cluster up`): cannot hold the fault',
  );
}

const summaryOf = (dir: string) => readFileSync(join(dir, 'summary.md'), 'utf8');
const recordOf = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
const detail = (run: CliRun) => `${run.stdout.slice(-6000)}\n${run.stderr}`;

/** A headless Chromium screenshot of a page; false when chromium is not installed. */
async function screenshot(url: string, file: string): Promise<boolean> {
  const which = await execa('sh', ['-c', 'command -v chromium'], { reject: false });
  if (which.exitCode !== 0) return false;
  const profile = tempDir('chromium-');
  const r = await execa(
    which.stdout.trim(),
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      `--screenshot=${file}`,
      '--window-size=1400,1000',
      // The report renders after load: give its scripts time before the shot.
      '--virtual-time-budget=10000',
      url,
    ],
    { reject: false, timeout: 120_000, all: true },
  );
  if (!existsSync(file)) throw new Error(`chromium took no screenshot of ${url}: ${r.all}`);
  return true;
}

describe('reports of a run with a fault, known failures and the repair', function () {
  this.timeout(900_000);
  const failDir = join(tmp, 'fail');
  const knownDir = join(tmp, 'known');
  const repairedDir = join(tmp, 'repaired');
  const profile = join(tmp, 'known.yaml');
  writeFileSync(
    profile,
    `known:\n  - test: "${FOCUS}"\n    message: "let TCP and UDP through"\n    reason: kube-router is stopped on purpose by the report test\n    reference: test/integration/report.test.ts\n`,
  );
  /** The same entry with a message this failure does not have. */
  const wrongMessage = join(tmp, 'wrong-message.yaml');
  writeFileSync(
    wrongMessage,
    `known:\n  - test: "${FOCUS}"\n    message: "no such failure text"\n    reason: listed for another failure\n`,
  );
  /** An entry matching every test of the basic tier. */
  const ambiguous = join(tmp, 'ambiguous.yaml');
  writeFileSync(ambiguous, `known:\n  - test: "[Feature:SCTP]"\n    message: x\n    reason: too broad\n`);

  before(clusterUp);
  // Leave the cluster as the other tests expect it, whatever happened here.
  after(clusterUp);

  it('under the fault the test fails (exit 1) and summary.md, run.json and JUnit carry its evidence', async () => {
    const run = await runUnderFault([
      'run',
      '--focus',
      FOCUS,
      '--rule-timeout',
      '5',
      '--report-dir',
      failDir,
    ]);
    expect(run.code, detail(run)).to.equal(1);
    expect(run.verdicts.get(TITLE), detail(run)).to.equal('FAIL');
    expect(run.stdout).to.include(`summary: ${join(failDir, 'summary.md')}`);

    const record = recordOf(failDir);
    expect(record.exitCode).to.equal(1);
    expect(record.cluster?.nodes[0]).to.include({ name: 'sctp-e2e-node1', proxyMode: 'iptables' });
    const failed = record.tests.find((t) => t.fullTitle === TITLE)!;
    expect(failed.verdict).to.equal('failed');
    expect(failed.reason).to.match(/let TCP and UDP through: TCP to [\d.]+:80 connected/);
    expect(failed.reason).to.not.match(/expected .* to (deeply )?equal/); // words, not assertion text
    const names = failed.evidence.map((e) => e.name);
    expect(names).to.include.members(['before the policy', 'after the policy']);
    expect(names.some((n) => n.startsWith('pods and logs in sctp-e2e-'))).to.equal(true);
    expect(names.some((n) => n.startsWith('events in sctp-e2e-'))).to.equal(true);
    const logs = failed.evidence.find((e) => e.name.startsWith('pods and logs in'))!.text;
    expect(logs).to.match(/^pod server on sctp-e2e-node1: Running/m);
    expect(logs).to.match(/--- log of client\/c/);
    expect(failed.evidence.find((e) => e.name.startsWith('events in'))!.text).to.match(
      /Scheduled Pod\/server/,
    );

    const md = summaryOf(failDir);
    expect(md).to.include('**Exit 1: a test failed');
    expect(md).to.match(
      /\| A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic \| \*\*FAILED\*\* \|/,
    );
    expect(md).to.include(`### FAILED: ${TITLE}`);
    expect(md).to.match(/#### after the policy\n\n```text\nTCP [\d.]+:80 → connected/);
    expect(md).to.match(/#### events in sctp-e2e-/);
    expect(md).to.match(/\| sctp-e2e-node1 \| [^|]+ \| unavailable \| no \| no \| iptables \|/);

    // The JUnit failure body: what a CI user sees without the reports.
    const junit = readFileSync(join(failDir, 'junit.xml'), 'utf8');
    expect(junit).to.match(
      /<failure[^>]*>[\s\S]*--- pods and logs in sctp-e2e-[\s\S]*--- events in sctp-e2e-/,
    );
  });

  it('report makes one self-contained HTML file, and the summary links the failing test into it', async () => {
    const r = await sctpE2e(['report', '--from', failDir]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(readdirSync(failDir).sort()).to.deep.equal([
      'allure-results',
      'junit.xml',
      'report.html',
      'run.json',
      'summary.md',
    ]);
    const html = readFileSync(join(failDir, 'report.html'), 'utf8');
    expect(externalResources(html)).to.deep.equal([]);
    const md = summaryOf(failDir);
    const link = /· \[in the HTML report\]\(report\.html(#\/[0-9a-f]{32})\)/.exec(md);
    expect(link, md).to.not.equal(null);
    const page = `file://${join(failDir, 'report.html')}`;
    if (await screenshot(page, join(SHOTS, 'sctp-e2e-report-overview.png'))) {
      await screenshot(`${page}${link![1]}`, join(SHOTS, 'sctp-e2e-report-failure.png'));
      process.stdout.write(`     screenshots: ${join(SHOTS, 'sctp-e2e-report-{overview,failure}.png')}\n`);
    }
  });

  it('listed in a known-failures profile the same failure exits 0 as KNOWN (--quiet: that and the counts only)', async () => {
    const run = await runUnderFault([
      'run',
      '--focus',
      FOCUS,
      '--rule-timeout',
      '5',
      '--known',
      profile,
      '--quiet',
      '--report-dir',
      knownDir,
    ]);
    expect(run.code, detail(run)).to.equal(0);
    expect(run.verdicts.get(TITLE), detail(run)).to.equal('KNOWN');
    expect(run.summary).to.deep.equal({ passed: 0, failed: 0, skipped: 1 });
    // Quiet: no run header, no per-test line but the known failure's.
    const lines = run.stdout.split('\n').filter(Boolean);
    expect(
      lines.filter((l) => !/^(KNOWN | {5}known failure: |known failures: |\d+ passed, )/.test(l)),
    ).to.deep.equal([]);
    const md = summaryOf(knownDir);
    expect(md).to.include('**Exit 0: passed, with known limitations only.**');
    expect(md).to.include(`### KNOWN: ${TITLE}`);
    expect(md).to.include(
      'Known: kube-router is stopped on purpose by the report test (test/integration/report.test.ts)',
    );
    expect(md).to.match(
      /\| A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic \| known failure \|/,
    );
  });

  it('a profile entry whose message does not match the failure leaves it a plain FAIL saying so', async () => {
    const run = await runUnderFault([
      'run',
      '--focus',
      FOCUS,
      '--rule-timeout',
      '5',
      '--known',
      wrongMessage,
      '--report-dir',
      join(tmp, 'wrong'),
    ]);
    expect(run.code, detail(run)).to.equal(1);
    expect(run.verdicts.get(TITLE), detail(run)).to.equal('FAIL');
    expect(run.stdout).to.include(
      'the known-failures entry "does not allow TCP or UDP" did not match: its message /no such failure text/ is not in this failure',
    );
  });

  it('a profile entry matching several selected tests is exit 2 naming them', async () => {
    const run = await sctpE2e(['run', '--known', ambiguous, '--report-dir', join(tmp, 'ambiguous')]);
    expect(run.code, detail(run)).to.equal(2);
    expect(run.stderr.trim().split('\n')).to.have.length(1);
    expect(run.stderr).to.match(
      /known-failures entry "\[Feature:SCTP\]" matches \d+ selected tests: "\[sig-network\]/,
    );
  });

  it('the known failure is visibly known in the HTML report: "skipped" with its reason in the status box', async () => {
    const results = join(knownDir, 'allure-results');
    const result = readdirSync(results)
      .filter((f) => f.endsWith('-result.json'))
      .map((f) => JSON.parse(readFileSync(join(results, f), 'utf8')))
      .find((r) => r.name && TITLE.endsWith(r.name));
    expect(result.status).to.equal('skipped');
    expect(result.statusDetails.message).to.equal(
      'Known failure: kube-router is stopped on purpose by the report test (test/integration/report.test.ts)',
    );
    expect(result.statusDetails.known).to.equal(true);
    expect(result.statusDetails.trace).to.match(/let TCP and UDP through/);
    const r = await sctpE2e(['report', '--from', knownDir]);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    const link = /\[in the HTML report\]\(report\.html(#\/[0-9a-f]{32})\)/.exec(summaryOf(knownDir));
    expect(link).to.not.equal(null);
    if (
      await screenshot(
        `file://${join(knownDir, 'report.html')}${link![1]}`,
        join(SHOTS, 'sctp-e2e-report-known.png'),
      )
    )
      process.stdout.write(`     screenshot: ${join(SHOTS, 'sctp-e2e-report-known.png')}\n`);
  });

  it('repaired, the listed test passes and is reported as a known failure that now passes', async () => {
    await clusterUp();
    const run = await sctpE2e(['run', '--focus', FOCUS, '--known', profile, '--report-dir', repairedDir]);
    expect(run.code, detail(run)).to.equal(0);
    expect(run.verdicts.get(TITLE), detail(run)).to.equal('ok');
    expect(run.stdout).to.match(
      /listed as a known failure \(kube-router is stopped on purpose .*\) but passes: prune it/,
    );
    expect(run.stdout).to.include('listed but now passing: 1');
    const md = summaryOf(repairedDir);
    expect(md).to.include('1 listed as known but now passing');
    expect(md).to.include(`## Known failures now passing`);
    expect(md).to.include(`- ${TITLE} — listed as: kube-router is stopped on purpose by the report test`);
    expect(recordOf(repairedDir).tests[0]).to.include({ verdict: 'passed' });
  });
});
