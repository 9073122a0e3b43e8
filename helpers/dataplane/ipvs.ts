/**
 * IPVS virtual services from `ipvsadm -Sn` (the save format, numeric):
 *
 *   -A --sctp-service 198.19.130.43:7777 -s rr
 *   -a --sctp-service 198.19.130.43:7777 -r 198.19.0.4:80 -m -w 1
 *
 * ipvsadm writes TCP and UDP services as `-t` / `-u` and SCTP ones only in
 * the long form `--sctp-service`; fwmark services (`-f N`) carry no address.
 * kube-proxy's ipvs mode gives each ClusterIP, externalIP and node address
 * (for NodePorts) a virtual service, real servers masqueraded (-m), weight 1;
 * weight 0 marks an endpoint that is terminating and gets no new flows.
 */
import {
  answer,
  hostPort,
  sameIp,
  type L4Protocol,
  type NodePortQuery,
  type RuleAnswer,
  type ServiceQuery,
} from './types.ts';

export interface IpvsRealServer {
  address: string;
  port: number;
  /** -m masquerading, -g gatewaying, -i tunnelling. */
  forward: string;
  weight: number;
  line: string;
}

export interface IpvsService {
  protocol: L4Protocol | 'FWM';
  /** Address and port; for fwmark services the mark in `address` and port 0. */
  address: string;
  port: number;
  scheduler?: string;
  /** Persistence timeout in seconds (`-p`, kube-proxy's sessionAffinity: ClientIP). */
  persistent?: number;
  line: string;
  realServers: IpvsRealServer[];
}

const SERVICE_FLAGS: Record<string, L4Protocol | 'FWM'> = {
  '-t': 'TCP',
  '--tcp-service': 'TCP',
  '-u': 'UDP',
  '--udp-service': 'UDP',
  '--sctp-service': 'SCTP',
  '-f': 'FWM',
  '--fwmark-service': 'FWM',
};

/** "198.19.0.4:80" or "[fd00::4]:80" → address and port. */
function splitAddrPort(text: string): { address: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6) return { address: v6[1], port: Number(v6[2] ?? 0) };
  const i = text.lastIndexOf(':');
  return i < 0 ? { address: text, port: 0 } : { address: text.slice(0, i), port: Number(text.slice(i + 1)) };
}

const key = (protocol: string, address: string, port: number): string => `${protocol} ${address} ${port}`;

export function parseIpvsadmSave(text: string): IpvsService[] {
  const services = new Map<string, IpvsService>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const tokens = line.split(/\s+/);
    const command = tokens[0];
    if (command !== '-A' && command !== '-a') continue;
    const protocol = SERVICE_FLAGS[tokens[1]];
    if (!protocol || tokens[2] === undefined) continue;
    const vs = protocol === 'FWM' ? { address: tokens[2], port: 0 } : splitAddrPort(tokens[2]);
    const id = key(protocol, vs.address, vs.port);
    const option = (names: string[]): string | undefined => {
      const i = tokens.findIndex((t, n) => n > 2 && names.includes(t));
      return i < 0 ? undefined : tokens[i + 1];
    };
    if (command === '-A') {
      const persistent = option(['-p', '--persistent']);
      services.set(id, {
        protocol,
        ...vs,
        scheduler: option(['-s', '--scheduler']),
        persistent: persistent === undefined ? undefined : Number(persistent),
        line: raw,
        realServers: services.get(id)?.realServers ?? [],
      });
    } else {
      const real = option(['-r', '--real-server']);
      if (!real) continue;
      const forward =
        tokens.find((t) => ['-m', '-g', '-i', '--masquerading', '--gatewaying', '--ipip'].includes(t)) ??
        '-g';
      const weight = Number(option(['-w', '--weight']) ?? 1);
      let svc = services.get(id);
      if (!svc) {
        // A real server listed before its service: keep it, the service line may follow.
        svc = { protocol, ...vs, line: '', realServers: [] };
        services.set(id, svc);
      }
      svc.realServers.push({ ...splitAddrPort(real), forward, weight, line: raw });
    }
  }
  return [...services.values()];
}

const asServices = (input: string | IpvsService[]): IpvsService[] =>
  typeof input === 'string' ? parseIpvsadmSave(input) : input;

function lookup(services: IpvsService[], address: string, port: number, protocol: L4Protocol): RuleAnswer {
  const svc = services.find((s) => s.protocol === protocol && s.port === port && sameIp(s.address, address));
  if (!svc) return answer([], []);
  const active = svc.realServers.filter((r) => r.weight > 0);
  const lines = [svc.line, ...svc.realServers.map((r) => r.line)].filter((l) => l !== '');
  const rejected =
    svc.realServers.length > 0 && active.length === 0 ? ['all real servers have weight 0 (terminating)'] : [];
  return answer(
    active.map((r) => hostPort(r.address, r.port)),
    lines,
    rejected,
  );
}

/** kube-proxy in ipvs mode. */
export const kubeProxyIpvs = {
  /** ClusterIP or externalIP: a virtual service on that address. */
  service(output: string | IpvsService[], q: ServiceQuery): RuleAnswer {
    return lookup(asServices(output), q.address, q.port, q.protocol);
  },

  /** NodePort: a virtual service on the node address and the node port. */
  nodePort(output: string | IpvsService[], q: NodePortQuery): RuleAnswer {
    return lookup(asServices(output), q.nodeAddress, q.port, q.protocol);
  },
};
