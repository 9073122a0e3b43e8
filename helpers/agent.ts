/**
 * The Agent seam: the containers that serve TCP/UDP/SCTP ports and the probe
 * that dials them, with one result shape whatever the implementation:
 *  - agnhost: upstream's image, kernel SCTP (`porter` serves, `connect` dials),
 *    the default on real clusters;
 *  - usrsctp: our image (images/agent), userspace SCTP over raw IP sockets,
 *    for nodes where kernel SCTP is absent or must stay unloaded.
 */
import type * as k8s from '@kubernetes/client-node';
import type { AgentKind, Config } from './config.ts';
import type { Kube } from './kube.ts';
import { podExec } from './node-access.ts';

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
}

export type ProbeResultKind = 'connected' | 'refused' | 'timeout' | 'error';

export interface ProbeResult extends ProbeTarget {
  result: ProbeResultKind;
  /** The agent's raw output, kept for the report. */
  raw: string;
}

export interface Agent {
  readonly kind: AgentKind;
  readonly image: string;
  /** A container that serves the given ports and nothing else. */
  server(name: string, ports: ServePorts): k8s.V1Container;
  /**
   * A container to probe from. It opens no socket of its own, so a pod of it
   * never touches SCTP unless a probe asks for it.
   */
  client(name: string): k8s.V1Container;
  probe(
    kube: Kube,
    from: { namespace: string; pod: string; container: string },
    to: ProbeTarget,
    timeoutSeconds: number,
  ): Promise<ProbeResult>;
}

const list = (ports?: number[]) => (ports && ports.length ? ports.join(',') : undefined);

export class UsrsctpAgent implements Agent {
  readonly kind = 'usrsctp';
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

  client(name: string): k8s.V1Container {
    return { name, image: this.image, imagePullPolicy: 'IfNotPresent', command: ['sleep', '86400'] };
  }

  async probe(
    kube: Kube,
    from: { namespace: string; pod: string; container: string },
    to: ProbeTarget,
    timeoutSeconds: number,
  ): Promise<ProbeResult> {
    const command = [
      '/bin/agent',
      'probe',
      '--protocol',
      to.protocol.toLowerCase(),
      '--host',
      to.host,
      '--port',
      String(to.port),
      '--timeout-ms',
      String(timeoutSeconds * 1000),
    ];
    const r = await podExec(kube, from.namespace, from.pod, from.container, command);
    const raw = (r.stdout + r.stderr).trim();
    let result: ProbeResultKind = 'error';
    try {
      const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { result?: string };
      if (parsed.result === 'connected' || parsed.result === 'refused' || parsed.result === 'timeout')
        result = parsed.result;
    } catch {
      /* not the agent's JSON line: an error, kept raw */
    }
    // Exit 0 is the agent's "full round trip"; anything else is not connected.
    if (result === 'connected' && r.code !== 0) result = 'error';
    return { ...to, result, raw };
  }
}

export class AgnhostAgent implements Agent {
  readonly kind = 'agnhost';
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

  async probe(
    kube: Kube,
    from: { namespace: string; pod: string; container: string },
    to: ProbeTarget,
    timeoutSeconds: number,
  ): Promise<ProbeResult> {
    const hostPort = to.host.includes(':') ? `[${to.host}]:${to.port}` : `${to.host}:${to.port}`;
    const command = [
      '/agnhost',
      'connect',
      hostPort,
      `--timeout=${timeoutSeconds}s`,
      `--protocol=${to.protocol.toLowerCase()}`,
    ];
    const r = await podExec(kube, from.namespace, from.pod, from.container, command);
    const raw = (r.stdout + r.stderr).trim();
    // agnhost connect: exit 0 on success, else stderr starts with TIMEOUT,
    // REFUSED or OTHER (upstream's own classification).
    let result: ProbeResultKind = 'error';
    if (r.code === 0) result = 'connected';
    else if (/^TIMEOUT/m.test(r.stderr)) result = 'timeout';
    else if (/^REFUSED/m.test(r.stderr)) result = 'refused';
    return { ...to, result, raw };
  }
}

export function makeAgent(
  config: Pick<Config, 'agent' | 'agnhostImage' | 'agentImage' | 'localCluster'>,
): Agent {
  const kind = config.agent ?? (config.localCluster ? 'usrsctp' : 'agnhost');
  return kind === 'usrsctp' ? new UsrsctpAgent(config.agentImage) : new AgnhostAgent(config.agnhostImage);
}
