/**
 * junit.xml rendered from the tests' outcomes: failed → <failure>, error →
 * <error>, skipped and known → <skipped> with the reason. A failure's body
 * is its full text and the evidence (the JUnit body is often all a CI user
 * sees); the console shows the same, allure attaches it.
 */
import { writeFileSync } from 'node:fs';
import { describeKnownEntry, guardTable, type TestOutcome } from '../framework/outcome.ts';

const xml = (s: string) =>
  s
    // XML 1.0 cannot carry most control characters, even escaped.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');

/** The failure text and each piece of evidence once, as the console and JUnit show them. */
export function failureBody(o: TestOutcome): string {
  const parts = [o.failure ?? o.reason ?? ''];
  for (const e of o.evidence) parts.push(`--- ${e.name}\n${e.text}`);
  if (o.guard && o.guard.nodes.some((n) => n.judgement === 'broken' || n.raw !== undefined))
    parts.push(`--- sctp module guard per node\n${guardTable(o.guard)}`);
  return parts.join('\n');
}

function testcase(o: TestOutcome): string {
  const classname = o.fullTitle.endsWith(o.title) ? o.fullTitle.slice(0, -o.title.length).trim() : o.tier;
  const open = `<testcase classname="${xml(classname)}" name="${xml(o.title)}" time="${(o.durationMs / 1000).toFixed(3)}"`;
  switch (o.verdict) {
    case 'passed':
      return `${open}/>`;
    case 'skipped':
      return `${open}><skipped message="${xml(o.reason ?? 'not given')}"/></testcase>`;
    case 'known':
      return `${open}><skipped message="${xml(`known failure: ${describeKnownEntry(o.known!)}`)}"/><system-out>${xml(failureBody(o))}</system-out></testcase>`;
    case 'failed':
    case 'error': {
      const tag = o.verdict === 'failed' ? 'failure' : 'error';
      return `${open}><${tag} message="${xml(o.reason ?? o.verdict)}">${xml(failureBody(o))}</${tag}></testcase>`;
    }
  }
}

export function renderJunit(tests: readonly TestOutcome[]): string {
  const n = (...v: Array<TestOutcome['verdict']>) => tests.filter((t) => v.includes(t.verdict)).length;
  const secs = tests.reduce((s, t) => s + t.durationMs, 0) / 1000;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuite name="sctp-e2e" tests="${tests.length}" failures="${n('failed')}" errors="${n('error')}" skipped="${n('skipped', 'known')}" time="${secs.toFixed(3)}">`,
    ...tests.map((t) => `  ${testcase(t)}`),
    '</testsuite>',
    '',
  ].join('\n');
}

export function writeJunit(path: string, tests: readonly TestOutcome[]): void {
  writeFileSync(path, renderJunit(tests));
}
