/**
 * Renders a test's outcome into its allure result, from inside the test
 * (allure's runtime API works only there): labels, the evidence as
 * attachments (each once), the guard's table, and the outcome itself as a
 * hidden parameter. After the run, report/allure-results.ts sets each
 * result's status and status box from that parameter (allure-mocha writes
 * "Test skipped" for every pending test, known failures included).
 */
import * as allure from 'allure-js-commons';
import { guardTable, type TestOutcome } from '../outcome.ts';
import type { RunContext } from '../run-context.ts';

/** The hidden parameter that carries the outcome (without the evidence, which is attached). */
export const OUTCOME_PARAMETER = 'sctp-e2e outcome';
export const GUARD_ATTACHMENT = 'sctp module guard per node (before → after)';

export async function labelTest(ctx: RunContext, o: Pick<TestOutcome, 'tier' | 'story'>): Promise<void> {
  await allure.epic('KEP-614 SCTP support');
  await allure.feature(o.tier);
  if (o.story) await allure.story(o.story);
  await allure.parameter('agent', ctx.agent.kind);
  await allure.parameter('node access', ctx.access.kind);
}

export async function renderInAllure(o: TestOutcome): Promise<void> {
  // Shown next to the status badge, which allure can only make "skipped".
  if (o.verdict === 'known') await allure.tag('known failure');
  if (o.verdict === 'error') await allure.tag('error: not judged');
  for (const e of o.evidence) await allure.attachment(e.name, e.text, 'text/plain');
  if (o.guard) await allure.attachment(GUARD_ATTACHMENT, guardTable(o.guard), 'text/plain');
  // The evidence is attached above; the parameter carries the rest.
  const rest: Partial<TestOutcome> = { ...o };
  delete rest.evidence;
  await allure.parameter(OUTCOME_PARAMETER, JSON.stringify(rest), { mode: 'hidden', excluded: true });
}
