/**
 * `sctpIt` is how every conformance test is declared. It is a short
 * pipeline, in the spirit of e2e-framework's setup/assess/teardown:
 *
 *   gates (steps/gates.ts)  → skip with the reason when the test cannot be judged here
 *   guard before            → every node's sctp.ko state (steps/guard.ts)
 *   body, then cleanup      → the test itself; its namespaces removed whatever happens
 *   guard after
 *   outcome (steps/verdict.ts) → one TestOutcome (helpers/framework/outcome.ts)
 *   render                  → into allure; then mapped onto mocha once
 *
 * Every output (console, run.json, JUnit, allure, summary) renders that
 * outcome; the mocha Test carries it as `outcome`.
 */
import * as allure from 'allure-js-commons';
import type { Context, Test } from 'mocha';
import { Cleanup } from './cleanup.ts';
import { knownEntryFor } from './known.ts';
import { createRunNamespace } from '../access/namespaces.ts';
import type { Evidence, TestOutcome } from './outcome.ts';
import { Timeline, type StepTime } from './timeline.ts';
import { podsAndEvents } from '../access/pod-evidence.ts';
import { run, type RunContext } from './run-context.ts';
import { labelTest, renderInAllure } from './steps/allure.ts';
import { gateSkipReason } from './steps/gates.ts';
import { guarded } from './steps/guard.ts';
import { bodyResultOf, decideOutcome, SkipTest } from './steps/verdict.ts';
import { STORY, TIER, tierOf, type Story } from './story.ts';

export { SkipTest, STORY, TIER };
export const TIER_BASIC = TIER.basic;
export const TIER_CONNECTIVITY = TIER.connectivity;

export interface TestEnv {
  ctx: RunContext;
  cleanup: Cleanup;
  /** A fresh namespace labelled with the run id, removed after the test. */
  namespace(
    purpose: string,
    options?: { privileged?: boolean; labels?: Record<string, string> },
  ): Promise<string>;
  /**
   * Namespaces the test works in without owning them (a shared fixture):
   * their pods and events are evidence when it fails, as its own are.
   */
  uses(...namespaces: string[]): void;
  /** Text kept with the result: shown on failure and attached to the report. */
  evidence(name: string, text: string): void;
  parameter(name: string, value: string): void;
  /** Ends the test as skipped: the cluster cannot be judged on this point. */
  skip(reason: string): never;
  /** Runs `work` as a named step of the test's timeline (TestOutcome.steps). */
  time<T>(step: string, work: () => Promise<T>): Promise<T>;
}

/** What sctpIt hangs on mocha's Test: the story at declaration, the outcome once run. */
export interface SctpTestMeta {
  story?: Story;
  outcome?: TestOutcome;
}

export function sctpIt(title: string, story: Story, body: (t: TestEnv) => Promise<void>): void {
  const declared: Test & SctpTestMeta = it(title, async function (this: Context) {
    const started = Date.now();
    const ctx = run();
    const test = this.test as Test & SctpTestMeta;
    const fullTitle = test.fullTitle();
    const tier = tierOf(fullTitle);
    await labelTest(ctx, { tier, story });

    const evidence: Evidence[] = [];
    let thrown: unknown;
    const steps = new Timeline(); // the body's, named by the helpers it calls
    let bodyMs = 0;
    let cleanupMs = 0;
    const gate = await gateSkipReason(ctx, tier);
    const guardStarted = performance.now();
    const guard = gate
      ? undefined
      : await guarded(ctx, tier, fullTitle, async () => {
          const cleanup = new Cleanup();
          const namespaces: string[] = [];
          const env: TestEnv = {
            ctx,
            cleanup,
            namespace: (purpose, options) =>
              steps.time('namespaces', async () => {
                const ns = await createRunNamespace(ctx.kube, ctx.config.runId, purpose, cleanup, options);
                namespaces.push(ns);
                return ns;
              }),
            uses: (...names) => void namespaces.push(...names.filter((n) => !namespaces.includes(n))),
            evidence: (name, text) => void evidence.push({ name, text }),
            parameter: (name, value) => void allure.parameter(name, value),
            skip: (reason) => {
              throw new SkipTest(reason);
            },
            time: (step, work) => steps.time(step, work),
          };
          const bodyStarted = performance.now();
          try {
            await body(env);
          } catch (err) {
            thrown = err;
            // Read while the pods still exist: cleanup removes their namespaces.
            if (!(err instanceof SkipTest))
              evidence.push(
                ...toEvidence(await steps.time('evidence', () => podsAndEvents(ctx.kube, namespaces))),
              );
          } finally {
            bodyMs = performance.now() - bodyStarted;
            const cleanupStarted = performance.now();
            const leftovers = await cleanup.run();
            cleanupMs = performance.now() - cleanupStarted;
            if (leftovers.length) evidence.push({ name: 'cleanup problems', text: leftovers.join('\n') });
          }
        });

    const outcome = decideOutcome({
      fullTitle,
      title: test.title,
      tier,
      story,
      body: gate ? { kind: 'skipped', reason: gate } : bodyResultOf(thrown),
      guard,
      known: knownEntryFor(fullTitle, ctx.known),
      evidence,
      durationMs: Date.now() - started,
      steps: gate
        ? undefined
        : timeOf({ guardMs: performance.now() - guardStarted, bodyMs, cleanupMs, body: steps }),
    });
    test.outcome = outcome;
    await renderInAllure(outcome);
    mapOntoMocha(this, outcome);
  });
  // Known at declaration, so a listing (and the coverage matrix) has it without running the test.
  declared.story = story;
}

/**
 * The test's timeline: the module guard's readings (what guarded() took
 * beyond the body and cleanup), the body's named steps, what the body spent
 * outside them, and the cleanup.
 */
function timeOf(t: { guardMs: number; bodyMs: number; cleanupMs: number; body: Timeline }): StepTime[] {
  const ms = (n: number) => Math.max(0, Math.round(n));
  return [
    { step: 'module guard', ms: ms(t.guardMs - t.bodyMs - t.cleanupMs) },
    ...t.body.steps(),
    { step: 'rest of the body', ms: ms(t.bodyMs - t.body.total()) },
    { step: 'cleanup', ms: ms(t.cleanupMs) },
  ];
}

const toEvidence = (pairs: Array<[string, string]>): Evidence[] =>
  pairs.map(([name, text]) => ({ name, text }));

/** Mocha knows pass, fail and pending: the one place an outcome becomes one of them. */
function mapOntoMocha(mocha: Context, o: TestOutcome): void {
  if (o.verdict === 'skipped' || o.verdict === 'known') mocha.skip();
  if (o.verdict === 'failed' || o.verdict === 'error') {
    const err = new Error(o.reason ?? o.verdict);
    err.stack = err.message; // the stack of a verdict is noise
    throw err;
  }
}
