/**
 * sctp-e2e: the command line.
 *
 *   sctp-e2e run        run the selected conformance tests (default: all but [Disruptive]);
 *                       --list prints them instead (no cluster needed), --quiet prints only
 *                       failures, known failures and the counts
 *   sctp-e2e report     the single-file HTML report and summary.md of a run (--from DIR)
 *   sctp-e2e preflight  what the suite sees of the cluster, without loading sctp.ko
 *   sctp-e2e list       the tests run would run, with their tags (no cluster needed)
 *   sctp-e2e cleanup    remove namespaces left by crashed runs
 *   sctp-e2e cluster    up | down | status | env | load-suite — the local cluster
 *   sctp-e2e local      cluster up, then run both tiers with the local known-failures profile
 *   sctp-e2e job        run the suite inside the cluster as a Job (helpers/in-cluster/job.ts); --keep leaves its objects
 *   sctp-e2e enable-sctp | disable-sctp --openshift [--pool worker]
 *                       apply / remove the documented load-sctp-module MachineConfig
 *
 * Exit codes: 0 all passed, 1 a test failed, 2 the suite could not judge
 * (configuration, API or node access, infrastructure) with one line saying why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  attachNegativeValues,
  ensureReportDir,
  flagName,
  loadConfig,
  LOCAL_CLUSTER_ENV,
  LOCAL_SUITE_IMAGE,
  SETTINGS,
  envName,
  type Config,
  type RawSettings,
} from '../helpers/framework/config.ts';
import { SuiteError, errorText } from '../helpers/framework/errors.ts';
import { loadKubeConfig, makeKube, checkApi } from '../helpers/access/kube.ts';
import { deleteNamespace, listRunNamespaces } from '../helpers/access/namespaces.ts';
import { preflightTable, readClusterFacts, type ClusterFacts } from '../helpers/access/preflight.ts';
import {
  allureResultFiles,
  htmlAnchors,
  recordFromAllure,
  renderOutcomesInAllure,
} from '../helpers/report/allure-results.ts';
import { writeHtmlReport } from '../helpers/report/html.ts';
import { readRunRecord, writeRunRecord, type RunRecord } from '../helpers/report/run-record.ts';
import { HTML_FILE, writeSummary } from '../helpers/report/summary.ts';
import {
  disableSctpCommand,
  enableSctpCommand,
  parseSctpCommandFlags,
  type RawSctpFlags,
} from '../helpers/openshift/commands.ts';
import { jobCommand, stopJob } from '../helpers/in-cluster/job.ts';
import { abortRun, closeRun, openRun, runAborted } from '../helpers/framework/run-context.ts';
import { setNotices } from '../helpers/framework/notices.ts';
import { listTitles, loadSuites, ROOT, runSuites } from '../helpers/framework/runner.ts';
import { endRunGuard, startRunGuard } from '../helpers/framework/steps/guard.ts';

/**
 * How long a run waits at its end for its namespaces to be gone. Kubernetes'
 * namespace controller acts on a deletion only 5 s after it
 * (namespaceDeletionGracePeriod), and the suite's pods have no grace period,
 * so the last namespaces normally go 5 to 8 s after the last test; one still
 * listed after a minute is stuck (a finalizer, a node that does not tear
 * pods down) and is reported rather than waited for.
 */
const NAMESPACES_GONE_MS = 60_000;

