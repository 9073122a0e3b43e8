/**
 * What `sctp-e2e run` would run, without a cluster: the same configuration
 * and runner (`runSuites`) in mocha's dry-run mode, which reports every
 * selected test as passed without running it. Prints the console output, then
 * `DRY-RUN <JSON list of the full titles the runner reported>`. One process
 * per selection: suites/ loads once per process.
 *
 *   node --import ./bin/loader.mjs test/unit/helpers/dry-run.ts [--quiet] -- <sctp-e2e flags...>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type RawSettings } from '../../../helpers/framework/config.ts';
import { runSuites } from '../../../helpers/framework/runner.ts';

const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const flags: RawSettings = {};
const rest = args.slice(args.indexOf('--') + 1);
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--focus') flags.focus = rest[++i];
  else if (rest[i] === '--skip') flags.skip = rest[++i];
  else if (rest[i] === '--disruptive') flags.disruptive = true;
  else throw new Error(`dry-run: unknown argument ${rest[i]}`);
}
const reportDir = mkdtempSync(join(tmpdir(), 'sctp-e2e-dry-run-'));
try {
  const { tests } = await runSuites(loadConfig({ flags, localEnvFile: '/nonexistent' }), reportDir, {
    dryRun: true,
    quiet,
  });
  process.stdout.write(`DRY-RUN ${JSON.stringify(tests.map((t) => t.fullTitle))}\n`);
} finally {
  rmSync(reportDir, { recursive: true, force: true });
}
