/**
 * Loaded by the launcher (bin/sctp-e2e) and by mocha (.mocharc.json) before
 * tsx registers its loader: imports the large packages the CLI and the suites
 * use, natively. tsx's loader hooks every module a process imports, and a
 * package's thousands of files then cost twice their native import time:
 * @kubernetes/client-node alone (about 2,600 files) took 3.4 to 3.9 s through
 * tsx and 1.7 to 2.2 s natively on the 2-core machine. The TypeScript that
 * imports these packages later resolves them to the same module, already
 * loaded, so every command starts that much sooner.
 *
 * Plain JavaScript because it runs before tsx; only packages every `run`
 * imports anyway, so no command loads one it would not have.
 */
import { createRequire } from 'node:module';

await Promise.all([import('@kubernetes/client-node'), import('mocha'), import('execa'), import('node-ssh')]);
// mocha loads its reporter with require(), so its CommonJS build, cached here.
createRequire(import.meta.url)('allure-mocha');
