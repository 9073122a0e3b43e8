/**
 * Runs the conformance suites in-process with mocha: loads suites/ (the
 * basic tier first, always), keeps the selected tests, checks the
 * known-failures profile against them, and reports to the console and
 * allure results; after the run, JUnit and the allure statuses are rendered
 * from the tests' outcomes.
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Mocha from 'mocha';
import { checkKnownProfile, entryRef, type KnownFailure } from './known.ts';
import { countVerdicts, type KnownEntryRef, type VerdictCounts } from './outcome.ts';
import { renderOutcomesInAllure } from '../report/allure-results.ts';
import { writeJunit } from '../report/junit.ts';
import { recordTests, type TestRecord, type UnselectedTest } from '../report/run-record.ts';
import { onRunAbort } from './run-context.ts';
import type { SctpTestMeta } from './sctp-test.ts';
import { selects, type Selection } from './selection.ts';
import { tierOf } from './story.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SUITES_DIR = join(ROOT, 'suites');

/**
 * The suite files, the basic tier's (suites/sctp) before the connectivity
 * tier's: a kernel-SCTP agent of the connectivity tier may load sctp.ko, and
 * the basic tier's module guard must find the node as the run found it.
 */
export function suiteFiles(dir = SUITES_DIR): string[] {
  const tierRank = (f: string) => (f.includes(`${join(dir, 'sctp')}/`) ? 0 : 1);
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => tierRank(a) - tierRank(b) || a.localeCompare(b));
}

/** Drops every test the selection excludes, and suites left empty; returns the dropped tests. */
function prune(suite: Mocha.Suite, selection: Selection, dropped: UnselectedTest[] = []): UnselectedTest[] {
  suite.tests = suite.tests.filter((t) => {
    if (selects(t.fullTitle(), selection)) return true;
    const story = (t as Mocha.Test & SctpTestMeta).story;
    dropped.push({ fullTitle: t.fullTitle(), tier: tierOf(t.fullTitle()), story });
    return false;
  });
  for (const child of suite.suites) prune(child, selection, dropped);
  suite.suites = suite.suites.filter((s) => s.total() > 0);
  return dropped;
}

export interface LoadedSuites {
  /** Holds exactly the selected tests: what `run` runs and `list` / `run --list` print. */
  mocha: Mocha;
  /** The tests the selection left out. */
  unselected: UnselectedTest[];
}

/**
 * Loads suites/ and keeps the selected tests. Once per process: the test
 * files are cached modules, so a second load finds no new tests.
 *
 * The files are imported as ES modules, with the suite events mocha's own
 * `loadFilesAsync` emits around each file (they bind describe/it). Mocha
 * itself would `require` them where Node can require ES modules (20.19 and
 * later): tsx then compiles them and everything they import, the framework and
 * @kubernetes/client-node included, into a second, CommonJS copy beside the
 * CLI's, about 2 CPU-seconds of every run.
 */
export async function loadSuites(
  selection: Selection,
  options: Mocha.MochaOptions = {},
): Promise<LoadedSuites> {
  const mocha = new Mocha({ timeout: 300_000, ...options });
  const { EVENT_FILE_PRE_REQUIRE, EVENT_FILE_REQUIRE, EVENT_FILE_POST_REQUIRE } = Mocha.Suite.constants;
  for (const file of suiteFiles()) {
    mocha.suite.emit(EVENT_FILE_PRE_REQUIRE, globalThis, file, mocha);
    const loaded: unknown = await import(pathToFileURL(file).href);
    mocha.suite.emit(EVENT_FILE_REQUIRE, loaded, file, mocha);
    mocha.suite.emit(EVENT_FILE_POST_REQUIRE, globalThis, file, mocha);
  }
  const unselected = prune(mocha.suite, selection);
  return { mocha, unselected };
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

export interface RunOptions {
  /** Console: failures, known failures and the summary line only (JUnit and allure are written as always). */
  quiet?: boolean;
  /** Report every selected test as passed without running it: the tests use it to see what `run` runs. */
  dryRun?: boolean;
  /** Whether the console reporter ends with the count line (the CLI prints it itself, last). */
  summaryLine?: boolean;
  /** The known-failures profile: checked against the selected tests before anything runs. */
  known?: readonly KnownFailure[];
}

export interface RunOutcome {
  /** The console's counts: errors among the failed, known failures among the skipped. */
  counts: VerdictCounts;
  tests: TestRecord[];
  unselected: UnselectedTest[];
  /** Profile entries that matched no selected test. */
  knownUnused: KnownEntryRef[];
}

export async function runSuites(
  selection: Selection,
  reportDir: string,
  options: RunOptions = {},
): Promise<RunOutcome> {
  const resultsDir = join(reportDir, 'allure-results');
  rmSync(resultsDir, { recursive: true, force: true });
  mkdirSync(resultsDir, { recursive: true });
  const { mocha, unselected } = await loadSuites(selection, {
    dryRun: options.dryRun,
    reporter: 'allure-mocha',
    reporterOptions: {
      resultsDir,
      extraReporters: [
        [
          join(ROOT, 'helpers', 'report', 'progress-reporter.cjs'),
          { quiet: Boolean(options.quiet), summaryLine: options.summaryLine ?? true },
        ],
      ],
    },
  });
  const knownUnused = checkKnownProfile(listTitles(mocha), options.known ?? []).map(entryRef);
  const tests = await new Promise<TestRecord[]>((done) => {
    const runner = mocha.run(() => done(records));
    const records = recordTests(runner);
    // A signal stops the run: no test starts after it (the CLI removes the run's namespaces).
    onRunAbort(() => runner.abort());
  });
  renderOutcomesInAllure(resultsDir);
  writeJunit(join(reportDir, 'junit.xml'), tests);
  return { counts: countVerdicts(tests), tests, unselected, knownUnused };
}
