/**
 * A run record rebuilt from allure results alone, for `sctp-e2e report` on a
 * results directory without run.json (a run that was interrupted, or made
 * before runs wrote one). Verdicts, stories, reasons and evidence are all in
 * the results; the cluster facts and the tests left unselected are not.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  countVerdicts,
  tierOf,
  TRUTH_TABLE_EVIDENCE,
  type RunRecord,
  type TestRecord,
  type Verdict,
} from './run-record.ts';

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
  statusDetails?: { message?: string };
  description?: string;
  labels?: Array<{ name: string; value: string }>;
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

function verdictOf(r: AllureResult): { verdict: Verdict; reason?: string } {
  const description = r.description ?? '';
  if (r.status === 'passed') return { verdict: 'passed' };
  if (r.status === 'skipped') {
    if (description.startsWith('Known failure: '))
      return { verdict: 'known', reason: description.slice('Known failure: '.length) };
    return { verdict: 'skipped', reason: description.replace(/^Skipped: /, '') || 'not given' };
  }
  // failed (an assertion) and broken (any other error) are both a failed test here.
  return { verdict: 'failed', reason: (r.statusDetails?.message ?? '').split('\n')[0] };
}

/** mocha's full title again: the describe titles (allure's suite labels) and the test's. */
function fullTitleOf(r: AllureResult): string {
  const label = (name: string) => r.labels?.find((l) => l.name === name)?.value;
  return [label('parentSuite'), label('suite'), label('subSuite'), r.name].filter(Boolean).join(' ');
}

function readResults(resultsDir: string): AllureResult[] {
  return allureResultFiles(resultsDir).map(
    (f) => JSON.parse(readFileSync(join(resultsDir, f), 'utf8')) as AllureResult,
  );
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

function testFromResult(resultsDir: string, r: AllureResult): TestRecord {
  const label = (name: string) => r.labels?.find((l) => l.name === name)?.value;
  const fullTitle = fullTitleOf(r);
  const { verdict, reason } = verdictOf(r);
  const wanted = (name: string) =>
    verdict === 'failed' || verdict === 'known' || (TRUTH_TABLE_EVIDENCE as readonly string[]).includes(name);
  const evidence = attachments(r)
    .filter((a) => wanted(a.name) && a.name !== 'known failure')
    .map((a) => {
      const path = join(resultsDir, a.source);
      return { name: a.name, text: existsSync(path) ? readFileSync(path, 'utf8') : '(attachment missing)' };
    });
  return {
    fullTitle,
    title: r.name,
    tier: tierOf(fullTitle),
    story: label('story'),
    verdict,
    reason,
    // sctpIt appends the evidence to the message after "--- name" lines; it is kept apart here.
    message: verdict === 'failed' ? r.statusDetails?.message?.split('\n--- ')[0] : undefined,
    durationMs: r.start && r.stop ? r.stop - r.start : 0,
    evidence,
  };
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
    selection: { disruptive: tests.some((t) => t.fullTitle.includes('[Disruptive]')) },
    clusterError: `${resultsDir} has no run.json: the cluster facts are recorded only by \`sctp-e2e run\``,
    counts,
    tests,
    unselected: [],
  };
}
