/**
 * Where probes start from, beyond a test's own pods:
 *  - a pod on a node: one client pod per node, shared by every path test of
 *    the run that needs only "a pod on this node" to probe from. A pod costs
 *    this project's 2-core cluster about 3 CPU-seconds to start and delete,
 *    and a client's only part in those tests is to be on the pod network of
 *    its node; tests whose client state matters (a reused source port) start
 *    their own;
 *  - a node: one host-network agent pod per node, shared by every node-side
 *    probe of the run (one SCTP stack per network namespace);
 *  - outside the cluster: the agent binary on the machine running the suite
 *    (the local cluster's host; with --external-agent on real clusters).
 * Both are created on first use and removed with the run.
 */
import { execa } from 'execa';
import { mkdirSync, rmdirSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { inPod, probe, UsrsctpAgent, type ProbeResult, type ProbeTarget } from './agent.ts';
import { nodePodName, startNodePod } from '../access/node-pods.ts';
import { waitForPodRunning } from '../access/kube.ts';
import { pod } from '../../fixtures/objects.ts';
import { createRunNamespace } from '../access/namespaces.ts';
import { poll } from '../framework/poll.ts';
import type { RunContext } from '../framework/run-context.ts';

/** A place to probe from. */
export interface Prober {
  probe(targets: ProbeTarget[], timeoutSeconds?: number): Promise<ProbeResult[]>;
}

/** The run's client pod on one node. */
export interface ClientPod {
  namespace: string;
  name: string;
  node: string;
  prober: Prober;
}

interface Probers {
  namespace?: Promise<string>;
  nodes: Map<string, Promise<Prober>>;
  clientsNamespace?: Promise<string>;
  clients: Map<string, Promise<ClientPod>>;
  outside?: Promise<Prober>;
}

const byRun = new WeakMap<RunContext, Probers>();

function probersOf(ctx: RunContext): Probers {
  let p = byRun.get(ctx);
  if (!p) byRun.set(ctx, (p = { nodes: new Map(), clients: new Map() }));
  return p;
}

export function podProber(ctx: RunContext, namespace: string, pod: string, container: string): Prober {
  const exec = inPod(ctx.kube, namespace, pod, container);
  return { probe: (targets, timeout = ctx.config.probeTimeout) => probe(ctx.agent, exec, targets, timeout) };
}

/** The run's client pod on `node` (pod network, the agent's client), started on first use. */
export function clientPod(ctx: RunContext, node: string): Promise<ClientPod> {
  const probers = probersOf(ctx);
  let client = probers.clients.get(node);
  if (!client) {
    client = (async () => {
      probers.clientsNamespace ??= createRunNamespace(ctx.kube, ctx.config.runId, 'clients', ctx.cleanup);
      const namespace = await probers.clientsNamespace;
      const name = nodePodName('client', node);
      await ctx.kube.core.createNamespacedPod({
        namespace,
        body: pod(name, [ctx.agent.client('agent', { sctp: true })], { node }),
      });
      await waitForPodRunning(ctx.kube, namespace, name, ctx.config.podTimeout * 1000, {
        what: `the run's client pod on ${node}`,
      });
      return { namespace, name, node, prober: podProber(ctx, namespace, name, 'agent') };
    })();
    probers.clients.set(node, client);
  }
  return client;
}

export function nodeProber(ctx: RunContext, node: string): Promise<Prober> {
  const probers = probersOf(ctx);
  let exec = probers.nodes.get(node);
  if (!exec) {
    exec = (async () => {
      probers.namespace ??= createRunNamespace(ctx.kube, ctx.config.runId, 'node-agents', ctx.cleanup, {
        privileged: true,
      });
      const namespace = await probers.namespace;
      const name = await startNodePod(
        ctx.kube,
        namespace,
        node,
        'node-agent',
        ctx.agent.client('agent', { sctp: true }),
        {
          timeoutMs: ctx.config.podTimeout * 1000,
        },
      );
      return podProber(ctx, namespace, name, 'agent');
    })();
    probers.nodes.set(node, exec);
  }
  return exec;
}

/** Why there is no client outside the cluster, or undefined when there is. */
export function outsideUnavailable(ctx: RunContext): string | undefined {
  if (!ctx.config.externalAgent)
    return 'no client outside the cluster: give --external-agent (the usrsctp agent binary from images/agent/build.sh) and run the suite as root on a machine that reaches the nodes';
  if (process.getuid?.() !== 0) return 'the outside client needs root (raw IP sockets for userspace SCTP)';
  return undefined;
}

export function outsideProber(ctx: RunContext): Promise<Prober> {
  const probers = probersOf(ctx);
  probers.outside ??= (async () => {
    const binary = ctx.config.externalAgent!;
    const dir = `/run/sctp-e2e`;
    mkdirSync(dir, { recursive: true });
    const control = `${dir}/outside-${ctx.config.runId}.sock`;
    // The machine's one SCTP stack for this run: the daemon every outside
    // SCTP probe goes through.
    const daemon: ChildProcess = spawn(binary, ['serve', '--name', 'outside', '--control', control], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    daemon.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    daemon.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    ctx.cleanup.push('outside agent daemon', async () => {
      daemon.kill('SIGTERM');
      // The daemon removes its socket; the directory goes once no run uses it.
      await new Promise((resolve) =>
        daemon.exitCode !== null ? resolve(null) : daemon.once('exit', resolve),
      );
      try {
        rmdirSync(dir);
      } catch {
        /* another run's daemon still has its socket there */
      }
    });
    await poll('the outside agent daemon to be ready', { timeoutMs: 10_000, intervalMs: 100 }, async () => {
      if (daemon.exitCode !== null) throw new Error(`exited ${daemon.exitCode}: ${log.trim()}`);
      if (log.includes('ready')) return true;
      throw new Error(log.trim() || 'no output yet');
    });
    // Outside the cluster the client is always our agent, whatever agent the
    // pods use: it is the one that needs no SCTP in the kernel.
    const agent = new UsrsctpAgent('');
    return {
      probe: async (targets, timeout = ctx.config.probeTimeout) => {
        const argv = agent.probeCommand(targets, timeout, binary, control);
        const r = await execa(argv[0], argv.slice(1), { reject: false });
        return agent.parseProbes(targets, r.stdout);
      },
    };
  })();
  return probers.outside;
}
