/**
 * Runs the conformance suites in-process with mocha: loads suites/, keeps the
 * selected tests, and reports to the console, allure results and JUnit.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Mocha from 'mocha';
import { selects, type Selection } from './selection.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SUITES_DIR = join(ROOT, 'suites');

export function suiteFiles(dir = SUITES_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** Drops every test the selection excludes, and suites left empty. */
function prune(suite: Mocha.Suite, selection: Selection): void {
  suite.tests = suite.tests.filter((t) => selects(t.fullTitle(), selection));
  for (const child of suite.suites) prune(child, selection);
  suite.suites = suite.suites.filter((s) => s.total() > 0);
}

export async function loadSuites(selection: Selection, options: Mocha.MochaOptions = {}): Promise<Mocha> {
  const mocha = new Mocha({ timeout: 300_000, ...options });
  for (const f of suiteFiles()) mocha.addFile(f);
  await mocha.loadFilesAsync();
  prune(mocha.suite, selection);
  return mocha;
}

export function listTitles(mocha: Mocha): string[] {
  const titles: string[] = [];
  const walk = (s: Mocha.Suite) => {
    for (const t of s.tests) titles.push(t.fullTitle());
    s.suites.forEach(walk);
  };
  walk(mocha.suite);
  return titles;
}

export interface RunStats {
  passes: number;
  failures: number;
  pending: number;
}

export async function runSuites(selection: Selection, reportDir: string): Promise<RunStats> {
  const resultsDir = join(reportDir, 'allure-results');
  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  const mocha = await loadSuites(selection, {
    reporter: 'allure-mocha',
    reporterOptions: {
      resultsDir,
      extraReporters: [
        [join(ROOT, 'helpers', 'progress-reporter.cjs')],
        ['xunit', { output: join(reportDir, 'junit.xml') }],
      ],
    },
  });
  return new Promise((done) => {
    const runner = mocha.run(() =>
      done({
        passes: runner.stats!.passes,
        failures: runner.stats!.failures,
        pending: runner.stats!.pending,
      }),
    );
  });
}
