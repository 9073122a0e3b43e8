/**
 * What a run leaves for the reports besides the allure results:
 * `<report dir>/run.json` with the run id, the cluster facts of the
 * preflight, every selected test's verdict with its reason, and the evidence
 * the summary shows (NetworkPolicy truth tables always; everything for failed
 * and known-failing tests). `sctp-e2e report` renders it again later.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import { SuiteError } from '../errors.ts';
import type { ClusterFacts } from '../preflight.ts';

export const RUN_RECORD_FILE = 'run.json';

export const TIERS = ['[Feature:SCTP]', '[Feature:SCTPConnectivity]'] as const;
export type Tier = (typeof TIERS)[number];

export function tierOf(fullTitle: string): Tier {
  return fullTitle.includes('[Feature:SCTPConnectivity]') ? '[Feature:SCTPConnectivity]' : '[Feature:SCTP]';
}

/** The evidence names under which the NetworkPolicy tests attach their truth tables. */
export const TRUTH_TABLE_EVIDENCE = ['expected', 'observed', 'comparison'] as const;

/**
 * What `sctpIt` hangs on mocha's Test object: the story at declaration (so a
 * listing knows it without running anything), the evidence and the failure
 * once the test has run.
 */
export interface SctpTestMeta {
  story?: string;
  evidence?: Array<[string, string]>;
  /** The error the test body ended with (also set for known failures). */
  failure?: string;
  skipReason?: string;
  knownFailure?: string;
  knownNowPasses?: string;
}

/** passed / failed / skipped as mocha counts them; `known` is a listed failure (counted as skipped). */
export type Verdict = 'passed' | 'failed' | 'skipped' | 'known';

export interface TestRecord {
  fullTitle: string;
  title: string;
  tier: Tier;
  story?: string;
  verdict: Verdict;
  /** Why: the skip reason, the known failure's reason, or a failure's first line. */
  reason?: string;
  /** A failure in full (without the evidence, which is in `evidence`). */
  message?: string;
  /** Set on a passing test that the known-failures profile lists. */
  knownNowPasses?: string;
  durationMs: number;
  evidence: Array<{ name: string; text: string }>;
}

/** A test the selection left out: the coverage matrix says "not selected" rather than "not covered". */
export interface UnselectedTest {
  fullTitle: string;
  tier: Tier;
  story?: string;
}

export interface RunRecord {
  runId: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  selection: { focus?: string; skip?: string; disruptive: boolean; known?: string };
  /** Absent when they could not be read; `clusterError` says why. */
  cluster?: ClusterFacts;
  clusterError?: string;
  counts: { passed: number; failed: number; skipped: number; known: number; knownNowPassing: number };
  tests: TestRecord[];
  unselected: UnselectedTest[];
}

export function countVerdicts(tests: readonly TestRecord[]): RunRecord['counts'] {
  const n = (v: Verdict) => tests.filter((t) => t.verdict === v).length;
  return {
    passed: n('passed'),
    failed: n('failed'),
    // Known failures are skipped for mocha, the exit code and the console line.
    skipped: n('skipped') + n('known'),
    known: n('known'),
    knownNowPassing: tests.filter((t) => t.knownNowPasses).length,
  };
}

function keptEvidence(verdict: Verdict, meta: SctpTestMeta): TestRecord['evidence'] {
  const all = (meta.evidence ?? []).map(([name, text]) => ({ name, text }));
  if (verdict === 'failed' || verdict === 'known') return all;
  return all.filter((e) => (TRUTH_TABLE_EVIDENCE as readonly string[]).includes(e.name));
}

const firstLine = (s: string | undefined) => (s ?? '').split('\n')[0] || undefined;

/** One record from a finished mocha test (or a failed hook) and its verdict. */
export function testRecord(test: Mocha.Runnable, verdict: Verdict, err?: Error): TestRecord {
  const meta = test as Mocha.Runnable & SctpTestMeta;
  const fullTitle = test.fullTitle();
  const message = verdict === 'failed' ? (meta.failure ?? err?.message ?? String(err)) : meta.failure;
  let reason: string | undefined;
  if (verdict === 'skipped') reason = meta.skipReason ?? 'not given';
  else if (verdict === 'known') reason = meta.knownFailure;
  else if (verdict === 'failed') reason = firstLine(message);
  return {
    fullTitle,
    title: test.title,
    tier: tierOf(fullTitle),
    story: meta.story,
    verdict,
    reason,
    message: verdict === 'failed' || verdict === 'known' ? message : undefined,
    knownNowPasses: meta.knownNowPasses,
    durationMs: test.duration ?? 0,
    evidence: keptEvidence(verdict, meta),
  };
}

/** Records every test as it finishes; the array fills while the run goes. */
export function recordTests(runner: Mocha.Runner): TestRecord[] {
  const constants = Mocha.Runner.constants;
  const records: TestRecord[] = [];
  runner.on(constants.EVENT_TEST_PASS, (t) => records.push(testRecord(t, 'passed')));
  runner.on(constants.EVENT_TEST_FAIL, (t, err) => records.push(testRecord(t, 'failed', err)));
  runner.on(constants.EVENT_TEST_PENDING, (t) =>
    records.push(testRecord(t, (t as Mocha.Test & SctpTestMeta).knownFailure ? 'known' : 'skipped')),
  );
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
