/**
 * The Agent seam: the containers that serve TCP/UDP/SCTP ports and the probe
 * that dials them, with one result shape whatever the implementation:
 *  - agnhost: upstream's image, kernel SCTP (`porter` serves, `connect` dials),
 *    the default on real clusters;
 *  - usrsctp: our image (images/agent), userspace SCTP over raw IP sockets,
 *    for nodes where kernel SCTP is absent or must stay unloaded.
 */
import type * as k8s from '@kubernetes/client-node';
import type { AgentKind, Config } from '../framework/config.ts';
import { apiMessage, apiStatus, type Kube } from '../access/kube.ts';
import { errorText, TestError } from '../framework/errors.ts';
import { podExec, type ExecResult } from '../access/node-access.ts';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServePorts {
  tcp?: number[];
  udp?: number[];
  sctp?: number[];
}

export interface ProbeTarget {
  protocol: Protocol;
  host: string;
  port: number;
  /** Bind the client to this source port (stale-conntrack checks). */
  sourcePort?: number;
  /** SCTP streams to send one message on each of. */
  streams?: number;
  /** Message size in bytes (multi-fragment SCTP messages). */
  size?: number;
}

export type ProbeResultKind = 'connected' | 'refused' | 'timeout' | 'error';

export interface ProbeResult extends ProbeTarget {
  result: ProbeResultKind;
  /** Who answered (the serving pod's name), where the agent reports it. */
  answeredBy?: string;
  /** The agent's raw output, kept for the report. */
  raw: string;
}

/** Runs an argv somewhere: in a pod, on a node, or on this machine. */
export type Executor = (argv: string[]) => Promise<ExecResult>;

export function inPod(kube: Kube, namespace: string, pod: string, container: string): Executor {
  return async (argv) => {
    try {
      return await podExec(kube, namespace, pod, container, argv);
    } catch (err) {
      throw new Error(await execFailure(kube, namespace, pod, container, err), { cause: err });
    }
  };
}

/**
 * Why an exec did not start, in words. The exec's WebSocket reports a refused
 * upgrade only as "Unexpected server response: 422" (an ErrorEvent, not an
 * Error; 422 is what a ValidatingAdmissionPolicy's denial gives), without the
 * API's reason; asking the same subresource once more
 * over plain HTTP gets the Status with it (e.g. the admission policy's
 * message).
 */
export async function execFailure(
  kube: Kube,
  namespace: string,
  pod: string,
  container: string,
  err: unknown,
): Promise<string> {
  const e = err as { message?: unknown; error?: { message?: unknown } } | undefined;
  const text =
    typeof e?.message === 'string' && e.message
      ? e.message
      : typeof e?.error?.message === 'string'
        ? e.error.message
        : errorText(err);
  if (!/Unexpected server response: 4\d\d/.test(text)) return text;
  try {
    await kube.core.connectPostNamespacedPodExec({ name: pod, namespace, container, command: 'true' });
  } catch (refusal) {
    const status = apiStatus(refusal);
    if (status !== undefined && status >= 400 && status < 500) return `${text}: ${apiMessage(refusal)}`;
  }
  return text;
}

export interface Agent {
  readonly kind: AgentKind;
  readonly image: string;
  /**
   * After how many ms the probing SCTP stack sends a lost INIT again (its
   * RTO.Initial): a probe timeout shorter than this never sees a retransmission.
   */
  readonly initRetransmitMs: number;
  /** A container that serves the given ports (and, for SCTP, can probe). */
  server(name: string, ports: ServePorts): k8s.V1Container;
  /**
   * A container to probe from. Without `sctp` it opens no socket of its own,
   * so a pod of it never touches SCTP ([Feature:SCTP] tier); with it, it is
   * ready to make SCTP associations.
   */
  client(name: string, options?: { sctp?: boolean }): k8s.V1Container;
  /** Why this agent cannot probe `target` as asked, if it cannot. */
  unsupported(target: ProbeTarget): string | undefined;
  /** One shell command probing every target at once; `binary` is the agent's path. */
  probeCommand(targets: ProbeTarget[], timeoutSeconds: number, binary?: string): string[];
  /** Reads the output of probeCommand back into one result per target. */
  parseProbes(targets: ProbeTarget[], output: string): ProbeResult[];
}

