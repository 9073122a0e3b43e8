/**
 * What every dataplane reader shares: the question ("is there a rule for
 * address:port/protocol, and where does it lead?"), the answer with its
 * evidence, and the little address arithmetic the evaluators need.
 *
 * Readers are pure functions over the text a node command printed; running
 * the command is the caller's business (see index.ts for the commands).
 */

export type L4Protocol = 'TCP' | 'UDP' | 'SCTP';

export interface ServiceQuery {
  /** ClusterIP, externalIP or load-balancer IP. */
  address: string;
  port: number;
  protocol: L4Protocol;
}

export interface NodePortQuery {
  nodeAddress: string;
  port: number;
  protocol: L4Protocol;
}

export interface HostPortQuery {
  /** The node address a client would use; omit it to ask about any address. */
  nodeAddress?: string;
  port: number;
  protocol: L4Protocol;
}

export interface RuleAnswer {
  /** True iff the flow reaches at least one endpoint (a DNAT / real server). */
  found: boolean;
  /** Where the flow is sent, "ip:port" ("[v6]:port" for IPv6), sorted. */
  endpoints: string[];
  /** The rule lines the flow matched on its way, in order: the evidence for the report. */
  lines: string[];
  /**
   * When nothing was found: rules that refuse this flow instead (kube-proxy's
   * "has no endpoints" REJECT, a reject for a wrong port of a ClusterIP, …).
   * A refusal is still "no rule for the flow"; it tells the reader why.
   */
  rejected: string[];
}

/** Three-valued match: a field the question leaves open (source address, a mark) may match. */
export type Tri = 'yes' | 'no' | 'maybe';

export function triAnd(a: Tri, b: Tri): Tri {
  if (a === 'no' || b === 'no') return 'no';
  if (a === 'maybe' || b === 'maybe') return 'maybe';
  return 'yes';
}

export function triNot(a: Tri): Tri {
  return a === 'yes' ? 'no' : a === 'no' ? 'yes' : 'maybe';
}

export const fromBool = (b: boolean): Tri => (b ? 'yes' : 'no');

/** IANA protocol numbers as the rule tools print them. */
export const PROTOCOL_NUMBERS: Record<L4Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };

/** Matches a protocol written as a name (any case) or a number against the asked protocol. */
export function protocolMatches(written: string | number, protocol: L4Protocol): Tri {
  const w = String(written).toLowerCase();
  if (w === 'all' || w === '0') return 'yes';
  if (/^\d+$/.test(w)) return fromBool(Number(w) === PROTOCOL_NUMBERS[protocol]);
  return fromBool(w === protocol.toLowerCase());
}

interface ParsedIp {
  v6: boolean;
  value: bigint;
}

function parseIpv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    value = (value << 8n) | BigInt(p);
  }
  return value;
}

function parseIpv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  let head = groups(halves[0]);
  let tail = halves.length === 2 ? groups(halves[1]) : [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) counts as two groups.
  const fixV4 = (list: string[]): string[] | undefined => {
    const last = list[list.length - 1];
    if (last === undefined || !last.includes('.')) return list;
    const v4 = parseIpv4(last);
    if (v4 === undefined) return undefined;
    return [...list.slice(0, -1), (v4 >> 16n).toString(16), (v4 & 0xffffn).toString(16)];
  };
  if (halves.length === 2) {
    const t = fixV4(tail);
    if (!t) return undefined;
    tail = t;
  } else {
    const h = fixV4(head);
    if (!h) return undefined;
    head = h;
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let value = 0n;
  for (const g of all) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    value = (value << 16n) | BigInt(parseInt(g, 16));
  }
  return value;
}

export function parseIp(text: string): ParsedIp | undefined {
  const t = text.trim().replace(/^\[|\]$/g, '');
  if (t.includes(':')) {
    const v = parseIpv6(t);
    return v === undefined ? undefined : { v6: true, value: v };
  }
  const v = parseIpv4(t);
  return v === undefined ? undefined : { v6: false, value: v };
}

/**
 * Is `address` inside `cidr` ("10.0.0.0/8", "10.1.2.3", "10.1.2.3/255.255.255.0")?
 * An unknown address (undefined) may be anywhere: 'maybe'.
 */
export function inCidr(address: string | undefined, cidr: string): Tri {
  if (address === undefined) return 'maybe';
  const [net, lenText] = cidr.split('/');
  const a = parseIp(address);
  const n = parseIp(net);
  if (!a || !n) return fromBool(address === net);
  if (a.v6 !== n.v6) return 'no';
  const bits = a.v6 ? 128 : 32;
  let mask: bigint;
  if (lenText === undefined) {
    mask = (1n << BigInt(bits)) - 1n;
  } else if (/^\d+$/.test(lenText)) {
    const len = Number(lenText);
    mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  } else {
    // iptables may print a dotted netmask for non-contiguous masks.
    const m = parseIp(lenText);
    if (!m) return 'maybe';
    mask = m.value;
  }
  return fromBool((a.value & mask) === (n.value & mask));
}

/** Is `address` within the inclusive range from..to (nft interval elements)? */
export function inRange(address: string | undefined, from: string, to: string): Tri {
  if (address === undefined) return 'maybe';
  const a = parseIp(address);
  const f = parseIp(from);
  const t = parseIp(to);
  if (!a || !f || !t || a.v6 !== f.v6) return 'no';
  return fromBool(a.value >= f.value && a.value <= t.value);
}

export function sameIp(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  return x && y ? x.v6 === y.v6 && x.value === y.value : a === b;
}

/** "ip:port", with brackets for IPv6 as the rule tools print it. */
export function hostPort(address: string, port: number | string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]:${port}` : `${address}:${port}`;
}

export function unique<T>(items: Iterable<T>): T[] {
  return [...new Set(items)];
}

export function answer(
  endpoints: Iterable<string>,
  lines: Iterable<string>,
  rejected: Iterable<string> = [],
): RuleAnswer {
  const eps = unique(endpoints).sort();
  return {
    found: eps.length > 0,
    endpoints: eps,
    lines: unique(lines),
    rejected: eps.length > 0 ? [] : unique(rejected),
  };
}
