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
 *
 * The pipeline up to the outcome runs in the tier's scheduler
 * (scheduler.ts), up to --parallel tests at a time; mocha's `it` awaits it
 * and renders it, one test after the other in declaration order.
 */
import * as allure from 'allure-js-commons';
import type { Context, Suite, Test } from 'mocha';
import { Cleanup } from './cleanup.ts';
import { knownEntryFor } from './known.ts';
import { createRunNamespace } from '../access/namespaces.ts';
import type { Evidence, TestOutcome } from './outcome.ts';
import { Timeline, type StepTime } from './timeline.ts';
import { podsAndEvents } from '../access/pod-evidence.ts';
import { run, runAborted, type RunContext } from './run-context.ts';
import { perProcess } from './per-process.ts';
import { TestScheduler } from './scheduler.ts';
import { labelTest, renderInAllure } from './steps/allure.ts';
import { gateSkipReason } from './steps/gates.ts';
import { guarded } from './steps/guard.ts';
import { bodyResultOf, decideOutcome, SkipTest } from './steps/verdict.ts';
import { STORY, TIER, tierOf, type Story, type Tier } from './story.ts';

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

/** What sctpIt hangs on mocha's Test: the story and how to run it at declaration, the outcome once run. */
export interface SctpTestMeta {
  story?: Story;
  outcome?: TestOutcome;
  /** Tests of one group never run side by side (the truth tables, on their shared model). */
  group?: string;
  /** Started before its tier's other tests (see scheduler.ts). */
  long?: boolean;
  execute?: (ctx: RunContext) => Promise<Executed>;
}

/** A test run to its outcome, and the allure parameters it gave on the way. */
interface Executed {
  outcome: TestOutcome;
  parameters: Array<[string, string]>;
}

export interface SctpItOptions {
  /** Tests of one group never run side by side (see scheduler.ts). */
  group?: string;
  /**
   * A test that takes several times its tier's typical test, mostly waiting
   * (on probes that must time out, on a policy to be in force): started
   * before the tier's other tests, so that they run beside it (scheduler.ts).
   */
  long?: boolean;
}

export function sctpIt(
  title: string,
  story: Story,
  body: (t: TestEnv) => Promise<void>,
  options: SctpItOptions = {},
): void {
  const declared: Test & SctpTestMeta = it(title, async function (this: Context) {
    const ctx = run();
    const test = this.test as Test & SctpTestMeta;
    // Started here, or earlier by the scheduler (--parallel): mocha reports in order either way.
    const { outcome, parameters } = await schedulerFor(ctx, test).result(test);
    // allure's runtime API works only inside the test mocha is running: so only here.
    await labelTest(ctx, outcome);
    for (const [name, value] of parameters) await allure.parameter(name, value);
    test.outcome = outcome;
    await renderInAllure(outcome);
    mapOntoMocha(this, outcome);
  });
  // Known at declaration, so a listing (and the coverage matrix) has it without running the test.
  declared.story = story;
  declared.group = options.group;
  declared.long = options.long;
  declared.execute = (ctx) => execute(ctx, declared.fullTitle(), title, story, body);
}

/** The pipeline of one test (see the top of this file), without mocha or allure. */
async function execute(
  ctx: RunContext,
  fullTitle: string,
  title: string,
  story: Story,
  body: (t: TestEnv) => Promise<void>,
): Promise<Executed> {
  const started = Date.now();
  const tier = tierOf(fullTitle);
  const evidence: Evidence[] = [];
  const parameters: Array<[string, string]> = [];
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
          parameter: (name, value) => void parameters.push([name, value]),
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
    title,
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
  return { outcome, parameters };
}

// One scheduler per run and tier: the tier's tests in mocha's order (a
// suite's own tests, then its child suites'), mocha having kept only the
// selected ones. On globalThis: see per-process.ts.
const schedulers = perProcess(
  'schedulers',
  () => new WeakMap<RunContext, Map<Tier, TestScheduler<Executed>>>(),
);

function schedulerFor(ctx: RunContext, test: Test & SctpTestMeta): TestScheduler<Executed> {
  const tier = tierOf(test.fullTitle());
  let byTier = schedulers.get(ctx);
  if (!byTier) schedulers.set(ctx, (byTier = new Map()));
  let scheduler = byTier.get(tier);
  if (!scheduler) {
    let root: Suite = test.parent!;
    while (root.parent) root = root.parent;
    const jobs = testsInRunOrder(root)
      .filter((t) => t.execute && tierOf(t.fullTitle()) === tier)
      .map((t) => ({ id: t, group: t.group, long: t.long, run: () => t.execute!(ctx) }));
    scheduler = new TestScheduler(jobs, ctx.config.parallel, runAborted);
    byTier.set(tier, scheduler);
  }
  return scheduler;
}

function testsInRunOrder(suite: Suite): Array<Test & SctpTestMeta> {
  return [...suite.tests, ...suite.suites.flatMap(testsInRunOrder)];
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