/**
 * Probes every target from one place with one exec (the probes run
 * concurrently there); one result per target, in order. An exec that cannot
 * run at all (refused by the API, the pod gone) is a TestError: nothing was
 * observed. Output that is not the agent's gives `error` results, never
 * `timeout` or `refused`.
 */
export async function probe(
  agent: Agent,
  exec: Executor,
  targets: ProbeTarget[],
  timeoutSeconds: number,
): Promise<ProbeResult[]> {
  if (targets.length === 0) return [];
  let r: ExecResult;
  try {
    r = await exec(agent.probeCommand(targets, timeoutSeconds));
  } catch (err) {
    const shown = targets.slice(0, 3).map((t) => `${t.protocol} ${t.host}:${t.port}`);
    const what = `${shown.join(', ')}${targets.length > 3 ? ` and ${targets.length - 3} more` : ''}`;
    throw new TestError(`could not run the probe of ${what}: ${errorText(err)}`, errorText(err));
  }
  return agent.parseProbes(targets, r.stdout + (r.code !== 0 && !r.stdout ? r.stderr : ''));
}

/**
 * Runs each target's command in the background, every output line prefixed
 * with the target's index, so concurrent output can be told apart (the format
 * of the usrsctp agent's own `probe-each`).
 */
export function batch(commands: string[][]): string[] {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const jobs = commands.map(
    (argv, i) => `( ${argv.map(quote).join(' ')} 2>&1; echo "exit=$?" ) | sed "s/^/${i} /" &`,
  );
  return ['sh', '-c', `${jobs.join('\n')}\nwait`];
}

function linesByIndex(output: string, count: number): string[][] {
  const out: string[][] = Array.from({ length: count }, () => []);
  for (const line of output.split('\n')) {
    const m = /^(\d+) (.*)$/.exec(line);
    if (m && Number(m[1]) < count) out[Number(m[1])].push(m[2]);
  }
  return out;
}

const list = (ports?: number[]) => (ports && ports.length ? ports.join(',') : undefined);

export class UsrsctpAgent implements Agent {
  readonly kind = 'usrsctp';
  /** images/agent/agent.c sets usrsctp's RTO.Initial to 500 ms (RFC default 3 s). */
  readonly initRetransmitMs = 500;
  constructor(readonly image: string) {}

  server(name: string, ports: ServePorts): k8s.V1Container {
    const args: string[] = [];
    for (const [flag, value] of [
      ['--tcp', list(ports.tcp)],
      ['--udp', list(ports.udp)],
      ['--sctp', list(ports.sctp)],
    ] as const) {
      if (value) args.push(flag, value);
    }
    return {
      name,
      image: this.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['/bin/agent', 'serve'],
      args,
      env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      // usrsctp sends and receives SCTP over raw IP sockets.
      securityContext: { capabilities: { add: ['NET_RAW'] } },
    };
  }

  client(name: string, options: { sctp?: boolean } = {}): k8s.V1Container {
    // A bare `agent serve` is the pod's one SCTP stack, which SCTP probes
    // use; two stacks in one network namespace would break associations.
    if (options.sctp) return { ...this.server(name, {}), args: [] };
    return { name, image: this.image, imagePullPolicy: 'IfNotPresent', command: ['sleep', '86400'] };
  }

  unsupported(): string | undefined {
    return undefined;
  }

  probeCommand(
    targets: ProbeTarget[],
    timeoutSeconds: number,
    binary = '/bin/agent',
    control?: string,
  ): string[] {
    // One process for all targets (`probe-each` forks one child per probe):
    // a shell pipeline per target cost ~3 processes per cell, and a matrix
    // round's ~500 of them on 2 cores delayed answers into false timeouts.
    return [
      binary,
      'probe-each',
      ...targets.flatMap((t) => [
        '--',
        ...(control ? ['--control', control] : []),
        '--protocol',
        t.protocol.toLowerCase(),
        '--host',
        t.host,
        '--port',
        String(t.port),
        '--timeout-ms',
        String(Math.round(timeoutSeconds * 1000)),
        ...(t.sourcePort ? ['--source-port', String(t.sourcePort)] : []),
        ...(t.streams ? ['--streams', String(t.streams)] : []),
        ...(t.size ? ['--size', String(t.size)] : []),
      ]),
    ];
  }