const USAGE = `usage: sctp-e2e <run|job|report|preflight|list|cleanup|local|cluster up|down|status|env|load-suite|enable-sctp|disable-sctp> [flags]

flags (each also as SCTP_E2E_<NAME> and as a key of --config FILE):
  --config FILE              YAML or JSON file of settings
${SETTINGS.map((s) => `  --${flagName(s.name)}${s.kind === 'boolean' ? '' : ' VALUE'}`.padEnd(29) + `${s.help}${s.default !== undefined && s.kind !== 'boolean' ? ` (default ${s.default})` : ''}  [${envName(s.name)}]`).join('\n')}
  --run ID                   with cleanup: only that run's namespaces
  --list                     with run: print the tests it would run, with their tags; touch no cluster
  --from DIR                 with report: the report dir of the run (default: --report-dir)
  --keep                     with job: leave its namespace, ClusterRole and ClusterRoleBinding (debugging)
  --proxy-mode MODE          with cluster up and local: kube-proxy's mode, iptables (default) or nftables
  --netpol ENGINE            with cluster up and local: kube-router (default) or kube-network-policies
  --nodes N                  with cluster up and local: how many nodes, 1 to 3 (default 2); another count than the running cluster's needs cluster down first

enable-sctp / disable-sctp (OpenShift, OKD: the load-sctp-module MachineConfig):
  --openshift                required: enable SCTP the OpenShift way (MachineConfig)
  --pool NAME                the MachineConfigPool (default worker)
  --dry-run                  print the MachineConfig YAML (disable: what would be deleted); change nothing
  --wait-timeout SECONDS     how long to wait for the pool to roll out (default 3600)
`;

