// Console reporter for CI logs and people alike: one line per finished test
// with its verdict, time and the running counts, the reasons of skips, the
// failures in full at the end, and a last line `N passed, N failed, N skipped`
// (errors count as failed, known failures as skipped).
// It renders each test's outcome (helpers/framework/outcome.ts, hung on the test by
// sctpIt as `outcome`); a runnable without one (a hook) falls back to mocha's
// own pass/fail/pending.
// With the reporter option `quiet` (sctp-e2e run --quiet) only failures,
// errors, known failures (and listed ones that now pass) and that last line
// are printed. Plain CommonJS because mocha loads reporters with require().
'use strict';
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

const CONSOLE_VERDICT = { passed: 'ok', failed: 'FAIL', error: 'ERROR', skipped: 'skip', known: 'KNOWN' };

function describeKnown(k) {
  return `${k.reason}${k.reference ? ` (${k.reference})` : ''}`;
}

/** The failure text and each piece of evidence once (as helpers/report/junit.ts failureBody). */
function failureBody(o) {
  const parts = [o.failure || o.reason || ''];
  for (const e of o.evidence || []) parts.push(`--- ${e.name}\n${e.text}`);
  if (o.guard && o.guard.nodes.some((n) => n.judgement === 'broken' || n.raw !== undefined))
    parts.push(
      `--- sctp module guard per node\n${o.guard.nodes.map((n) => `${n.node}: ${n.before} → ${n.after}: ${n.judgement} (${n.why})`).join('\n')}`,
    );
  return parts.join('\n');
}

class ProgressReporter extends Mocha.reporters.Base {
  constructor(runner, options) {
    super(runner, options);
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const failures = [];
    const started = Date.now();
    const ro = (options && options.reporterOptions) || {};
    const quiet = Boolean(ro.quiet);
    const known = { failing: 0, nowPassing: 0 };
    const line = (verdict, test, extra, always) => {
      if (quiet && !always) return;
      // The test's own time: with --parallel, mocha's is only how long it waited for it.
      const secs = ((test.outcome?.durationMs ?? test.duration ?? 0) / 1000).toFixed(1);
      const total = ((Date.now() - started) / 1000).toFixed(0);
      process.stdout.write(
        `${verdict.padEnd(5)} ${test.fullTitle()} (${secs}s)  [${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped; ${total}s]\n${extra ? `     ${extra}\n` : ''}`,
      );
    };
    const render = (test, fallback, err) => {
      const o = test.outcome;
      const verdict = o ? o.verdict : fallback;
      if (verdict === 'passed') counts.passed++;
      else if (verdict === 'failed' || verdict === 'error') counts.failed++;
      else counts.skipped++;
      switch (verdict) {
        case 'passed': {
          const listed = o && o.knownNowPasses;
          if (listed) known.nowPassing++;
          line(
            'ok',
            test,
            listed
              ? `listed as a known failure (${describeKnown(o.known)}) but passes: prune it from the profile`
              : '',
            Boolean(listed),
          );
          break;
        }
        case 'failed':
        case 'error':
          failures.push([test, o ? failureBody(o) : String((err && (err.message || err)) || 'failed')]);
          line(
            CONSOLE_VERDICT[verdict],
            test,
            `${verdict === 'error' ? 'error (the suite could not judge): ' : ''}${o ? o.reason || '' : String(err && err.message).split('\n')[0]}`,
            true,
          );
          break;
        case 'known':
          known.failing++;
          line('KNOWN', test, `known failure: ${describeKnown(o.known)}`, true);
          break;
        default:
          line('skip', test, `reason: ${(o && o.reason) || 'not given'}`);
      }
    };
    runner.on(EVENT_TEST_PASS, (test) => render(test, 'passed'));
    runner.on(EVENT_TEST_FAIL, (test, err) => render(test, 'failed', err));
    runner.on(EVENT_TEST_PENDING, (test) => render(test, 'skipped'));
    runner.once(EVENT_RUN_END, () => {
      for (const [i, [test, text]] of failures.entries()) {
        process.stdout.write(`\n${i + 1}) ${test.fullTitle()}\n${indent(text)}\n`);
      }
      if (known.failing || known.nowPassing) {
        process.stdout.write(
          `\nknown failures: ${known.failing} (counted as skipped below); listed but now passing: ${known.nowPassing}\n`,
        );
      }
      // `sctp-e2e run` prints this line itself, last, after its own output.
      if (ro.summaryLine !== false) {
        process.stdout.write(
          `\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`,
        );
      }
    });
  }
}

function indent(text) {
  return String(text)
    .split('\n')
    .map((l) => `   ${l}`)
    .join('\n');
}

module.exports = ProgressReporter;