  /**
   * A verdict needs the agent's own JSON line (protocol, target and result
   * fields) and an exit status that agrees with it: 0 for connected, 1 for
   * timeout or refused. Anything else (no line, garbage, a crash, a line
   * that contradicts the exit status) is `error`.
   */
  parseProbes(targets: ProbeTarget[], output: string): ProbeResult[] {
    return linesByIndex(output, targets.length).map((lines, i) => {
      const raw = lines.filter((l) => !l.startsWith('exit=')).join('\n');
      const exit = lines.find((l) => l.startsWith('exit='));
      let said: ProbeResultKind | undefined;
      let answeredBy: string | undefined;
      for (const line of lines) {
        let parsed: { protocol?: unknown; target?: unknown; result?: unknown; reply?: unknown };
        try {
          parsed = JSON.parse(line);
        } catch {
          continue; /* not the agent's JSON line */
        }
        if (typeof parsed !== 'object' || parsed === null) continue;
        if (typeof parsed.protocol !== 'string' || typeof parsed.target !== 'string') continue;
        if (!['connected', 'refused', 'timeout', 'error'].includes(parsed.result as string)) continue;
        said = parsed.result as ProbeResultKind;
        answeredBy = typeof parsed.reply === 'string' ? parsed.reply.split(' ')[0] : undefined;
      }
      let result: ProbeResultKind = 'error';
      if (said === 'connected' && exit === 'exit=0') result = 'connected';
      else if ((said === 'timeout' || said === 'refused') && exit === 'exit=1') result = said;
      return {
        ...targets[i],
        result,
        answeredBy: result === 'connected' ? answeredBy : undefined,
        raw: raw || output.trim().slice(0, 300),
      };
    });
  }
}

export class AgnhostAgent implements Agent {
  readonly kind = 'agnhost';
  /** Kernel SCTP: net.sctp.rto_initial, 3000 ms by default (RFC 9260). */
  readonly initRetransmitMs = 3000;
  constructor(readonly image: string) {}

  server(name: string, ports: ServePorts): k8s.V1Container {
    // porter serves a fixed reply on every port named by an env variable.
    const env: k8s.V1EnvVar[] = [];
    for (const p of ports.tcp ?? []) env.push({ name: `SERVE_PORT_${p}`, value: 'foo' });
    for (const p of ports.udp ?? []) env.push({ name: `SERVE_UDP_PORT_${p}`, value: 'foo' });
    for (const p of ports.sctp ?? []) env.push({ name: `SERVE_SCTP_PORT_${p}`, value: 'foo' });
    return { name, image: this.image, imagePullPolicy: 'IfNotPresent', args: ['porter'], env };
  }

  client(name: string): k8s.V1Container {
    return { name, image: this.image, imagePullPolicy: 'IfNotPresent', args: ['pause'] };
  }

  unsupported(target: ProbeTarget): string | undefined {
    const options = [
      target.sourcePort && 'a source port',
      target.streams && 'streams',
      target.size && 'a message size',
    ].filter(Boolean);
    return options.length
      ? `agnhost connect cannot set ${options.join(', ')} (use --agent usrsctp)`
      : undefined;
  }

  probeCommand(targets: ProbeTarget[], timeoutSeconds: number, binary = '/agnhost'): string[] {
    return batch(
      targets.map((t) => [
        binary,
        'connect',
        t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`,
        `--timeout=${timeoutSeconds}s`,
        `--protocol=${t.protocol.toLowerCase()}`,
      ]),
    );
  }

  parseProbes(targets: ProbeTarget[], output: string): ProbeResult[] {
    // agnhost connect: exit 0 on success, else its output starts with
    // TIMEOUT, REFUSED or OTHER (upstream's own classification).
    return linesByIndex(output, targets.length).map((lines, i) => {
      const raw = lines.filter((l) => !l.startsWith('exit=')).join('\n');
      let result: ProbeResultKind = 'error';
      if (lines.includes('exit=0')) result = 'connected';
      else if (/^TIMEOUT/m.test(raw)) result = 'timeout';
      else if (/^REFUSED/m.test(raw)) result = 'refused';
      return { ...targets[i], result, raw };
    });
  }
}

export function makeAgent(
  config: Pick<Config, 'agent' | 'agnhostImage' | 'agentImage' | 'localCluster'>,
): Agent {
  const kind = config.agent ?? (config.localCluster ? 'usrsctp' : 'agnhost');
  return kind === 'usrsctp' ? new UsrsctpAgent(config.agentImage) : new AgnhostAgent(config.agnhostImage);
}