function parse(argv: string[]): {
  command: string[];
  flags: RawSettings;
  configFile?: string;
  runId?: string;
  help: boolean;
  list: boolean;
  keep: boolean;
  from?: string;
  /** `cluster up` flags naming the local cluster's shape (--proxy-mode, --netpol, --nodes), as given. */
  shape: string[];
  sctp: RawSctpFlags;
} {
  const options: Record<string, { type: 'string' | 'boolean' }> = {
    config: { type: 'string' },
    run: { type: 'string' },
    help: { type: 'boolean' },
    list: { type: 'boolean' },
    keep: { type: 'boolean' },
    from: { type: 'string' },
    'proxy-mode': { type: 'string' },
    netpol: { type: 'string' },
    nodes: { type: 'string' },
  };
  // enable-sctp / disable-sctp only; not settings, so not in SETTINGS.
  Object.assign(options, {
    openshift: { type: 'boolean' },
    pool: { type: 'string' },
    'dry-run': { type: 'boolean' },
    'wait-timeout': { type: 'string' },
  });
  for (const s of SETTINGS) options[flagName(s.name)] = { type: s.kind === 'boolean' ? 'boolean' : 'string' };
  let parsed;
  try {
    const valueFlags = new Set(Object.keys(options).filter((k) => options[k].type === 'string'));
    parsed = parseArgs({
      args: attachNegativeValues(argv, valueFlags),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new SuiteError(errorText(err).split('\n')[0], 'see `sctp-e2e --help`');
  }
  const flags: RawSettings = {};
  for (const s of SETTINGS) {
    const v = parsed.values[flagName(s.name)];
    if (v !== undefined) flags[s.name] = v as string | boolean;
  }
  const sctp: RawSctpFlags = {
    openshift: parsed.values.openshift as boolean | undefined,
    pool: parsed.values.pool as string | undefined,
    dryRun: parsed.values['dry-run'] as boolean | undefined,
    waitTimeout: parsed.values['wait-timeout'] as string | undefined,
  };
  return {
    command: parsed.positionals,
    flags,
    configFile: parsed.values.config as string | undefined,
    runId: parsed.values.run as string | undefined,
    help: Boolean(parsed.values.help),
    list: Boolean(parsed.values.list),
    keep: Boolean(parsed.values.keep),
    from: parsed.values.from as string | undefined,
    shape: (['proxy-mode', 'netpol', 'nodes'] as const).flatMap((f) =>
      parsed.values[f] === undefined ? [] : [`--${f}`, parsed.values[f] as string],
    ),
    sctp,
  };
}

/** Runs a cluster script; `shape` are the flags of `up` (the cluster's shape, checked by up.sh). */
function clusterScript(action: string, shape: string[] = []): number {
  const scripts: Record<string, string> = {
    up: 'up.sh',
    down: 'down.sh',
    status: 'status.sh',
    'load-suite': 'load-suite.sh',
  };
  if (action === 'env') {
    if (!existsSync(LOCAL_CLUSTER_ENV))
      throw new SuiteError('the local cluster is not up (no env file)', 'run `sctp-e2e cluster up`');
    process.stdout.write(readFileSync(LOCAL_CLUSTER_ENV, 'utf8'));
    return 0;
  }
  const script = scripts[action];
  if (!script)
    throw new SuiteError(
      `unknown cluster action "${action ?? ''}"`,
      'use up, down, status, env or load-suite',
    );
  return spawnSync('bash', [join(ROOT, 'cluster', script), ...shape], { stdio: 'inherit' }).status ?? 2;
}

/** `list` and `run --list`: the titles `run` would run, from the same selection code. */
async function listCommand(config: Config): Promise<number> {
  const { mocha } = await loadSuites(config);
  for (const title of listTitles(mocha)) process.stdout.write(`${title}\n`);
  return 0;
}

async function runCommand(config: Config): Promise<number> {
  // Before any cluster contact: a run that cannot write its reports must not start.
  ensureReportDir(config.reportDir);
  setNotices({ quiet: config.quiet });
  const ctx = await openRun(config);
  if (!config.quiet)
    process.stdout.write(
      `sctp-e2e run ${config.runId}: ${ctx.kube.server} (${ctx.serverVersion}), ${ctx.nodes.length} node(s), node access ${ctx.access.kind}, agent ${ctx.agent.kind}\n`,
    );
  const startedAt = new Date().toISOString();
  // Read before any test runs: the module state in the summary is the one the tests found.
  let cluster: ClusterFacts | undefined;
  let clusterError: string | undefined;
  // Every node's module state before the first test: a load by anything
  // before a test, between tests or after the last is caught and named. It
  // runs beside the cluster facts: the guard reads on its own lane, whose
  // session opens with this first reading.
  await Promise.all([
    readClusterFacts(ctx).then(
      (facts) => (cluster = facts),
      (err: unknown) => (clusterError = errorText(err).split('\n')[0]),
    ),
    startRunGuard(ctx),
  ]);
  const { counts, tests, unselected, knownUnused } = await runSuites(config, config.reportDir, {
    quiet: config.quiet,
    summaryLine: false,
    known: ctx.known,
  });
  // A signal stopped the run: its handler removes the namespaces and exits;
  // tests cut short are no verdict, so no run.json or summary claims one.
  if (runAborted()) return 130;
  const guard = await endRunGuard(ctx);
  // --namespaces-no-wait: one round of deletes, no wait (closeRun without
  // waitMs), so nothing is known of what is left.
  const closed = await closeRun(config.namespacesNoWait ? {} : { waitMs: NAMESPACES_GONE_MS });
  for (const l of closed.failures) process.stderr.write(`sctp-e2e: cleanup: ${l}\n`);
  const ns: RunRecord['namespacesAtEnd'] = config.namespacesNoWait
    ? { left: [], waitedMs: 0, checked: false }
    : closed.namespaces;
  if (ns?.left.length)
    process.stderr.write(
      `sctp-e2e: cleanup: ${ns.left.length} namespace(s) of run ${config.runId} still listed ${(ns.waitedMs / 1000).toFixed(1)} s after the last test: ${ns.left.join(' ')} (see why with kubectl describe namespace; remove with: sctp-e2e cleanup)\n`,
    );
  if (tests.length === 0)
    throw new SuiteError(
      'no test matched the selection',
      'check --focus/--skip (tags need escaping: "\\[Feature:SCTP\\]"; [Disruptive] tests need --disruptive)',
    );
  // --strict: release qualification accepts no skip and no known failure.
  const strictFailures = config.strict
    ? tests
        .filter((t) => t.verdict === 'skipped' || t.verdict === 'known')
        .map((t) => ({ fullTitle: t.fullTitle, verdict: t.verdict, reason: t.reason }))
    : [];
  const exitCode = counts.failed > 0 || guard.findings.length > 0 || strictFailures.length > 0 ? 1 : 0;
  const record: RunRecord = {
    runId: config.runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    exitCode,
    selection: {
      focus: config.focus,
      skip: config.skip,
      disruptive: config.disruptive,
      known: config.known,
      strict: config.strict,
    },
    cluster,
    clusterError,
    counts,
    tests,
    unselected,
    guard,
    knownUnused,
    strictFailures: config.strict ? strictFailures : undefined,
    namespacesAtEnd: ns,
  };
  writeRunRecord(config.reportDir, record);
  const summary = writeSummary(config.reportDir, record);
  for (const f of guard.findings) process.stdout.write(`FAIL  module guard: ${f}\n`);
  for (const k of knownUnused)
    process.stdout.write(`note: known-failures entry "${k.test}" matches no selected test (unused)\n`);
  if (strictFailures.length)
    process.stdout.write(
      `--strict: ${strictFailures.length} test(s) skipped or known make the run fail: ${strictFailures.map((t) => t.fullTitle).join('; ')}\n`,
    );
  if (!config.quiet)
    process.stdout.write(`summary: ${summary}  (HTML: sctp-e2e report --from ${config.reportDir})\n`);
  // The last line, for people and CI parsers alike (errors count as failed, known failures as skipped).
  process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  return exitCode;
}

/** `report`: the HTML report from the allure results, and summary.md again (naming the HTML). */
async function reportCommand(dir: string): Promise<number> {
  const resultsDir = join(dir, 'allure-results');
  if (allureResultFiles(resultsDir).length === 0)
    throw new SuiteError(
      `no allure results in ${resultsDir}`,
      'run `sctp-e2e run` first, or give the report dir of a run with --from DIR',
    );
  // Idempotent; a run interrupted before its end has not set the status boxes yet.
  renderOutcomesInAllure(resultsDir);
  const record = readRunRecord(dir) ?? recordFromAllure(resultsDir);
  const html = join(dir, HTML_FILE);
  const external = await writeHtmlReport(resultsDir, html, `sctp-e2e run ${record.runId}`);
  for (const ref of external)
    process.stderr.write(`sctp-e2e: warning: the HTML report still refers to ${ref.slice(0, 100)}\n`);
  const summary = writeSummary(dir, record, htmlAnchors(resultsDir));
  process.stdout.write(`HTML report: ${html}\nsummary:     ${summary}\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { command, flags, configFile, runId, help, list, keep, from, shape, sctp } = parse(argv);
  if (help || command.length === 0) {
    process.stdout.write(USAGE);
    return command.length === 0 && !help ? 2 : 0;
  }
  const [verb, ...rest] = command;
  if (verb !== 'enable-sctp' && verb !== 'disable-sctp' && Object.values(sctp).some((v) => v !== undefined)) {
    throw new SuiteError(
      `--openshift, --pool, --dry-run and --wait-timeout belong to enable-sctp and disable-sctp, not ${verb}`,
      'see `sctp-e2e --help`',
    );
  }
  if (list && verb !== 'run' && verb !== 'list')
    throw new SuiteError(`--list belongs to run, not ${verb}`, 'use `sctp-e2e run --list`');
  if (keep && verb !== 'job')
    throw new SuiteError(`--keep belongs to job, not ${verb}`, 'use `sctp-e2e job --keep`');
  if (from !== undefined && verb !== 'report')
    throw new SuiteError(`--from belongs to report, not ${verb}`, 'use `sctp-e2e report --from DIR`');
  if (shape.length > 0 && !(verb === 'local' || (verb === 'cluster' && rest[0] === 'up')))
    throw new SuiteError(
      `--proxy-mode, --netpol and --nodes belong to cluster up and local, not ${[verb, ...rest].join(' ')}`,
      'use `sctp-e2e cluster up --proxy-mode nftables --netpol kube-network-policies`',
    );
  switch (verb) {
    case 'cluster':
      return clusterScript(rest[0], shape);
    case 'list':
      return listCommand(loadConfig({ flags, configFile }));
    case 'run': {
      const config = loadConfig({ flags, configFile });
      return list ? listCommand(config) : runCommand(config);
    }
    case 'report':
      return reportCommand(from ?? loadConfig({ flags, configFile }).reportDir);
    case 'local': {
      const up = clusterScript('up', shape);
      if (up !== 0) return 2;
      // The local cluster is disposable: both tiers, with its known limitations.
      return runCommand(
        loadConfig({
          flags: { disruptive: true, known: join(ROOT, 'fixtures', 'known', 'local-cluster.yaml'), ...flags },
          configFile,
        }),
      );
    }
    case 'preflight': {
      const ctx = await openRun(loadConfig({ flags, configFile }));
      process.stdout.write(await preflightTable(ctx));
      await closeRun();
      return 0;
    }
    case 'job': {
      const config = loadConfig({ flags, configFile });
      // The local cluster's nodes get the suite image only when a job needs
      // it (cluster/load-suite.sh says why); elsewhere it is pulled.
      if (config.localCluster && config.suiteImage === LOCAL_SUITE_IMAGE && clusterScript('load-suite') !== 0)
        throw new SuiteError(
          'the suite image could not be loaded into the local cluster',
          'see the lines above',
        );
      return jobCommand(config, { keep });
    }
    case 'cleanup': {
      const config = loadConfig({ flags, configFile });
      const kube = makeKube(loadKubeConfig(config));
      await checkApi(kube);
      const namespaces = await listRunNamespaces(kube, runId);
      for (const ns of namespaces) await deleteNamespace(kube, ns);
      process.stdout.write(
        namespaces.length
          ? `deleted ${namespaces.length} namespace(s): ${namespaces.join(' ')}\n`
          : 'nothing to clean up\n',
      );
      return 0;
    }
    case 'enable-sctp':
      return enableSctpCommand(loadConfig({ flags, configFile }), parseSctpCommandFlags(verb, sctp));
    case 'disable-sctp':
      return disableSctpCommand(loadConfig({ flags, configFile }), parseSctpCommandFlags(verb, sctp));
    default:
      throw new SuiteError(`unknown command "${verb}"`, 'see `sctp-e2e --help`');
  }
}

// Ctrl-C and termination, at any moment (node-access setup, a test, the
// run's own cleanup): delete every namespace of the run, by its label, and
// leave. A second signal leaves at once.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  const code = signal === 'SIGINT' ? 130 : 143;
  process.on(signal, () => {
    const say = (line: string) => void process.stderr.write(`sctp-e2e: ${line}\n`);
    if (stopping) {
      say(`second ${signal}: exiting now; \`sctp-e2e cleanup\` removes what is left`);
      process.exit(code);
    }
    stopping = true;
    say(`${signal}: stopping; removing this run's namespaces (${signal} again to exit at once)…`);
    // From here the console is the cleanup's (on stderr): a test cut short
    // by the signal fails for that reason alone, which is no verdict to print.
    process.stdout.write = (() => true) as typeof process.stdout.write;
    // `job` first (its pod, namespace and ClusterRole); then a run's own namespaces.
    stopJob(say)
      .then(() => abortRun(say))
      .then(({ runId, left, failures }) => {
        for (const f of failures) say(`cleanup: ${f}`);
        if (left.length)
          say(`still there: ${left.join(' ')} — remove them with \`sctp-e2e cleanup --run ${runId}\``);
        else if (runId) say(`run ${runId}: no namespace left`);
      })
      .catch((err: unknown) => say(`cleanup failed: ${errorText(err).split('\n')[0]}`))
      .finally(() => process.exit(code));
  });
}

// After a signal its handler owns the exit: whatever main still ends with
// (an error from a request cut short) must not exit before the cleanup ends.
main(process.argv.slice(2)).then(
  (code) => void (stopping || process.exit(code)),
  async (err: unknown) => {
    if (stopping) return;
    await closeRun().catch(() => undefined);
    if (err instanceof SuiteError) process.stderr.write(`${err.oneLine()}\n`);
    else
      process.stderr.write(
        `sctp-e2e: internal error: ${errorText(err).split('\n')[0]}${process.env.SCTP_E2E_DEBUG ? `\n${(err as Error).stack}` : ' (set SCTP_E2E_DEBUG=1 for the stack)'}\n`,
      );
    process.exit(2);
  },
);
