/**
 * Shared by the integration tests: the local cluster's scripts, its files,
 * and running the sctp-e2e CLI against it as a user would.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { ROOT } from '../../helpers/framework/runner.ts';
import { RUN_LABEL } from '../../helpers/access/namespaces.ts';

export const STATE_DIR = process.env.SCTP_E2E_STATE ?? '/var/lib/sctp-e2e/cluster';
export const CACHE_BIN = join(
  process.env.SCTP_E2E_CACHE ?? join(process.env.HOME ?? '/root', '.cache/sctp-e2e'),
  'bin',
);
export const KUBECONFIG = join(STATE_DIR, 'kubeconfig.yaml');
/** node1's directory: its pid files, logs and CNI configuration (cluster/lib.sh use_node). */
export const NODE1_DIR = join(STATE_DIR, 'node1');
export const NETNS = 'sctpe2e-node1';
export const NODE_IP = '198.18.0.2';
export const NODE_NAME = 'sctp-e2e-node1';
/** MetalLB's pool on the fabric, and the host's interface on it (LB_POOL, HOST_VETH in cluster/lib.sh). */
export const LB_POOL = '198.18.0.240/28';
export const HOST_VETH = 'sctpe2e-h0';

export async function cluster(
  action: 'up' | 'down' | 'status' | 'load-suite',
  ...args: string[]
): Promise<{ code: number; output: string; seconds: number }> {
  const started = Date.now();
  const r = await execa('bash', [join(ROOT, 'cluster', `${action}.sh`), ...args], {
    reject: false,
    all: true,
  });
  return { code: r.exitCode ?? -1, output: r.all ?? '', seconds: (Date.now() - started) / 1000 };
}

/**
 * The `cluster up` flags of the second shape: kube-proxy in nftables mode,
 * kube-network-policies as the NetworkPolicy engine.
 */
export const SECOND_SHAPE = ['--proxy-mode', 'nftables', '--netpol', 'kube-network-policies'];

/** The iptables chain that feeds kube-network-policies' queue (NETPOL_QUEUE_CHAIN in cluster/lib.sh). */
export const NETPOL_QUEUE_CHAIN = 'SCTPE2E-NETPOL-QUEUE';

/** How many nodes the local cluster was started with (the shape file `up` writes), or undefined when it is down. */
function runningNodeCount(): number | undefined {
  if (!existsSync(join(STATE_DIR, 'node1'))) return undefined;
  const shape = existsSync(join(STATE_DIR, 'shape')) ? readFileSync(join(STATE_DIR, 'shape'), 'utf8') : '';
  return Number(/^NODES=(\d+)$/m.exec(shape)?.[1] ?? 2); // no NODES line: the default, two
}

/**
 * `cluster up` with the given shape flags (none: the default proxy mode and
 * engine, which switches a running cluster back). The node count is ONE
 * unless the flags say `--nodes`: the fault harness's rows and most files are
 * one-node tests (their expectations name node1's paths and pods), and a node
 * costs every test time; nodes.test.ts starts the default itself. A cluster
 * running with another count (the two nodes `sctp-e2e local` leaves up, the
 * README's first command) is taken down first, because `up` never changes
 * the count of a running cluster.
 */
export async function clusterUp(shape: string[] = []): Promise<void> {
  const at = shape.indexOf('--nodes');
  const wanted = at >= 0 ? Number(shape[at + 1]) : 1;
  const running = runningNodeCount();
  if (running !== undefined && running !== wanted) {
    const down = await cluster('down');
    if (down.code !== 0)
      throw new Error(`cluster down (from ${running} nodes to ${wanted}) failed:\n${down.output}`);
  }
  const r = await cluster('up', ...shape, ...(at >= 0 ? [] : ['--nodes', String(wanted)]));
  if (r.code !== 0)
    throw new Error(`cluster up failed (exit ${r.code}):\n${r.output.split('\n').slice(-25).join('\n')}`);
}

