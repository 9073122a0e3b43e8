/**
 * `reports/summary.md`: one page a person reads after a run. The verdict and
 * counts, the KEP-614 coverage matrix, the cluster facts of the preflight,
 * every failure with its evidence, known failures, skips with their reasons,
 * the NetworkPolicy truth tables and all tests. Rendered from the run record
 * only, so it can be written at the end of every run and again by `report`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeKnownEntry } from '../framework/outcome.ts';
import { coverage, type CoverageStatus } from './kep614.ts';
import { RUN_RECORD_FILE, TRUTH_TABLE_EVIDENCE, type RunRecord, type TestRecord } from './run-record.ts';

export const SUMMARY_FILE = 'summary.md';
export const HTML_FILE = 'report.html';

const STATUS_TEXT: Record<CoverageStatus, string> = {
  passed: 'passed',
  'passed in part': 'passed in part',
  failed: '**FAILED**',
  error: '**ERROR** (not judged)',
  skipped: 'skipped',
  known: 'known failure',
  'declared only': 'declared only',
  'not judged': 'not judged',
  'not selected': 'not selected',
  'not covered': 'not covered',
};

const VERDICT_TEXT: Record<TestRecord['verdict'], string> = {
  passed: 'passed',
  failed: '**FAILED**',
  error: '**ERROR**',
  skipped: 'skipped',
  known: 'KNOWN failure',
};

/** A table cell: one line, pipes escaped. */
const cell = (s: string) => s.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');

/** A fenced block whose fence no backtick run in the text can close. */
function fenced(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${text.trimEnd()}\n${fence}`;
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} m ${s % 60} s` : `${(ms / 1000).toFixed(1)} s`;
}

function verdictLine(r: RunRecord): string {
  const c = r.counts;
  const what =
    r.exitCode === 0
      ? c.known
        ? 'passed, with known limitations only'
        : 'every selected test passed'
      : r.exitCode === 1
        ? c.failed || r.guard?.findings.length
          ? 'a test failed: the cluster does not do what KEP-614 asks'
          : '--strict: a test was skipped or a known failure'
        : 'the suite could not judge';
  const extras = [
    c.errors
      ? `${c.errors} error${c.errors === 1 ? '' : 's'} (the suite could not judge), counted as failed`
      : '',
    c.known ? `${c.known} known failure${c.known === 1 ? '' : 's'}, counted as skipped` : '',
    c.knownNowPassing ? `${c.knownNowPassing} listed as known but now passing` : '',
  ].filter(Boolean);
  return `**Exit ${r.exitCode}: ${what}.** ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped${extras.length ? ` (${extras.join('; ')})` : ''}.`;
}

/** `- **key**: value` lines: a key/value list reads better than a table without a header. */
const facts = (rows: Array<[string, string]>) => rows.map(([k, v]) => `- **${k}**: ${v}`).join('\n');

/**
 * The first screen: every test that did not pass (and, with --strict, what
 * made the run fail), one line each, before the coverage matrix.
 */
function attentionSection(r: RunRecord): string {
  const lines: string[] = [];
  for (const t of r.tests.filter((x) => x.verdict === 'failed' || x.verdict === 'error'))
    lines.push(`- ${VERDICT_TEXT[t.verdict]} ${t.fullTitle} — ${t.reason ?? '(no reason)'}`);
  for (const f of r.guard?.findings ?? []) lines.push(`- **FAILED** module guard between tests — ${f}`);
  for (const t of r.strictFailures ?? [])
    lines.push(
      `- --strict: ${t.verdict === 'known' ? 'known failure' : 'skipped'} ${t.fullTitle} — ${t.reason ?? 'not given'}`,
    );
  for (const k of r.knownUnused ?? [])
    lines.push(`- unused known-failures entry "${k.test}": no selected test matches it`);
  const left = r.namespacesAtEnd?.left ?? [];
  if (left.length)
    lines.push(
      `- cleanup: ${left.length} namespace(s) of the run left behind (remove with \`sctp-e2e cleanup\`)`,
    );
  if (!lines.length) return '';
  return ['## What needs attention', '', ...lines].join('\n');
}

