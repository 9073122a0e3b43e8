/**
 * A test's outcome: one typed value per test, produced once by `sctpIt`
 * (helpers/framework/sctp-test.ts). The console, run.json, JUnit, allure and the
 * KEP-614 matrix only render it; nothing reads a verdict back out of text.
 *
 *   passed   the cluster did what KEP-614 asks
 *   failed   the cluster is wrong (exit 1)
 *   error    the suite could not judge this test (agent garbage, exec refused,
 *            no observation, unreadable module state); counted as failed for
 *            the exit code and the console's count line
 *   skipped  cannot be judged here, with the reason
 *   known    failed as the known-failures profile says it does (counted as skipped)
 */
import type { Story, Tier } from './story.ts';
import type { StepTime } from './timeline.ts';

export type Verdict = 'passed' | 'failed' | 'error' | 'skipped' | 'known';

/** What the module guard says about one node in one test. */
export type GuardJudgement = 'held' | 'broken' | 'not judged';

export interface NodeGuard {
  node: string;
  /** The module state before and after the test ('unreadable' when it could not be read). */
  before: string;
  after: string;
  judgement: GuardJudgement;
  /** Why, in words: what was seen, or why it could not be judged. */
  why: string;
  /** The node's raw output, when the state could not be read. */
  raw?: string;
}

export interface GuardResult {
  nodes: NodeGuard[];
  /**
   * Tests that ran while this one's guard window was open (--parallel): a
   * load in the window fails each of them, as no reading can tell whose it was.
   */
  sharedWith?: string[];
}

export interface Evidence {
  name: string;
  text: string;
}

export interface KnownEntryRef {
  test: string;
  message: string;
  reason: string;
  reference?: string;
}

export interface TestOutcome {
  fullTitle: string;
  title: string;
  tier: Tier;
  story?: Story;
  verdict: Verdict;
  /** One line: why it failed, was skipped or is known (absent when passed). */
  reason?: string;
  /** The failure in full, without the evidence (also kept for known failures). */
  failure?: string;
  /** The profile entry that made it known, or that lists it while it passes. */
  known?: KnownEntryRef;
  /** A passing test that the profile lists: prune the entry. */
  knownNowPasses?: boolean;
  /** The module guard (absent for tests it does not hold for). */
  guard?: GuardResult;
  evidence: Evidence[];
  durationMs: number;
  /** Where the time went (helpers/framework/timeline.ts); absent for a test skipped before it ran. */
  steps?: StepTime[];
}

/** The counts of a run; `failed` includes errors and `skipped` includes known failures (the console line). */
export interface VerdictCounts {
  passed: number;
  failed: number;
  skipped: number;
  errors: number;
  known: number;
  knownNowPassing: number;
}

export function countVerdicts(tests: readonly TestOutcome[]): VerdictCounts {
  const n = (v: Verdict) => tests.filter((t) => t.verdict === v).length;
  return {
    passed: n('passed'),
    failed: n('failed') + n('error'),
    skipped: n('skipped') + n('known'),
    errors: n('error'),
    known: n('known'),
    knownNowPassing: tests.filter((t) => t.knownNowPasses).length,
  };
}

export function describeKnownEntry(k: Pick<KnownEntryRef, 'reason' | 'reference'>): string {
  return `${k.reason}${k.reference ? ` (${k.reference})` : ''}`;
}

/** The guard's table for people: one line per node. */
export function guardTable(guard: GuardResult): string {
  const nodes = guard.nodes.map((n) => `${n.node}: ${n.before} → ${n.after}: ${n.judgement} (${n.why})`);
  const shared = guard.sharedWith?.length
    ? [
        `window shared with ${guard.sharedWith.length} test(s) run alongside:`,
        ...guard.sharedWith.map((t) => `  ${t}`),
      ]
    : [];
  return [...nodes, ...shared].join('\n');
}

export const firstLine = (s: string | undefined): string | undefined => (s ?? '').split('\n')[0] || undefined;
