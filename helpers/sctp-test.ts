/**
 * `sctpIt` is how every conformance test is declared. Around the test body it
 * composes the steps each test needs, the way e2e-framework composes setup
 * and teardown: report labels, a cleanup stack that runs whatever happens,
 * and the module guard (the node's sctp.ko state before and after).
 */
import * as allure from 'allure-js-commons';
import type { Context, Test } from 'mocha';
import { Cleanup } from './cleanup.ts';
import { errorText } from './errors.ts';
import { describeKnown, knownFailureFor } from './known.ts';
import { readModuleStates, moduleGuardVerdict } from './module-guard.ts';
import { createRunNamespace } from './namespaces.ts';
import { podsAndEvents } from './pod-evidence.ts';
import type { SctpTestMeta } from './report/run-record.ts';
import { sctpRemedies } from './openshift.ts';
import { run, type RunContext } from './run-context.ts';

export const TIER_BASIC = '[Feature:SCTP]';
export const TIER_CONNECTIVITY = '[Feature:SCTPConnectivity]';

export interface TestEnv {
  ctx: RunContext;
  cleanup: Cleanup;
  /** A fresh namespace labelled with the run id, removed after the test. */
  namespace(
    purpose: string,
    options?: { privileged?: boolean; labels?: Record<string, string> },
  ): Promise<string>;
  /** Text kept with the result: shown on failure and attached to the report. */
  evidence(name: string, text: string): void;
  parameter(name: string, value: string): void;
  /** Ends the test as skipped: the cluster cannot be judged on this point. */
  skip(reason: string): never;
}

export class SkipTest extends Error {}

const remediesByRun = new WeakMap<RunContext, Promise<Map<string, string>>>();

/** Per node, what enables kernel SCTP on OpenShift (empty elsewhere); read once per run. */
function openShiftRemedies(ctx: RunContext): Promise<Map<string, string>> {
  let remedies = remediesByRun.get(ctx);
  if (!remedies) remediesByRun.set(ctx, (remedies = sctpRemedies(ctx)));
  return remedies;
}

export function sctpIt(title: string, story: string, body: (t: TestEnv) => Promise<void>): void {
  const declared: Test & SctpTestMeta = it(title, async function (this: Context) {
    const ctx = run();
    const fullTitle = this.test!.fullTitle();
    const tier = fullTitle.includes(TIER_CONNECTIVITY) ? 'SCTPConnectivity' : 'SCTP';
    await allure.epic('KEP-614 SCTP support');
    await allure.feature(`[Feature:${tier}]`);
    await allure.story(story);
    await allure.parameter('agent', ctx.agent.kind);
    await allure.parameter('node access', ctx.access.kind);

    const cleanup = new Cleanup();
    const evidence: Array<[string, string]> = [];
    const namespaces: string[] = [];
    const env: TestEnv = {
      ctx,
      cleanup,
      namespace: async (purpose, options) => {
        const ns = await createRunNamespace(ctx.kube, ctx.config.runId, purpose, cleanup, options);
        namespaces.push(ns);
        return ns;
      },
      evidence: (name, text) => void evidence.push([name, text]),
      parameter: (name, value) => void allure.parameter(name, value),
      skip: (reason) => {
        throw new SkipTest(reason);
      },
    };

    // On OpenShift, kernel SCTP is blacklisted until a MachineConfig enables
    // it: with the kernel-SCTP agent, a connectivity test on such a cluster
    // cannot be judged, and says how to fix it instead of failing obscurely.
    if (tier === 'SCTPConnectivity' && ctx.agent.kind === 'agnhost') {
      const remedies = await openShiftRemedies(ctx);
      if (remedies.size) {
        const [node, remedy] = [...remedies][0];
        (this.test as SctpTestMeta).skipReason =
          `SCTP is not enabled on ${remedies.size} node(s), e.g. ${node}: ${remedy}`;
        this.skip();
      }
    }

    // The guard holds for the basic tier always, and for any test run with
    // the userspace agent: userspace SCTP works only while sctp.ko is out.
    const guarded = tier === 'SCTP' || ctx.agent.kind === 'usrsctp';
    const before = guarded ? await readModuleStates(ctx) : undefined;

    let failure: unknown;
    try {
      await body(env);
    } catch (err) {
      failure = err;
      // Read while the pods still exist: cleanup removes their namespaces.
      if (!(err instanceof SkipTest)) evidence.push(...(await podsAndEvents(ctx.kube, namespaces)));
    } finally {
      const leftovers = await cleanup.run();
      if (leftovers.length) evidence.push(['cleanup problems', leftovers.join('\n')]);
    }
    if (before) {
      const after = await readModuleStates(ctx);
      const verdict = moduleGuardVerdict(before, after);
      evidence.push(['sctp module state per node (before → after)', verdict.table]);
      if (verdict.loadedByTest.length) {
        // The guard's verdict comes first and is never hidden by a skip or by
        // the test's own failure (the coverage matrix reads it by its prefix).
        const loaded = `sctp.ko was loaded during this test on ${verdict.loadedByTest.join(', ')} (it was not loaded before)`;
        failure = new Error(
          failure && !(failure instanceof SkipTest)
            ? `${loaded}; the test also failed: ${errorText(failure)}`
            : loaded,
        );
      }
    }
    for (const [name, text] of evidence) await allure.attachment(name, text, 'text/plain');

    const known = knownFailureFor(fullTitle, ctx.known);
    // Read by the console reporter and by the run record (run.json).
    const test = this.test as SctpTestMeta;
    test.evidence = evidence;
    if (failure && !(failure instanceof SkipTest)) test.failure = errorText(failure);
    if (known && failure && !(failure instanceof SkipTest)) {
      // Expected here: reported as known, with the failure kept as evidence.
      test.knownFailure = `${describeKnown(known)}; failed with: ${errorText(failure).split('\n')[0]}`;
      await allure.attachment(
        'known failure',
        `${describeKnown(known)}\n\n${errorText(failure)}`,
        'text/plain',
      );
      await allure.description(`Known failure: ${describeKnown(known)}`);
      this.skip();
    }
    if (known && !failure) test.knownNowPasses = describeKnown(known);
    if (failure instanceof SkipTest) {
      test.skipReason = failure.message;
      await allure.description(`Skipped: ${failure.message}`);
      this.skip();
    }
    if (failure) {
      // The evidence goes into the failure message too: the JUnit body and
      // the console are often all a CI user sees.
      const shown = evidence
        .filter(([name]) => !name.startsWith('sctp module state'))
        .map(([name, text]) => `--- ${name}\n${text}`);
      const message = errorText(failure) + (shown.length ? `\n${shown.join('\n')}` : '');
      const err = new Error(message);
      err.stack = message; // the stack of a verdict is noise
      // Keeps AssertionError: allure tells a failed check from an error by the name.
      if (failure instanceof Error) err.name = failure.name;
      throw err;
    }
  });
  // Known at declaration, so a listing (and the coverage matrix) has it without running the test.
  declared.story = story;
}
