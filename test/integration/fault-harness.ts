/**
 * The fault harness's machinery, shared by its rows on one node
 * (faults.test.ts) and on two (nodes.test.ts): a row breaks the local cluster
 * the way a test guards against, runs exactly the tests it names, checks that
 * those that must fail fail (with a message naming what is missing) while the
 * others still pass, then repairs the cluster. Once the rows of a shape are
 * done, one run on the repaired cluster checks that every test they made
 * fail passes again.
 */
import { join } from 'node:path';
import { expect } from 'chai';
import { tempDir } from '../temp-dir.ts';
import { ROOT } from '../../helpers/framework/runner.ts';
import { runNamespaces, sctpE2e, type CliRun } from './local-cluster.ts';
import { poll } from '../../helpers/framework/poll.ts';

export interface Fault {
  name: string;
  apply(): Promise<void>;
  undo(): Promise<void>;
  /**
   * Title fragments of the tests that must fail, and what their message must
   * say; `verdicts`: the verdicts that count as failing (default FAIL; ERROR
   * too for a test the suite could not judge; skip for a test that must say
   * "not judged" rather than pass, its reason the message); `repaired`: its verdicts on
   * the repaired cluster (default ok; KNOWN for a test in the known profile).
   */
  mustFail: Array<{ title: string; message: RegExp; verdicts?: string[]; repaired?: string[] }>;
  /** What the failure message must not say (e.g. allowed cells reported blocked). */
  notMessage?: RegExp;
  /** Title fragments of tests that must still pass under the fault. */
  mustPass: string[];
  /** The row runs the connectivity tier too (--disruptive, with the local cluster's known-failures profile). */
  connectivity?: boolean;
  /** Extra arguments of the run under the fault only (e.g. a broken agent image). */
  brokenArgs?: string[];
  /** `cluster up` flags of the shape the row runs on (default: the default shape); the harness switches the cluster to it when it is not running already. */
  shape?: string[];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function verdictOf(run: CliRun, fragment: string): string {
  const entries = [...run.verdicts].filter(([title]) => title.includes(fragment));
  if (entries.length !== 1) return `not run (${entries.length} tests match "${fragment}")`;
  return entries[0][1];
}

function failureText(run: CliRun, fragment: string): string {
  // The progress reporter prints each failure in full after the run, and a
  // skip's reason on the line under the skip.
  const at = run.stdout
    .split(/\n(?=\d+\) )/)
    .find((block) => /^\d+\) /.test(block) && block.includes(fragment));
  if (at) return at;
  const skip = /^skip +(.*)\n +reason: (.*)$/gm;
  for (const m of run.stdout.matchAll(skip)) if (m[1].includes(fragment)) return m[2];
  return '';
}

/** The rule deadline (--rule-timeout) of the run under a fault; the repaired run keeps the default. */
const BROKEN_RULE_SECONDS = 5;
/** How many tests of the run under a fault run at once (--parallel). */
const BROKEN_PARALLEL = 6;

const table: string[] = [];
const REPORT_DIR = tempDir('sctp-e2e-fault-');

/**
 * The rows run since the last print, as the harness prints them: fault |
 * test | must | observed. Each file prints its own (one mocha process runs
 * them all, and this table is the module's).
 */
export function printTable(title: string): void {
  process.stdout.write(`\n${title} (fault | test | must | observed)\n${table.join('\n')}\n\n`);
  table.length = 0;
}

/**
 * Waits until no namespace of any run is left. A run waits at its end for
 * its namespaces, but at most a minute, and on a broken cluster they can
 * outlast it. A pod removed after the fault changed the node is torn down
 * by the changed node: one made with portmap and deleted
 * without it leaves its hostPort DNAT rule behind for good, and that stale
 * rule then wins over the next run's. So the harness applies a fault only
 * once the pods of earlier runs are gone. (Undoing needs no such wait:
 * what the broken run made without portmap or its rules leaves nothing
 * when removed with them.)
 */
async function earlierRunsGone(): Promise<void> {
  await poll(
    'the namespaces of earlier runs to be gone',
    { timeoutMs: 120_000, intervalMs: 500 },
    async () => {
      const left = (await runNamespaces()).trim();
      if (!left) return true;
      throw new Error(left);
    },
  );
}

/** The arguments of a harness run of `faults`' tests (`focus`: title fragments). */
function runArgs(faults: Fault[], focus: string[]): string[] {
  const args = ['run', '--focus', focus.map(escape).join('|'), '--report-dir', REPORT_DIR];
  if (faults.some((f) => f.connectivity))
    args.push('--disruptive', '--known', join(ROOT, 'fixtures', 'known', 'local-cluster.yaml'));
  return args;
}

