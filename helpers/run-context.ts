/**
 * What every test of a run shares: configuration, API clients, the nodes,
 * node access and the agent. `openRun` is the suite's first contact with the
 * cluster, so everything that makes a run impossible to judge is found here
 * and reported as a SuiteError (exit 2), before any test starts.
 */
import type * as k8s from '@kubernetes/client-node';
import { makeAgent, type Agent } from './agent.ts';
import { loadKnownFailures, type KnownFailure } from './known.ts';
import { Cleanup } from './cleanup.ts';
import type { Config } from './config.ts';
import { SuiteError, errorText } from './errors.ts';
import { apiMessage, checkApi, loadKubeConfig, makeKube, type Kube } from './kube.ts';
import {
  NoNodeAccess,
  PodNodeAccess,
  SshNodeAccess,
  execOnNodes,
  nodeAddress,
  type NodeAccess,
} from './node-access.ts';
import { deleteNamespace, listRunNamespaces } from './namespaces.ts';

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

// Mocha may load the test files as CommonJS while the CLI is ESM, which gives
// each its own copy of this module: the open run lives on globalThis so that
// both copies see the same one.
const RUN = Symbol.for('sctp-e2e.run');
const holder = globalThis as { [RUN]?: RunContext };

export function run(): RunContext {
  const current = holder[RUN];
  if (!current) throw new Error('no run is open: tests must be started by `sctp-e2e run`');
  return current;
}

export function nodeNames(ctx: RunContext = run()): string[] {
  return ctx.nodes.map((n) => n.metadata!.name!);
}

/** The RBAC a run needs, checked up front with SelfSubjectAccessReviews. */
const REQUIRED_ACCESS: Array<{ verb: string; resource: string; group?: string }> = [
  { verb: 'create', resource: 'namespaces' },
  { verb: 'delete', resource: 'namespaces' },
  { verb: 'list', resource: 'nodes' },
  { verb: 'create', resource: 'pods' },
  { verb: 'create', resource: 'pods/exec' },
  { verb: 'create', resource: 'services' },
  { verb: 'create', resource: 'endpointslices', group: 'discovery.k8s.io' },
  { verb: 'create', resource: 'networkpolicies', group: 'networking.k8s.io' },
];

export async function missingAccess(kube: Kube): Promise<string[]> {
  const missing: string[] = [];
  await Promise.all(
    REQUIRED_ACCESS.map(async ({ verb, resource, group }) => {
      const [res, sub] = resource.split('/');
      const review = await kube.authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb, resource: res, subresource: sub, group: group ?? '' } } },
      });
      if (!review.status?.allowed) missing.push(`${verb} ${group ? `${group}/` : ''}${resource}`);
    }),
  );
  return missing.sort();
}

export async function openRun(config: Config): Promise<RunContext> {
  const known = config.known ? loadKnownFailures(config.known) : [];
  const kube = makeKube(loadKubeConfig(config));
  const serverVersion = await checkApi(kube);
  const missing = await missingAccess(kube);
  if (missing.length)
    throw new SuiteError(
      `the kubeconfig user lacks RBAC for: ${missing.join(', ')}`,
      'bind it to a role that allows these (cluster-admin works)',
    );
  let nodes: k8s.V1Node[];
  try {
    nodes = (await kube.core.listNode()).items.filter((n) => !n.spec?.unschedulable);
  } catch (err) {
    throw new SuiteError(`cannot list nodes: ${apiMessage(err)}`, 'check the kubeconfig user can list nodes');
  }
  if (nodes.length === 0)
    throw new SuiteError('the cluster has no schedulable node', 'add or uncordon a node');
  const agent = makeAgent(config);
  const cleanup = new Cleanup();
  const access = await openNodeAccess(config, kube, nodes, agent, cleanup);
  holder[RUN] = { config, kube, serverVersion, nodes, access, agent, cleanup, known };
  return holder[RUN];
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

/** Removes everything the run made; safe to call more than once. */
export async function closeRun(): Promise<string[]> {
  const ctx = holder[RUN];
  if (!ctx) return [];
  const failures = await ctx.cleanup.run();
  // Anything a test could not remove (Ctrl-C mid-test) is still labelled.
  try {
    for (const ns of await listRunNamespaces(ctx.kube, ctx.config.runId)) await deleteNamespace(ctx.kube, ns);
  } catch (err) {
    failures.push(`leftover namespaces: ${errorText(err)}`);
  }
  await ctx.access.close();
  holder[RUN] = undefined;
  return failures;
}
