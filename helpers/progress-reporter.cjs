// Console reporter for CI logs and people alike: one line per finished test
// with its verdict, time and the running counts, the reasons of skips, the
// failures in full at the end, and a last line `N passed, N failed, N skipped`.
// With the reporter option `quiet` (sctp-e2e run --quiet) only failures, known
// failures (and listed ones that now pass) and that last line are printed.
// Plain CommonJS because mocha loads reporters with require().
'use strict';
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class ProgressReporter extends Mocha.reporters.Base {
  constructor(runner, options) {
    super(runner, options);
    const counts = { passed: 0, failed: 0, skipped: 0 };
    const failures = [];
    const started = Date.now();
    const quiet = Boolean(options && options.reporterOptions && options.reporterOptions.quiet);
    const line = (verdict, test, extra, always) => {
      if (quiet && !always) return;
      const secs = ((test.duration ?? 0) / 1000).toFixed(1);
      const total = ((Date.now() - started) / 1000).toFixed(0);
      process.stdout.write(
        `${verdict.padEnd(5)} ${test.fullTitle()} (${secs}s)  [${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped; ${total}s]\n${extra ? `     ${extra}\n` : ''}`,
      );
    };
    const known = { failing: 0, nowPassing: [] };
    runner.on(EVENT_TEST_PASS, (test) => {
      counts.passed++;
      if (test.knownNowPasses) known.nowPassing.push(test.fullTitle());
      line(
        'ok',
        test,
        test.knownNowPasses
          ? `listed as a known failure (${test.knownNowPasses}) but passes: prune it from the profile`
          : '',
        Boolean(test.knownNowPasses),
      );
    });
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      counts.failed++;
      failures.push([test, err]);
      line('FAIL', test, String(err && err.message).split('\n')[0], true);
    });
    runner.on(EVENT_TEST_PENDING, (test) => {
      counts.skipped++;
      if (test.knownFailure) {
        known.failing++;
        line('KNOWN', test, `known failure: ${test.knownFailure}`, true);
      } else line('skip', test, test.skipReason ? `reason: ${test.skipReason}` : 'reason: not given');
    });
    runner.once(EVENT_RUN_END, () => {
      for (const [i, [test, err]] of failures.entries()) {
        process.stdout.write(
          `\n${i + 1}) ${test.fullTitle()}\n${indent(err && (err.message || String(err)))}\n`,
        );
      }
      if (known.failing || known.nowPassing.length) {
        process.stdout.write(
          `\nknown failures: ${known.failing} (counted as skipped below); listed but now passing: ${known.nowPassing.length}\n`,
        );
      }
      // `sctp-e2e run` prints this line itself, last, after its own output.
      if (!(options && options.reporterOptions && options.reporterOptions.summaryLine === false)) {
        process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
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