export async function kubectl(...args: string[]): Promise<string> {
  const r = await execa(join(CACHE_BIN, 'kubectl'), ['--kubeconfig', KUBECONFIG, ...args], {
    all: true,
    reject: false,
  });
  if (r.exitCode !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.all}`);
  return r.stdout;
}

/**
 * Every namespace any run labelled, one `namespace/NAME` per line ('' when
 * none). A run waits at its end until the API lists none of its namespaces,
 * so after it exits there must be none, at once (unless --namespaces-no-wait).
 */
export function runNamespaces(): Promise<string> {
  return kubectl('get', 'namespaces', '-l', RUN_LABEL, '-o', 'name');
}

/** A command in node1's network namespace (node `node`'s), as root on the node would run it. */
export async function inNode(command: string, node = 1): Promise<string> {
  const r = await execa('ip', ['netns', 'exec', `sctpe2e-node${node}`, 'sh', '-c', command], {
    reject: false,
    all: true,
  });
  return r.all ?? '';
}

export function clusterEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(STATE_DIR, 'env'), 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The PID a component's pid file names (on node1, or node `node`), and whether that process is alive. */
export function componentPid(name: string, node = 1): { pid: number; alive: boolean } {
  const pid = Number(readFileSync(join(STATE_DIR, `node${node}`, 'pids', `${name}.pid`), 'utf8'));
  try {
    process.kill(pid, 0);
    return { pid, alive: true };
  } catch {
    return { pid, alive: false };
  }
}

/** The command line of a running component (by its pid file). */
export function componentCommand(name: string): string {
  return readFileSync(`/proc/${componentPid(name).pid}/cmdline`, 'utf8')
    .split('\0')
    .join(' ')
    .trim();
}

/** The program a running component is (its binary's name, e.g. kube-network-policies). */
export function componentBinary(name: string): string {
  return componentCommand(name).split(' ')[0].split('/').pop() ?? '';
}

/** SIGKILLs a component of node1 (or node `node`) by its pid file and waits until it is gone. */
export async function stopComponent(name: string, node = 1): Promise<void> {
  const { pid, alive } = componentPid(name, node);
  if (alive) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && componentPid(name, node).alive; i++) await new Promise((r) => setTimeout(r, 100));
}

export function clusterIsUp(): boolean {
  return existsSync(join(STATE_DIR, 'env'));
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Verdict per test title, from the progress lines. */
  verdicts: Map<string, 'ok' | 'FAIL' | 'ERROR' | 'skip' | 'KNOWN'>;
  summary?: { passed: number; failed: number; skipped: number };
  seconds: number;
}

/** Runs bin/sctp-e2e with the given arguments; environment as given. */
export async function sctpE2e(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const started = Date.now();
  const r = await execa(join(ROOT, 'bin', 'sctp-e2e'), args, {
    reject: false,
    env: { SCTP_E2E_DEBUG: undefined, ...env },
    extendEnv: true,
  });
  const verdicts = new Map<string, 'ok' | 'FAIL' | 'ERROR' | 'skip' | 'KNOWN'>();
  for (const line of r.stdout.split('\n')) {
    const m = /^(ok|FAIL|ERROR|skip|KNOWN) +(.*) \(\d+\.\ds\) +\[/.exec(line);
    if (m) verdicts.set(m[2], m[1] as 'ok' | 'FAIL' | 'ERROR' | 'skip' | 'KNOWN');
  }
  const s = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(r.stdout);
  return {
    code: r.exitCode ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    verdicts,
    summary: s ? { passed: Number(s[1]), failed: Number(s[2]), skipped: Number(s[3]) } : undefined,
    seconds: (Date.now() - started) / 1000,
  };
}

/**
 * Skips a user would agree with on a one-node local cluster, by title
 * fragment. LoadBalancer tests are not among them: MetalLB gives the local
 * cluster's Services their IPs.
 */
const ACCEPTED_SKIPS: RegExp[] = [/across nodes/];

export function expectGreen(run: CliRun): void {
  const detail = `${run.stdout.slice(-6000)}\n${run.stderr}`;
  expect(run.code, detail).to.equal(0);
  expect(run.summary, detail).to.not.equal(undefined);
  expect(run.summary!.failed, detail).to.equal(0);
  expect(run.summary!.passed, detail).to.be.greaterThan(0);
  for (const [title, verdict] of run.verdicts) {
    if (verdict === 'skip')
      expect(
        ACCEPTED_SKIPS.some((r) => r.test(title)),
        `unexpected skip: ${title}\n${detail}`,
      ).to.equal(true);
  }
}

/** What of ours could remain on the host after `down`. */
export async function leftovers(): Promise<string[]> {
  const found: string[] = [];
  const netns = (await execa('ip', ['netns', 'list'])).stdout;
  if (/sctpe2e-/.test(netns)) found.push(`network namespace: ${netns}`);
  const links = (await execa('ip', ['-o', 'link'])).stdout.split('\n').filter((l) => /sctpe2e-h\d/.test(l));
  found.push(...links.map((l) => `link: ${l}`));
  const routes = (await execa('ip', ['route'])).stdout
    .split('\n')
    .filter((l) => l.startsWith('198.18.') || l.startsWith('198.19.'));
  found.push(...routes.map((r) => `route: ${r}`));
  const mounts = (await execa('cat', ['/proc/self/mountinfo'])).stdout
    .split('\n')
    .filter((l) => /\/run\/sctpe2e|sctpe2e-node|\/var\/lib\/sctp-e2e/.test(l));
  found.push(...mounts.map((m) => `mount: ${m}`));
  const procs = (await execa('ps', ['-eo', 'pid,stat,args'])).stdout
    .split('\n')
    .filter((l) => /sctp-e2e\/(cluster|bin)|sctp-e2e\.sock|containerd-shim/.test(l) && !/ Z/.test(l));
  found.push(...procs.map((p) => `process: ${p.trim()}`));
  for (const c of readdirSync('/sys/fs/cgroup'))
    if (existsSync(`/sys/fs/cgroup/${c}/sctp-e2e`)) found.push(`cgroup: ${c}/sctp-e2e`);
  if (existsSync(STATE_DIR)) found.push(`state dir: ${STATE_DIR}`);
  // iptables chains and ipsets live in the node's namespace and go with it;
  // the host's own tables must hold nothing of ours.
  const hostRules = (await execa('sh', ['-c', 'iptables-save 2>/dev/null; ipset list -n 2>/dev/null'])).stdout
    .split('\n')
    .filter((l) => /KUBE-|CNI-|kube-router|sctp-e2e/i.test(l));
  found.push(...hostRules.map((r) => `host rule: ${r}`));
  return found;
}
