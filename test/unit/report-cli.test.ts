/**
 * The CLI parts of reporting that need no cluster: `run --list` lists exactly
 * what `run` runs (compared with the runner in mocha's dry-run mode), --quiet
 * keeps the console to failures and the counts, `report` turns allure results
 * into one self-contained HTML file and summary.md, and misplaced flags are
 * exit 2 with one line.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { externalResources } from '../../helpers/report/html.ts';
import { ROOT } from '../../helpers/framework/runner.ts';

const CLI = join(ROOT, 'bin', 'sctp-e2e');
const DRY_RUN = join(ROOT, 'test', 'unit', 'helpers', 'dry-run.ts');
// Neither the CLI nor the dry run may read a user's settings or reach a cluster.
const ENV = { SCTP_E2E_STATE: '/nonexistent', SCTP_E2E_FOCUS: undefined, SCTP_E2E_SKIP: undefined };

async function cli(args: string[]) {
  const r = await execa(CLI, args, { reject: false, env: ENV, extendEnv: true });
  return { code: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

async function dryRun(flags: string[], quiet = false): Promise<{ titles: string[]; stdout: string }> {
  const r = await execa(
    process.execPath,
    ['--import', './bin/loader.mjs', DRY_RUN, ...(quiet ? ['--quiet'] : []), '--', ...flags],
    {
      cwd: ROOT,
      env: ENV,
      extendEnv: true,
    },
  );
  const m = /^DRY-RUN (.*)$/m.exec(r.stdout);
  expect(m, r.stdout + r.stderr).to.not.equal(null);
  return { titles: JSON.parse(m![1]) as string[], stdout: r.stdout.slice(0, m!.index) };
}

const SELECTIONS: string[][] = [
  ['--focus', '\\[Feature:SCTP\\]', '--skip', 'node rules|LoadBalancer'],
  ['--focus', 'NetworkPolicy', '--disruptive'],
  ['--skip', 'outside|truth table', '--disruptive'],
];

describe('sctp-e2e run --list, --quiet and report (no cluster)', function () {
  this.timeout(120_000);

  for (const flags of SELECTIONS) {
    it(`run --list ${flags.join(' ') || '(no flags)'} lists exactly the tests run runs, in order`, async () => {
      const [list, dry] = await Promise.all([
        cli(['run', '--list', ...flags, '--kubeconfig', '/nonexistent']),
        dryRun(flags),
      ]);
      expect(list.code, list.stderr).to.equal(0);
      const listed = list.stdout.split('\n').filter(Boolean);
      expect(listed.length).to.be.greaterThan(0);
      expect(listed).to.deep.equal(dry.titles);
      expect(dry.stdout.match(/^ok +\[sig-network\]/gm)).to.have.length(listed.length);
    });
  }

  it('`list` is the same listing as `run --list`', async () => {
    const flags = ['--focus', 'declaring SCTP'];
    const [list, runList] = await Promise.all([cli(['list', ...flags]), cli(['run', '--list', ...flags])]);
    expect(list.stdout.split('\n').filter(Boolean)).to.have.length(8);
    expect(list.stdout).to.equal(runList.stdout);
  });

  it('--quiet prints only failures, known failures and the summary line', async () => {
    const quiet = await dryRun(['--focus', 'node rules'], true);
    expect(quiet.titles).to.have.length(5);
    expect(quiet.stdout.trim()).to.equal('5 passed, 0 failed, 0 skipped');
  });

  it('report writes one self-contained HTML file and summary.md from allure results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sctp-e2e-report-'));
    cpSync(join(ROOT, 'test', 'fixtures', 'report', 'allure-results'), join(dir, 'allure-results'), {
      recursive: true,
    });
    const r = await cli(['report', '--from', dir]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stderr).to.equal('');
    expect(readdirSync(dir).sort()).to.deep.equal(['allure-results', 'report.html', 'summary.md']);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).to.match(/^<!DOCTYPE html>/i);
    expect(html.length).to.be.greaterThan(100_000); // the app and the results are inside
    expect(externalResources(html)).to.deep.equal([]);
    expect(html).to.not.include('googletagmanager');
    const summary = readFileSync(join(dir, 'summary.md'), 'utf8');
    expect(summary).to.match(/\[in the HTML report\]\(report\.html#\/[0-9a-f]{32}\)/);
    expect(summary).to.include('HTML: report.html');
    rmSync(dir, { recursive: true, force: true });
  });

  it('misplaced flags and a directory without results are exit 2 with one line', async () => {
    for (const [args, pattern] of [
      [['report', '--list'], /--list belongs to run, not report/],
      [['run', '--from', 'x'], /--from belongs to report, not run/],
      [['report', '--from', '/nonexistent'], /no allure results in \/nonexistent\/allure-results/],
    ] as const) {
      const r = await cli([...args]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
      expect(r.stderr).to.match(pattern);
    }
  });
});