function header(r: RunRecord, reportDir?: string): string {
  const s = r.selection;
  const started = r.startedAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const rows: Array<[string, string]> = [
    ['run id', `\`${r.runId}\``],
    ['started', `${started}, took ${seconds(Date.parse(r.finishedAt) - Date.parse(r.startedAt))}`],
  ];
  if (r.cluster)
    rows.push([
      'cluster',
      `${r.cluster.server} (${r.cluster.serverVersion}), ${r.cluster.nodes.length} node(s), node access ${r.cluster.nodeAccess}, agent ${r.cluster.agent.kind}`,
    ]);
  if (s) {
    rows.push([
      'selection',
      `focus ${s.focus ? `\`${s.focus}\`` : '(all)'}, skip ${s.skip ? `\`${s.skip}\`` : '(none)'}, [Disruptive] ${s.disruptive ? 'included' : 'excluded'}${s.strict ? ', --strict' : ''}`,
    ]);
    rows.push(['known-failures profile', s.known ?? '(none)']);
  } else {
    rows.push(['selection', 'not recorded']);
    rows.push(['known-failures profile', 'not recorded']);
  }
  if (r.rebuiltFrom) rows.push(['rebuilt from', r.rebuiltFrom]);
  const present = (f: string) => !reportDir || existsSync(join(reportDir, f));
  const files = ['allure-results/', 'junit.xml', RUN_RECORD_FILE].filter((f) => present(f));
  const html = reportDir !== undefined && existsSync(join(reportDir, HTML_FILE));
  rows.push([
    'reports',
    `${files.join(', ')}; ${html ? `HTML: ${HTML_FILE}` : `\`sctp-e2e report --from ${reportDir ?? 'DIR'}\` writes the HTML report ${HTML_FILE}`}`,
  ]);
  return facts(rows);
}

function coverageSection(r: RunRecord): string {
  const rows = coverage(r).map((row) => [
    row.item.section,
    row.item.item,
    STATUS_TEXT[row.status],
    row.detail,
  ]);
  return [
    '## KEP-614 coverage',
    '',
    'Every test-plan item, user story and GA criterion of KEP-614, and what this run says about it.',
    '',
    table(['section', 'item', 'verdict', 'detail'], rows),
  ].join('\n');
}

const yesNo = (v: boolean | undefined) => (v === undefined ? '?' : v ? 'yes' : 'no');

function clusterSection(r: RunRecord): string {
  const out = ['## Cluster (preflight)', ''];
  const c = r.cluster;
  if (!c) {
    out.push(`Not recorded${r.clusterError ? `: ${r.clusterError}` : ''}.`);
    return out.join('\n');
  }
  out.push(
    facts([
      ['API server', `${c.server} (${c.serverVersion})`],
      ['node access', `${c.nodeAccess}${c.nodeAccessNote ? ` (${c.nodeAccessNote})` : ''}`],
      ['agent', `${c.agent.kind} (${c.agent.image})`],
    ]),
    '',
    table(
      [
        'node',
        'kernel',
        'sctp module',
        'blacklisted',
        'load at boot',
        'kube-proxy',
        'CNI',
        'NetworkPolicy engine',
      ],
      c.nodes.map((n) => [
        n.name,
        n.kernel ?? '?',
        n.sctpModule ?? '?',
        yesNo(n.blacklisted),
        yesNo(n.loadAtBoot),
        n.proxyMode ?? '?',
        n.cni ?? '?',
        n.netpol ?? '?',
      ]),
    ),
  );
  if (c.openshift.trim()) out.push('', fenced(c.openshift.trim()));
  if (r.guard)
    out.push(
      '',
      `Module guard, every node at run start → run end: ${r.guard.start
        .map((n) => `${n.node} ${n.state} → ${r.guard!.end.find((e) => e.node === n.node)?.state ?? '?'}`)
        .join(', ')}${r.guard.findings.length ? '' : '; no load between tests'}.`,
    );
  const ns = r.namespacesAtEnd;
  if (ns)
    out.push(
      '',
      ns.checked === false
        ? 'Cleanup: not checked. The run deleted its namespaces and ended without waiting for them to go (--namespaces-no-wait); `sctp-e2e cleanup` removes any left.'
        : ns.left.length
          ? `**Cleanup incomplete:** ${ns.left.length} namespace(s) of the run still listed ${(ns.waitedMs / 1000).toFixed(1)} s after the last test: ${ns.left.map((n) => `\`${n}\``).join(', ')}.`
          : `Cleanup: no namespace of the run was left ${(ns.waitedMs / 1000).toFixed(1)} s after the last test.`,
    );
  return out.join('\n');
}

/** Where each test's page is in the HTML report (`#/…` by full title), once `report` has written it. */
export type HtmlAnchors = ReadonlyMap<string, string>;

const htmlLink = (t: TestRecord, anchors?: HtmlAnchors) => {
  const anchor = anchors?.get(t.fullTitle);
  return anchor ? ` · [in the HTML report](${HTML_FILE}${anchor})` : '';
};

function evidenceBlocks(t: TestRecord): string[] {
  return t.evidence.flatMap((e) => ['', `#### ${e.name}`, '', fenced(e.text)]);
}

function failuresSection(failed: TestRecord[], anchors?: HtmlAnchors): string {
  const out = ['## Failures and errors'];
  for (const t of failed) {
    const broken = t.guard?.nodes.filter((n) => n.judgement === 'broken' || n.raw !== undefined) ?? [];
    out.push(
      '',
      `### ${t.verdict === 'error' ? 'ERROR (the suite could not judge)' : 'FAILED'}: ${t.fullTitle}`,
      '',
      `KEP-614: ${t.story ?? '(no story)'} · ${t.tier} · ${seconds(t.durationMs)}${htmlLink(t, anchors)}`,
      '',
      fenced(t.failure ?? t.reason ?? '(no message)'),
      ...(broken.length
        ? [
            '',
            '#### module guard',
            '',
            fenced(broken.map((n) => `${n.node}: ${n.before} → ${n.after}: ${n.why}`).join('\n')),
          ]
        : []),
      ...evidenceBlocks(t),
    );
  }
  return out.join('\n');
}

function knownSection(known: TestRecord[], nowPassing: TestRecord[], anchors?: HtmlAnchors): string {
  const out: string[] = [];
  if (known.length) {
    out.push(
      '## Known failures',
      '',
      'Listed in the known-failures profile: reported, not counted as failures.',
    );
    for (const t of known)
      out.push(
        '',
        `### KNOWN: ${t.fullTitle}`,
        '',
        `Known: ${t.known ? describeKnownEntry(t.known) : (t.reason ?? '')}; the failure matched /${t.known?.message ?? ''}/${htmlLink(t, anchors)}`,
        '',
        fenced(t.failure ?? ''),
      );
  }
  if (nowPassing.length) {
    if (out.length) out.push('');
    out.push(
      '## Known failures now passing',
      '',
      'Listed in the known-failures profile, yet passed: prune them from the profile.',
      '',
      ...nowPassing.map(
        (t) => `- ${t.fullTitle} — listed as: ${t.known ? describeKnownEntry(t.known) : '?'}`,
      ),
    );
  }
  return out.join('\n');
}

function skippedSection(skipped: TestRecord[]): string {
  return [
    '## Skipped',
    '',
    table(
      ['test', 'reason'],
      skipped.map((t) => [t.fullTitle, t.reason ?? 'not given']),
    ),
  ].join('\n');
}

/** Two texts next to each other, line by line. */
function sideBySide(left: string, right: string): string {
  const l = left.split('\n');
  const r = right.split('\n');
  const width = Math.max(...l.map((x) => x.length)) + 4;
  return Array.from({ length: Math.max(l.length, r.length) }, (_, i) =>
    `${(l[i] ?? '').padEnd(width)}${r[i] ?? ''}`.trimEnd(),
  ).join('\n');
}

function truthTablesSection(tests: TestRecord[]): string {
  const out = [
    '## NetworkPolicy truth tables',
    '',
    'Expected and observed reachability over SCTP (rows: from, columns: to); in the comparison `!` marks a cell that differs from expected.',
  ];
  for (const t of tests) {
    const get = (name: string) => t.evidence.find((e) => e.name === name)?.text;
    const expected = get('expected');
    const observed = get('observed');
    const comparison = get('comparison');
    out.push('', `### ${VERDICT_TEXT[t.verdict]}: ${t.title}`, '');
    if (expected && observed) out.push(fenced(sideBySide(expected, observed)));
    else if (expected ?? observed) out.push(fenced((expected ?? observed)!));
    if (comparison) out.push('', fenced(comparison));
  }
  return out.join('\n');
}

function allTestsSection(tests: TestRecord[]): string {
  return [
    '## All tests',
    '',
    table(
      ['verdict', 'test', 'time'],
      tests.map((t) => [
        `${VERDICT_TEXT[t.verdict]}${t.knownNowPasses ? ' (listed as known)' : ''}`,
        t.fullTitle,
        seconds(t.durationMs),
      ]),
    ),
  ].join('\n');
}

/** The whole summary; `reportDir` only decides whether the HTML report is named as written. */
export function renderSummary(r: RunRecord, reportDir?: string, anchors?: HtmlAnchors): string {
  const by = (v: TestRecord['verdict']) => r.tests.filter((t) => t.verdict === v);
  const truthTables = r.tests.filter((t) =>
    t.evidence.some((e) => (TRUTH_TABLE_EVIDENCE as readonly string[]).includes(e.name)),
  );
  const nowPassing = r.tests.filter((t) => t.knownNowPasses);
  const failed = r.tests.filter((t) => t.verdict === 'failed' || t.verdict === 'error');
  const sections = [
    `# sctp-e2e run ${r.runId}`,
    verdictLine(r),
    attentionSection(r),
    header(r, reportDir),
    coverageSection(r),
    clusterSection(r),
    failed.length ? failuresSection(failed, anchors) : '',
    by('known').length || nowPassing.length ? knownSection(by('known'), nowPassing, anchors) : '',
    by('skipped').length ? skippedSection(by('skipped')) : '',
    truthTables.length ? truthTablesSection(truthTables) : '',
    allTestsSection(r.tests),
  ];
  return `${sections.filter(Boolean).join('\n\n')}\n`;
}

export function writeSummary(reportDir: string, record: RunRecord, anchors?: HtmlAnchors): string {
  const path = join(reportDir, SUMMARY_FILE);
  writeFileSync(path, renderSummary(record, reportDir, anchors));
  return path;
}
