/**
 * The last step of sctpIt: from what the body did, what the guard saw and
 * the known-failures entry, the test's one outcome. Pure, so every rule is
 * unit-tested (test/unit/outcome.test.ts):
 *  - the guard broken: failed, whatever the body did, never known;
 *  - the body threw TestError: error, with its raw output as evidence;
 *  - a node's state unreadable (body otherwise passed or skipped): error;
 *  - the body failed: known if the profile's entry matches the failure,
 *    else failed (saying so when an entry did not match);
 *  - the body skipped: skipped with its reason; else passed.
 */
import type { StepTime } from '../timeline.ts';
import { errorText, TestError } from '../errors.ts';
import { entryRef, type KnownFailure } from '../known.ts';
import { guardBroken, guardUnreadable } from '../../kernel/module-guard.ts';
import { firstLine, type Evidence, type GuardResult, type TestOutcome } from '../outcome.ts';
import type { Story, Tier } from '../story.ts';

/** Thrown by TestEnv.skip: the cluster cannot be judged on this point. */
export class SkipTest extends Error {}

export type BodyResult =
  | { kind: 'passed' }
  | { kind: 'skipped'; reason: string }
  | { kind: 'failed'; message: string }
  | { kind: 'error'; message: string; raw?: string };

export function bodyResultOf(err: unknown): BodyResult {
  if (err === undefined) return { kind: 'passed' };
  if (err instanceof SkipTest) return { kind: 'skipped', reason: err.message };
  if (err instanceof TestError) return { kind: 'error', message: err.message, raw: err.raw };
  return { kind: 'failed', message: errorText(err) };
}

export interface VerdictInput {
  fullTitle: string;
  title: string;
  tier: Tier;
  story?: Story;
  body: BodyResult;
  guard?: GuardResult;
  known?: KnownFailure;
  evidence: Evidence[];
  durationMs: number;
  steps?: StepTime[];
}

export function decideOutcome(i: VerdictInput): TestOutcome {
  const base: TestOutcome = {
    fullTitle: i.fullTitle,
    title: i.title,
    tier: i.tier,
    story: i.story,
    verdict: 'passed',
    guard: i.guard,
    evidence: [...i.evidence],
    durationMs: i.durationMs,
    steps: i.steps,
  };
  const body = i.body;
  const bodyFailure = body.kind === 'failed' || body.kind === 'error' ? body.message : undefined;
  if (body.kind === 'error' && body.raw !== undefined)
    base.evidence.push({ name: 'raw output (the suite could not judge it)', text: body.raw });

  const broken = i.guard ? guardBroken(i.guard) : [];
  if (broken.length) {
    const shared = i.guard?.sharedWith?.length
      ? ` (or by one of the ${i.guard.sharedWith.length} test(s) run alongside it, which fail for it too: ${i.guard.sharedWith.join('; ')})`
      : '';
    const reason = `sctp.ko was loaded during this test on ${broken.map((n) => `${n.node} (${n.before} → ${n.after})`).join(', ')}${shared}`;
    return {
      ...base,
      verdict: 'failed',
      reason,
      failure: bodyFailure ? `${reason}\nthe test also failed: ${bodyFailure}` : reason,
    };
  }
  if (body.kind === 'error')
    return { ...base, verdict: 'error', reason: firstLine(body.message), failure: body.message };

  const unreadable = i.guard ? guardUnreadable(i.guard) : [];
  for (const n of unreadable)
    base.evidence.push({ name: `sctp module state of ${n.node} (raw)`, text: n.raw! });
  const unreadableText = unreadable.map((n) => `${n.node}: ${n.why}`).join('; ');

  if (body.kind === 'failed') {
    const failure = unreadableText
      ? `${body.message}\n(the module guard could not judge this test: ${unreadableText})`
      : body.message;
    if (i.known) {
      if (i.known.pattern.test(body.message))
        return {
          ...base,
          verdict: 'known',
          reason: i.known.reason,
          failure,
          known: entryRef(i.known),
        };
      const why = `the known-failures entry "${i.known.test}" did not match: its message /${i.known.message}/ is not in this failure`;
      return {
        ...base,
        verdict: 'failed',
        reason: `${firstLine(body.message)} (${why})`,
        failure: `${failure}\n(${why})`,
        known: entryRef(i.known),
      };
    }
    return { ...base, verdict: 'failed', reason: firstLine(body.message), failure };
  }
  if (unreadableText) {
    const reason = `the module guard could not read the sctp module state: ${unreadableText}`;
    return { ...base, verdict: 'error', reason, failure: reason };
  }
  if (body.kind === 'skipped') return { ...base, verdict: 'skipped', reason: body.reason };
  return i.known ? { ...base, knownNowPasses: true, known: entryRef(i.known) } : base;
}
