/**
 * What every test of a run shares: configuration, API clients, the nodes,
 * node access and the agent. `openRun` is the suite's first contact with the
 * cluster, so everything that makes a run impossible to judge is found here
 * and reported as a SuiteError (exit 2), before any test starts.
 */
import { perProcess } from './per-process.ts';
import type * as k8s from '@kubernetes/client-node';
import { makeAgent, type Agent } from '../probing/agent.ts';
import { loadKnownFailures, type KnownFailure } from './known.ts';
import { Cleanup } from './cleanup.ts';
import type { Config } from './config.ts';
import { SuiteError, errorText } from './errors.ts';
import { apiMessage, checkApi, identityOf, loadKubeConfig, makeKube, type Kube } from '../access/kube.ts';
import { missingAccess } from '../access/rbac.ts';
import { notReadyNodes, readinessText } from '../access/node-readiness.ts';
import {
  NoNodeAccess,
  PodNodeAccess,
  SshNodeAccess,
  execOnNodes,
  nodeAddress,
  type NodeAccess,
} from '../access/node-access.ts';
import { stopCreatingNamespaces, sweepRunNamespaces } from '../access/namespaces.ts';
import { notice } from './notices.ts';

export interface RunContext {
  config: Config;
  kube: Kube;
  serverVersion: string;
  nodes: k8s.V1Node[];
  access: NodeAccess;
  agent: Agent;
  /** Run-level undo steps (host-exec namespace and the like). */
  cleanup: Cleanup;
  /** Tests expected to fail here (--known). */
  known: KnownFailure[];
}

/**
 * What ending the run clean needs — its id, the API, the run-level undo
 * stack and, once open, the node access — known from the first API contact
 * on, so that a signal during node-access setup (before the RunContext
 * exists) still removes the host-exec namespace.
 */
interface RunScope {
  runId: string;
  kube: Kube;
  cleanup: Cleanup;
  access?: NodeAccess;
}
/** The open run, one per process (the CLI and the test files each have a copy of this module). */
const holder = perProcess<{
  run?: RunContext;
  scope?: RunScope;
  abortHooks?: Array<() => void>;
  aborted?: boolean;
}>('run', () => ({}));

export function run(): RunContext {
  const current = holder.run;
  if (!current) throw new Error('no run is open: tests must be started by `sctp-e2e run`');
  return current;
}

export function nodeNames(ctx: RunContext = run()): string[] {
  return ctx.nodes.map((n) => n.metadata!.name!);
}

// The RBAC a run needs lives in rbac.ts: `sctp-e2e job` grants the same list.
export { missingAccess } from '../access/rbac.ts';

export async function openRun(config: Config): Promise<RunContext> {
  const known = config.known ? loadKnownFailures(config.known) : [];
  const kube = makeKube(loadKubeConfig(config));
  const cleanup = new Cleanup();
  holder.scope = { runId: config.runId, kube, cleanup };
  const serverVersion = await checkApi(kube);
  const missing = await missingAccess(kube);
  if (missing.length)
    throw new SuiteError(
      `${identityOf(kube.kc)} lacks RBAC for: ${missing.join(', ')}`,
      'bind it to a role that allows these (cluster-admin works)',
    );
  let nodes: k8s.V1Node[];
  try {
    nodes = (await kube.core.listNode()).items.filter((n) => !n.spec?.unschedulable);
  } catch (err) {
    throw new SuiteError(
      `cannot list nodes: ${apiMessage(err)}`,
      `check ${identityOf(kube.kc)} can list nodes`,
    );
  }
  if (nodes.length === 0)
    throw new SuiteError('the cluster has no schedulable node', 'add or uncordon a node');
  const notReady = notReadyNodes(nodes);
  if (notReady.length)
    throw new SuiteError(
      `${notReady.length} schedulable node(s) not Ready: ${notReady.map(readinessText).join('; ')}`,
      'repair the node, or cordon it (kubectl cordon NODE) to run the suite on the others',
    );
  const agent = makeAgent(config);
  const access = await openNodeAccess(config, kube, nodes, agent, cleanup);
  holder.scope.access = access;
  holder.run = { config, kube, serverVersion, nodes, access, agent, cleanup, known };
  return holder.run;
}

