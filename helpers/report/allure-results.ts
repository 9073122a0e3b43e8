/**
 * The allure side of the outcomes. sctpIt puts each test's outcome into its
 * allure result as a hidden parameter (steps/allure.ts); here:
 *  - renderOutcomesInAllure sets each result's status and status box from it
 *    after the run: a known failure is "skipped" with "Known failure: <reason>"
 *    in the box and statusDetails.known, an error is "broken";
 *  - recordFromAllure rebuilds a run record from the results alone, for
 *    `sctp-e2e report` without run.json; it says what it cannot know (the
 *    selection, the profile, the cluster) instead of guessing.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countVerdicts, describeKnownEntry, type TestOutcome } from '../framework/outcome.ts';
import { GUARD_ATTACHMENT, OUTCOME_PARAMETER } from '../framework/steps/allure.ts';
import { tierOf, type Story } from '../framework/story.ts';
import { keptEvidence, type RunRecord, type TestRecord } from './run-record.ts';

interface AllureAttachment {
  name: string;
  source: string;
}

interface AllureStep {
  attachments?: AllureAttachment[];
  steps?: AllureStep[];
}

interface AllureResult extends AllureStep {
  uuid?: string;
  name: string;
  status?: string;
  statusDetails?: { message?: string; trace?: string; known?: boolean };
  labels?: Array<{ name: string; value: string }>;
  parameters?: Array<{ name: string; value: string }>;
  start?: number;
  stop?: number;
}

export function allureResultFiles(resultsDir: string): string[] {
  if (!existsSync(resultsDir)) return [];
  return readdirSync(resultsDir)
    .filter((f) => f.endsWith('-result.json'))
    .sort();
}

function attachments(step: AllureStep): AllureAttachment[] {
  return [...(step.attachments ?? []), ...(step.steps ?? []).flatMap(attachments)];
}

/** Every attachment of a result or step (its sub-steps' too), with its text. */
export function attachmentTexts(resultsDir: string, step: AllureStep): Array<{ name: string; text: string }> {
  return attachments(step).map((a) => {
    const path = join(resultsDir, a.source);
    return { name: a.name, text: existsSync(path) ? readFileSync(path, 'utf8') : '(attachment missing)' };
  });
}

/** The outcome sctpIt recorded in the result (without its evidence), if any. */
function outcomeOf(r: AllureResult): Omit<TestOutcome, 'evidence'> | undefined {
  const p = r.parameters?.find((x) => x.name === OUTCOME_PARAMETER);
  return p ? (JSON.parse(p.value) as Omit<TestOutcome, 'evidence'>) : undefined;
}

const ALLURE_STATUS: Record<TestOutcome['verdict'], string> = {
  passed: 'passed',
  failed: 'failed',
  error: 'broken',
  skipped: 'skipped',
  known: 'skipped',
};

/** The status box of one outcome. */
export function statusOf(o: Omit<TestOutcome, 'evidence'>): {
  status: string;
  statusDetails: AllureResult['statusDetails'];
} {
  const status = ALLURE_STATUS[o.verdict];
  switch (o.verdict) {
    case 'passed':
      return { status, statusDetails: {} };
    case 'skipped':
      return { status, statusDetails: { message: `Skipped: ${o.reason ?? 'not given'}` } };
    case 'known':
      return {
        status,
        statusDetails: {
          message: `Known failure: ${describeKnownEntry(o.known!)}`,
          trace: o.failure,
          known: true,
        },
      };
    case 'failed':
    case 'error':
      return {
        status,
        statusDetails: {
          message: `${o.verdict === 'error' ? 'Error (the suite could not judge): ' : ''}${o.failure ?? o.reason ?? ''}`,
        },
      };
  }
}

function resultPaths(resultsDir: string): string[] {
  return allureResultFiles(resultsDir).map((f) => join(resultsDir, f));
}

/** Sets every result's status and status box from its outcome. */
export function renderOutcomesInAllure(resultsDir: string): void {
  for (const path of resultPaths(resultsDir)) {
    const r = JSON.parse(readFileSync(path, 'utf8')) as AllureResult;
    const o = outcomeOf(r);
    if (!o) continue;
    Object.assign(r, statusOf(o));
    writeFileSync(path, JSON.stringify(r));
  }
}

/** mocha's full title again: the describe titles (allure's suite labels) and the test's. */
function fullTitleOf(r: AllureResult): string {
  const label = (name: string) => r.labels?.find((l) => l.name === name)?.value;
  return [label('parentSuite'), label('suite'), label('subSuite'), r.name].filter(Boolean).join(' ');
}

function readResults(resultsDir: string): AllureResult[] {
  return resultPaths(resultsDir).map((p) => JSON.parse(readFileSync(p, 'utf8')) as AllureResult);
}

/**
 * Each test's page in the HTML report, by full title: Allure 3 names a result
 * md5(uuid) and routes `#/<id>` to its page.
 */
export function htmlAnchors(resultsDir: string): Map<string, string> {
  const anchors = new Map<string, string>();
  for (const r of readResults(resultsDir).sort((a, b) => (a.start ?? 0) - (b.start ?? 0)))
    if (r.uuid) anchors.set(fullTitleOf(r), `#/${createHash('md5').update(r.uuid).digest('hex')}`);
  return anchors;
}

/** A result without an outcome (not an sctpIt test): only allure's status is known. */
function outcomeFromStatus(r: AllureResult): Omit<TestOutcome, 'evidence'> {
  const fullTitle = fullTitleOf(r);
  const verdict =
    r.status === 'passed'
      ? 'passed'
      : r.status === 'skipped'
        ? 'skipped'
        : r.status === 'broken'
          ? 'error'
          : 'failed';
  return {
    fullTitle,
    title: r.name,
    tier: tierOf(fullTitle),
    story: r.labels?.find((l) => l.name === 'story')?.value as Story | undefined,
    verdict,
    reason: verdict === 'passed' ? undefined : `not recorded (allure status ${r.status ?? 'none'})`,
    failure: verdict === 'failed' || verdict === 'error' ? r.statusDetails?.message : undefined,
    durationMs: r.start && r.stop ? r.stop - r.start : 0,
  };
}

function testFromResult(resultsDir: string, r: AllureResult): TestRecord {
  const o = outcomeOf(r) ?? outcomeFromStatus(r);
  const evidence = attachmentTexts(resultsDir, r).filter((a) => a.name !== GUARD_ATTACHMENT);
  return { ...o, evidence: keptEvidence({ verdict: o.verdict, evidence }) };
}

export function recordFromAllure(resultsDir: string): RunRecord {
  const results = readResults(resultsDir);
  const tests = results
    .sort((a, b) => (a.start ?? 0) - (b.start ?? 0))
    .map((r) => testFromResult(resultsDir, r));
  const counts = countVerdicts(tests);
  const times = results.flatMap((r) => [r.start, r.stop]).filter((t): t is number => typeof t === 'number');
  return {
    runId: '(from allure results)',
    startedAt: new Date(times.length ? Math.min(...times) : 0).toISOString(),
    finishedAt: new Date(times.length ? Math.max(...times) : 0).toISOString(),
    exitCode: counts.failed ? 1 : 0,
    rebuiltFrom: `${resultsDir} (no run.json): the selection, the known-failures profile, the tests left out, the module guard between tests and the cluster facts are not recorded there`,
    clusterError: `${resultsDir} has no run.json: the cluster facts are recorded only by \`sctp-e2e run\``,
    counts,
    tests,
    unselected: [],
  };
}
