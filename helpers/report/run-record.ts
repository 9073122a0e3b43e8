/**
 * What a run leaves for the reports besides the allure results:
 * `<report dir>/run.json` with the run id, the cluster facts of the
 * preflight, every selected test's outcome (helpers/framework/outcome.ts), what the
 * module guard saw outside the tests, and the evidence the summary shows
 * (NetworkPolicy truth tables always; everything for tests that did not pass).
 * `sctp-e2e report` renders it again later.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import { SuiteError } from '../framework/errors.ts';
import type { RunGuard } from '../kernel/module-guard.ts';
import {
  countVerdicts,
  firstLine,
  type KnownEntryRef,
  type TestOutcome,
  type VerdictCounts,
} from '../framework/outcome.ts';
import type { ClusterFacts } from '../access/preflight.ts';
import type { SctpTestMeta } from '../framework/sctp-test.ts';
import { tierOf, type Story, type Tier } from '../framework/story.ts';

export { countVerdicts };
export { tierOf, TIERS } from '../framework/story.ts';
export type { Tier };

export const RUN_RECORD_FILE = 'run.json';

/** The evidence names under which the NetworkPolicy tests attach their truth tables. */
export const TRUTH_TABLE_EVIDENCE = ['expected', 'observed', 'comparison'] as const;

/** A test as run.json keeps it: its outcome. */
export type TestRecord = TestOutcome;
export type Verdict = TestOutcome['verdict'];

/** A test the selection left out: the coverage matrix says "not selected" rather than "not covered". */
export interface UnselectedTest {
  fullTitle: string;
  tier: Tier;
  story?: Story;
}

export interface RunRecord {
  runId: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  /** Absent when the record was rebuilt from allure results: the selection was not recorded. */
  selection?: { focus?: string; skip?: string; disruptive: boolean; known?: string; strict?: boolean };
  /** Set on a record rebuilt without run.json: what it cannot know. */
  rebuiltFrom?: string;
  /** Absent when they could not be read; `clusterError` says why. */
  cluster?: ClusterFacts;
  clusterError?: string;
  counts: VerdictCounts;
  tests: TestRecord[];
  unselected: UnselectedTest[];
  /** The module guard's readings at run start and end, and loads between tests. */
  guard?: RunGuard;
  /** Profile entries that matched no selected test. */
  knownUnused?: KnownEntryRef[];
  /** With --strict: the tests that made the run fail without failing themselves. */
  strictFailures?: Array<{ fullTitle: string; verdict: Verdict; reason?: string }>;
  /**
   * The run's namespaces at its end: how long the run waited for them to go,
   * and which were still listed; `checked` false: deleted without waiting
   * (--namespaces-no-wait), so nothing is known of what is left.
   */
  namespacesAtEnd?: { left: string[]; waitedMs: number; checked?: false };
}

/** Passed tests keep only their truth tables; every other verdict keeps all its evidence. */
export function keptEvidence(o: Pick<TestOutcome, 'verdict' | 'evidence'>): TestOutcome['evidence'] {
  if (o.verdict !== 'passed') return o.evidence;
  return o.evidence.filter((e) => (TRUTH_TABLE_EVIDENCE as readonly string[]).includes(e.name));
}

/**
 * A runnable that ended without an outcome of sctpIt's (a hook that threw,
 * a dry run, a plain `it`): its outcome from mocha's event alone.
 */
function outcomeWithoutSctpIt(test: Mocha.Runnable, verdict: 'passed' | 'failed' | 'skipped', err?: Error) {
  const fullTitle = test.fullTitle();
  const story = (test as Mocha.Runnable & SctpTestMeta).story;
  const failure = err ? (err.message ?? String(err)) : undefined;
  return {
    fullTitle,
    title: test.title,
    tier: tierOf(fullTitle),
    story,
    // An sctpIt test that failed before its outcome was decided: the suite, not the cluster.
    verdict: verdict === 'failed' && story ? 'error' : verdict,
    reason: verdict === 'failed' ? firstLine(failure) : verdict === 'skipped' ? 'not given' : undefined,
    failure: verdict === 'failed' ? failure : undefined,
    evidence: [],
    durationMs: test.duration ?? 0,
  } satisfies TestOutcome;
}

/** Records every test as it finishes; the array fills while the run goes. */
export function recordTests(runner: Mocha.Runner): TestRecord[] {
  const constants = Mocha.Runner.constants;
  const records: TestRecord[] = [];
  const add = (t: Mocha.Runnable, verdict: 'passed' | 'failed' | 'skipped', err?: Error) => {
    const o = (t as Mocha.Runnable & SctpTestMeta).outcome ?? outcomeWithoutSctpIt(t, verdict, err);
    records.push({ ...o, evidence: keptEvidence(o) });
  };
  runner.on(constants.EVENT_TEST_PASS, (t) => add(t, 'passed'));
  runner.on(constants.EVENT_TEST_FAIL, (t, err) => add(t, 'failed', err));
  runner.on(constants.EVENT_TEST_PENDING, (t) => add(t, 'skipped'));
  return records;
}

export function writeRunRecord(reportDir: string, record: RunRecord): string {
  mkdirSync(reportDir, { recursive: true });
  const path = join(reportDir, RUN_RECORD_FILE);
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}

export function readRunRecord(reportDir: string): RunRecord | undefined {
  const path = join(reportDir, RUN_RECORD_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const record = JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
    if (!record.runId || !Array.isArray(record.tests)) throw new Error('no runId or tests');
    return record;
  } catch (err) {
    throw new SuiteError(
      `${path} is not a run record (${(err as Error).message.split('\n')[0]})`,
      'remove it, or rerun `sctp-e2e run` to write it again',
    );
  }
}