async function openNodeAccess(
  config: Config,
  kube: Kube,
  nodes: k8s.V1Node[],
  agent: Agent,
  cleanup: Cleanup,
): Promise<NodeAccess> {
  const kind = config.nodeAccess === 'auto' ? (config.sshKey ? 'ssh' : 'pod') : config.nodeAccess;
  let access: NodeAccess;
  if (kind === 'none') return new NoNodeAccess('--node-access none was chosen');
  if (kind === 'ssh') {
    const addresses = new Map(
      nodes.map((n) => [n.metadata!.name!, nodeAddress(n, config.sshAddressType) ?? '']),
    );
    access = new SshNodeAccess(config, addresses);
  } else {
    access = new PodNodeAccess(
      kube,
      config.hostExecImage ?? agent.image,
      config.runId,
      cleanup,
      config.podTimeout * 1000,
    );
  }
  // Reach every node once now: an access problem is a configuration error
  // for the whole run, not a failure of whichever test meets it first.
  const names = nodes.map((n) => n.metadata!.name!);
  // The host-exec pods say what they wait for themselves; SSH says it here.
  const slow =
    kind === 'ssh'
      ? setTimeout(() => notice(`waiting for node access over ssh to ${names.join(', ')} (3 s)…`), 3000)
      : undefined;
  let results;
  try {
    results = await execOnNodes(access, names, 'uname -r');
  } catch (err) {
    await access.close();
    await cleanup.run(); // the host-exec namespace, if it got that far
    if (err instanceof SuiteError) throw err;
    throw new SuiteError(
      `node access over ${kind} failed: ${errorText(err).split('\n')[0]}`,
      kind === 'pod'
        ? `check the host-exec image ${config.hostExecImage ?? agent.image} can run privileged, or use --node-access ssh`
        : 'check --ssh-* settings',
    );
  } finally {
    clearTimeout(slow);
  }
  for (const [node, r] of results) {
    if (r.code === 0) continue;
    await access.close();
    await cleanup.run(); // the host-exec namespace
    throw new SuiteError(
      `node access over ${kind} to ${node} cannot run commands (exit ${r.code}: ${r.stderr.trim().split('\n')[0]})`,
      'check the node access settings',
    );
  }
  return access;
}

/** What closing a run removed and what it could not. */
export interface RunClose {
  /** Undo steps that failed, as text. */
  failures: string[];
  /**
   * Whether the run waited for its namespaces to go, how long, and which
   * were still listed at the deadline (normally none). Absent when the
   * caller did not ask to wait.
   */
  namespaces?: { left: string[]; waitedMs: number };
}

/**
 * Removes everything the run made; safe to call more than once. With
 * `waitMs`, it then waits, at most that long, until the API lists no
 * namespace of the run: tests delete theirs without waiting (that would cost
 * each test seconds), so the run's end is where "nothing left behind" is
 * checked, once, for all of them.
 */
export async function closeRun(options: { waitMs?: number } = {}): Promise<RunClose> {
  const scope = holder.scope;
  if (!scope) return { failures: [] };
  const failures = await scope.cleanup.run();
  // Anything a test could not remove (Ctrl-C mid-test) is still labelled.
  let namespaces: RunClose['namespaces'];
  const started = Date.now();
  try {
    // Without waitMs: one round, deleting what is listed, no waiting.
    const left = await sweepRunNamespaces(scope.kube, scope.runId, options.waitMs ?? 0);
    if (options.waitMs !== undefined) namespaces = { left, waitedMs: Date.now() - started };
  } catch (err) {
    failures.push(`leftover namespaces: ${errorText(err)}`);
  }
  await scope.access?.close();
  holder.run = undefined;
  holder.scope = undefined;
  return { failures, namespaces };
}

/** Whether a signal has stopped the run: what it still finishes is not its verdict. */
export function runAborted(): boolean {
  return holder.aborted === true;
}

/** Called when a signal stops the run, e.g. to stop the test runner after the current test. */
export function onRunAbort(hook: () => void): void {
  (holder.abortHooks ??= []).push(hook);
}

export interface AbortResult {
  runId?: string;
  /** Namespaces of the run still listed at the deadline (normally none). */
  left: string[];
  /** Undo steps that failed, as text. */
  failures: string[];
}

/**
 * Ends the run on a signal, at whatever moment it comes (node-access setup,
 * a test, the run's own cleanup): no new namespace may be created, the
 * run-level undo steps run, and every namespace carrying the run's label is
 * deleted — whichever test made it — until the API lists none of them, or
 * `timeoutMs` passes.
 */
export async function abortRun(say: (line: string) => void, timeoutMs = 50_000): Promise<AbortResult> {
  // Taken before the first await: the run's own closeRun may be under way and clear it.
  const scope = holder.scope;
  holder.aborted = true;
  for (const hook of holder.abortHooks ?? []) hook();
  await stopCreatingNamespaces();
  if (!scope) return { left: [], failures: [] };
  const failures = await scope.cleanup.run();
  let left: string[];
  try {
    left = await sweepRunNamespaces(scope.kube, scope.runId, timeoutMs, (names) =>
      say(`deleting namespace(s) ${names.join(' ')}`),
    );
  } catch (err) {
    failures.push(`namespaces of run ${scope.runId}: ${errorText(err).split('\n')[0]}`);
    left = ['(unknown: the API did not answer)'];
  }
  await scope.access?.close().catch(() => undefined);
  return { runId: scope.runId, left, failures };
}