/**
 * Breaks the cluster as the row says, runs the row's tests, repairs it, and
 * judges the run under the fault: the tests that must fail fail, naming what
 * is missing, and the others pass. Throws what went wrong. Whether the
 * failing tests pass again is `runRepaired`'s, after the rows of the shape.
 */
export async function runUnderFault(fault: Fault): Promise<void> {
  const args = runArgs([fault], [...fault.mustFail.map((m) => m.title), ...fault.mustPass]);
  await earlierRunsGone();
  await fault.apply();
  let broken: CliRun;
  try {
    // Under the fault the guarded tests wait out their deadline, so the run
    // under it is mostly waiting: a short rule deadline (what the row's
    // passing tests need comes within a second or two: kube-proxy's rules,
    // portmap's at the pod's start, a policy-free truth table's one round),
    // and more tests side by side than the default 3. Its namespaces go
    // while the harness repairs (the next row's fault waits for them).
    broken = await sctpE2e([
      ...args,
      '--rule-timeout',
      String(BROKEN_RULE_SECONDS),
      '--parallel',
      String(BROKEN_PARALLEL),
      '--namespaces-no-wait',
      ...(fault.brokenArgs ?? []),
    ]);
  } finally {
    await fault.undo();
  }
  const problems: string[] = [];
  for (const f of fault.mustFail) {
    const observed = verdictOf(broken, f.title);
    table.push(`${fault.name} | ${f.title} | ${(f.verdicts ?? ['FAIL']).join('/')} | ${observed}`);
    if (!(f.verdicts ?? ['FAIL']).includes(observed))
      problems.push(`"${f.title}" must fail under the fault, was ${observed}`);
    else if (fault.notMessage?.test(failureText(broken, f.title)))
      problems.push(
        `"${f.title}" failed for the wrong reason (${fault.notMessage}):\n${failureText(broken, f.title)}`,
      );
    else if (!f.message.test(failureText(broken, f.title)))
      problems.push(
        `"${f.title}" failed without naming what is missing (${f.message}):\n${failureText(broken, f.title)}`,
      );
  }
  for (const title of fault.mustPass) {
    const observed = verdictOf(broken, title);
    table.push(`${fault.name} | ${title} | ok | ${observed}`);
    if (observed !== 'ok') problems.push(`"${title}" must still pass under the fault, was ${observed}`);
  }
  expect(
    problems,
    `${problems.join('\n')}\n--- run under the fault:\n${broken.stdout.slice(-4000)}`,
  ).to.deep.equal([]);
  expect(broken.code, `exit code under the fault\n${broken.stdout.slice(-2000)}${broken.stderr}`).to.equal(1);
}

/**
 * One run, on the repaired cluster, of every test that `faults` made fail:
 * each must pass again (or be what its row says, e.g. a known failure), and
 * the run must exit 0. One run for the rows of a shape rather than one per
 * row: a run's fixed cost (its start, and its end waiting for its namespaces
 * to go) was a third of the harness. A repair that did not work still shows:
 * its row's tests fail here, whatever rows came after it (the rows after it
 * would run on a cluster still broken, and their own checks fail too).
 */
export async function runRepaired(faults: Fault[]): Promise<void> {
  const titles = [...new Set(faults.flatMap((f) => f.mustFail.map((m) => m.title)))];
  await earlierRunsGone();
  const repaired = await sctpE2e(runArgs(faults, titles));
  const problems: string[] = [];
  for (const fault of faults)
    for (const f of fault.mustFail) {
      const again = verdictOf(repaired, f.title);
      const repairedVerdicts = f.repaired ?? ['ok'];
      table.push(`${fault.name} (repaired) | ${f.title} | ${repairedVerdicts.join('/')} | ${again}`);
      if (!repairedVerdicts.includes(again))
        problems.push(
          `"${f.title}" (${fault.name}) must be ${repairedVerdicts.join(' or ')} once repaired, was ${again}`,
        );
    }
  expect(
    problems,
    `${problems.join('\n')}\n--- repaired run:\n${repaired.stdout.slice(-4000)}`,
  ).to.deep.equal([]);
  expect(
    repaired.code,
    `exit code once repaired\n${repaired.stdout.slice(-3000)}${repaired.stderr}`,
  ).to.equal(0);
}
