/**
 * nftables rules, read from `nft -j list ruleset` (JSON, schema version 1).
 *
 * JSON rather than the text listing: the text form has no stable grammar to
 * parse (set elements wrap over lines, quoting varies by nft version), while
 * the JSON form is what libnftables itself emits. The evidence lines are
 * rendered back into nft syntax so a report reads like `nft list ruleset`.
 *
 * The tracer has the same semantics as the iptables one: the packet is the
 * first of a new flow (ct state new); fields the question leaves open
 * (source, marks, `numgen random`) may match, every branch is followed, and
 * a verdict that surely applies ends a branch.
 *
 * Readers: kube-proxy's nftables mode (table `ip kube-proxy`: the
 * service-ips / service-nodeports verdict maps keyed by
 * `ipv4_addr . inet_proto . inet_service`, service-/external-/endpoint-
 * chains ending in `dnat to`), and the CNI portmap plugin's nftables backend
 * (plugins >= 1.5, table `ip cni_hostport`).
 */
import {
  answer,
  fromBool,
  hostPort,
  inCidr,
  inRange,
  parseIp,
  protocolMatches,
  sameIp,
  triAnd,
  triNot,
  type HostPortQuery,
  type L4Protocol,
  type NodePortQuery,
  type RuleAnswer,
  type ServiceQuery,
  type Tri,
} from './types.ts';

/** Any JSON value, as nft prints it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface NftChain {
  family: string;
  table: string;
  name: string;
  /** Base chains only: filter / nat / route. */
  type?: string;
  hook?: string;
  prio?: number;
  policy?: string;
}

export interface NftRule {
  family: string;
  table: string;
  chain: string;
  handle?: number;
  comment?: string;
  expr: Json[];
}

export interface NftSet {
  family: string;
  table: string;
  name: string;
  kind: 'set' | 'map';
  /** For maps: what the elements map to ("verdict", "ipv4_addr", …). */
  map?: string;
  elem: Json[];
}

export interface NftRuleset {
  chains: NftChain[];
  rules: NftRule[];
  sets: NftSet[];
}

const isObject = (v: Json | undefined): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: Json | undefined): number | undefined => (typeof v === 'number' ? v : undefined);

/** Parses `nft -j list ruleset` (or `nft -j list table …`). */
export function parseNftJson(text: string): NftRuleset {
  let data: Json;
  try {
    data = JSON.parse(text) as Json;
  } catch (err) {
    throw new Error(`not nft JSON output: ${(err as Error).message}`, { cause: err });
  }
  const items = isObject(data) && Array.isArray(data.nftables) ? data.nftables : undefined;
  if (!items) throw new Error('not nft JSON output: no "nftables" array');
  const rs: NftRuleset = { chains: [], rules: [], sets: [] };
  for (const item of items) {
    if (!isObject(item)) continue;
    const [kind, body] = Object.entries(item)[0] ?? [];
    if (!isObject(body)) continue;
    const family = str(body.family) ?? '';
    const table = str(body.table) ?? '';
    if (kind === 'chain') {
      rs.chains.push({
        family,
        table,
        name: str(body.name) ?? '',
        type: str(body.type),
        hook: str(body.hook),
        prio: num(body.prio),
        policy: str(body.policy),
      });
    } else if (kind === 'rule') {
      rs.rules.push({
        family,
        table,
        chain: str(body.chain) ?? '',
        handle: num(body.handle),
        comment: str(body.comment),
        expr: Array.isArray(body.expr) ? body.expr : [],
      });
    } else if (kind === 'set' || kind === 'map') {
      rs.sets.push({
        family,
        table,
        name: str(body.name) ?? '',
        kind,
        map: str(body.map),
        elem: Array.isArray(body.elem) ? body.elem : [],
      });
    }
  }
  return rs;
}

// ---------------------------------------------------------------------------
// Rendering JSON back into nft syntax, for evidence.

function renderExpr(e: Json | undefined): string {
  if (e === undefined || e === null) return '';
  if (typeof e === 'string' || typeof e === 'number' || typeof e === 'boolean') return String(e);
  if (Array.isArray(e)) return `{ ${e.map(renderExpr).join(', ')} }`;
  const [k, v] = Object.entries(e)[0] ?? ['', null];
  const o = isObject(v) ? v : {};
  switch (k) {
    case 'payload':
      return `${str(o.protocol) ?? str(o.base) ?? '?'} ${str(o.field) ?? `@${num(o.offset)},${num(o.len)}`}`;
    case 'meta':
      return `meta ${str(o.key)}`;
    case 'ct':
      return `ct ${str(o.key)}`;
    case 'fib':
      return `fib ${Array.isArray(o.flags) ? o.flags.map(renderExpr).join(' . ') : renderExpr(o.flags)} ${str(o.result)}`;
    case 'numgen':
      return `numgen ${str(o.mode)} mod ${num(o.mod)}`;
    case 'concat':
      return Array.isArray(v) ? v.map(renderExpr).join(' . ') : '';
    case 'prefix':
      return `${renderExpr(o.addr)}/${num(o.len)}`;
    case 'range':
      return Array.isArray(v) ? `${renderExpr(v[0])}-${renderExpr(v[1])}` : '';
    case 'set':
      return Array.isArray(v)
        ? `{ ${v.map((x) => (Array.isArray(x) ? `${renderExpr(x[0])} : ${renderExpr(x[1])}` : renderExpr(x))).join(', ')} }`
        : renderExpr(v);
    case 'elem':
      return renderExpr(o.val);
    case '&':
    case '|':
    case '^':
    case '<<':
    case '>>':
      return Array.isArray(v) ? v.map(renderExpr).join(` ${k} `) : '';
    case 'jump':
    case 'goto':
      return `${k} ${str(o.target)}`;
    case 'accept':
    case 'drop':
    case 'return':
    case 'continue':
      return k;
    default:
      return `${k} ${JSON.stringify(v)}`;
  }
}

function renderStatement(s: Json): string {
  if (!isObject(s)) return renderExpr(s);
  const [k, v] = Object.entries(s)[0] ?? ['', null];
  const o = isObject(v) ? v : {};
  switch (k) {
    case 'match': {
      const op = str(o.op) ?? '==';
      return `${renderExpr(o.left)} ${op === '==' || op === 'in' ? '' : `${op} `}${renderExpr(o.right)}`;
    }
    case 'vmap':
    case 'map':
      return `${renderExpr(o.key)} ${k} ${renderExpr(o.data)}`;
    case 'dnat':
    case 'snat': {
      const addr = o.addr === undefined ? '' : renderExpr(o.addr);
      const port = o.port === undefined ? '' : renderExpr(o.port);
      const fam = str(o.family) ? `${str(o.family)} ` : '';
      return `${k} ${fam}to ${addr.includes(':') && port ? `[${addr}]` : addr}${port ? `:${port}` : ''}`;
    }
    case 'masquerade':
    case 'redirect':
      return isObject(v) && str(v.flags) ? `${k} ${str(v.flags)}` : k;
    case 'reject':
      return 'reject';
    case 'counter':
      return 'counter';
    case 'mangle':
      return `${renderExpr(o.key)} set ${renderExpr(o.value)}`;
    default:
      return renderExpr(s);
  }
}

export function renderRule(rule: NftRule): string {
  const body = rule.expr.map(renderStatement).join(' ');
  return `${rule.family} ${rule.table} ${rule.chain}: ${body}${rule.comment ? ` comment "${rule.comment}"` : ''}`;
}

// ---------------------------------------------------------------------------
// Evaluation.

export interface NftPacket {
  protocol: L4Protocol;
  dport: number;
  dst?: string;
  src?: string;
  /** `fib daddr type local`: true iff the destination is an address of the node. */
  dstIsLocal?: boolean;
}

/** A value the packet gives an expression: known, unknown (may be anything), or absent (no such header). */
type Val =
  { known: string | number } | { unknown: true; numgenMod?: number } | { absent: true } | { concat: Val[] };

const UNKNOWN: Val = { unknown: true };

function valueOf(e: Json | undefined, p: NftPacket): Val {
  if (!isObject(e)) return UNKNOWN;
  const [k, v] = Object.entries(e)[0] ?? ['', null];
  const o = isObject(v) ? v : {};
  switch (k) {
    case 'payload': {
      const proto = str(o.protocol);
      const field = str(o.field);
      if (proto === 'ip' || proto === 'ip6') {
        const addr = field === 'daddr' ? p.dst : field === 'saddr' ? p.src : undefined;
        if (addr === undefined) return UNKNOWN;
        return parseIp(addr)?.v6 === (proto === 'ip6') ? { known: addr } : { absent: true };
      }
      if (
        proto === 'th' ||
        proto === 'tcp' ||
        proto === 'udp' ||
        proto === 'sctp' ||
        proto === 'udplite' ||
        proto === 'dccp'
      ) {
        if (proto !== 'th' && protocolMatches(proto, p.protocol) === 'no') return { absent: true };
        return field === 'dport' ? { known: p.dport } : UNKNOWN;
      }
      return UNKNOWN;
    }
    case 'meta':
      if (str(o.key) === 'l4proto' || str(o.key) === 'protocol') return { known: p.protocol.toLowerCase() };
      return UNKNOWN;
    case 'fib':
      if (str(o.result) === 'type' && JSON.stringify(o.flags ?? []).includes('daddr')) {
        return { known: p.dstIsLocal === true ? 'local' : 'unicast' };
      }
      return UNKNOWN;
    case 'ct':
      // The packet asked about is the first of a new flow (an SCTP INIT).
      return str(o.key) === 'state' && o.dir === undefined ? { known: 'new' } : UNKNOWN;
    case 'numgen':
      return { unknown: true, numgenMod: num(o.mod) };
    case 'concat':
      return Array.isArray(v) ? { concat: v.map((x) => valueOf(x, p)) } : UNKNOWN;
    default:
      return UNKNOWN; // ct state, meta mark, binary operations, …
  }
}

/** Compares one scalar value with one literal of a set / right-hand side. */
function scalarMatches(left: Val, right: Json): Tri {
  // Set elements with a comment or timeout come wrapped: {"elem": {"val": …, "comment": …}}.
  if (isObject(right) && isObject(right.elem)) return scalarMatches(left, right.elem.val);
  if ('absent' in left) return 'no';
  if ('unknown' in left) return 'maybe';
  if ('concat' in left) {
    const parts = isObject(right) && Array.isArray(right.concat) ? right.concat : undefined;
    if (!parts || parts.length !== left.concat.length) return 'no';
    return left.concat.reduce<Tri>((acc, l, i) => triAnd(acc, scalarMatches(l, parts[i])), 'yes');
  }
  const value = left.known;
  if (isObject(right)) {
    if (isObject(right.prefix))
      return inCidr(String(value), `${str(right.prefix.addr)}/${num(right.prefix.len)}`);
    if (Array.isArray(right.range)) {
      const [a, b] = right.range;
      if (typeof value === 'number') return fromBool(value >= Number(a) && value <= Number(b));
      return inRange(String(value), String(a), String(b));
    }
    if (Array.isArray(right.set)) return anyOf(left, right.set);
    return 'maybe';
  }
  if (Array.isArray(right)) return anyOf(left, right);
  if (right === null || typeof right === 'boolean') return 'maybe';
  if (typeof value === 'number' || typeof right === 'number') {
    if (typeof value === 'string' && /^[a-z]+$/i.test(value))
      return protocolMatches(right, value.toUpperCase() as L4Protocol);
    return fromBool(Number(value) === Number(right));
  }
  if (parseIp(value) && parseIp(right)) return fromBool(sameIp(value, right));
  return fromBool(value.toLowerCase() === right.toLowerCase());
}

function anyOf(left: Val, list: Json[]): Tri {
  let r: Tri = 'no';
  for (const item of list) {
    const m = scalarMatches(left, item);
    if (m === 'yes') return 'yes';
    if (m === 'maybe') r = 'maybe';
  }
  return r;
}

interface Walk {
  rs: NftRuleset;
  family: string;
  table: string;
  packet: NftPacket;
  lines: string[];
  endpoints: string[];
  dropped: string[];
}

function setElements(w: Walk, ref: string): Json[] {
  const name = ref.replace(/^@/, '');
  return w.rs.sets.find((s) => s.family === w.family && s.table === w.table && s.name === name)?.elem ?? [];
}

function evalMatch(w: Walk, o: JsonObject): Tri {
  const left = valueOf(o.left, w.packet);
  const op = str(o.op) ?? '==';
  const right = o.right;
  if ('absent' in left) return 'no';
  let r: Tri;
  if (typeof right === 'string' && right.startsWith('@')) r = anyOf(left, setElements(w, right));
  else if (op === '<' || op === '>' || op === '<=' || op === '>=') {
    if (!('known' in left) || typeof right !== 'number') return 'maybe';
    const l = Number(left.known);
    r = fromBool(op === '<' ? l < right : op === '>' ? l > right : op === '<=' ? l <= right : l >= right);
  } else r = scalarMatches(left, right);
  return op === '!=' ? triNot(r) : r;
}

/** Where a verdict leaves the packet: still in this rule/chain (alive) or returning to the caller. */
interface Outcome {
  alive: boolean;
  ret: boolean;
}

function runVerdict(w: Walk, verdict: Json, path: string[]): Outcome {
  if (!isObject(verdict)) return { alive: false, ret: false };
  const [k, v] = Object.entries(verdict)[0] ?? ['', null];
  const target = isObject(v) ? str(v.target) : undefined;
  switch (k) {
    case 'jump':
      return { alive: target ? runChain(w, target, path) : true, ret: false };
    case 'goto':
      return { alive: false, ret: target ? runChain(w, target, path) : true };
    case 'return':
      return { alive: false, ret: true };
    case 'continue':
      return { alive: true, ret: false };
    default:
      return { alive: false, ret: false }; // accept, drop, queue
  }
}

const TERMINAL = new Set([
  'accept',
  'drop',
  'reject',
  'dnat',
  'snat',
  'masquerade',
  'redirect',
  'queue',
  'tproxy',
]);
const MAX_DEPTH = 32;

/** Runs one chain; returns whether some path comes back out of it to the caller. */
function runChain(w: Walk, name: string, path: string[]): boolean {
  if (path.length > MAX_DEPTH) return true;
  const here = [...path, name];
  const rules = w.rs.rules.filter((r) => r.family === w.family && r.table === w.table && r.chain === name);
  let returns = false;
  for (const rule of rules) {
    const mark = { lines: w.lines.length, endpoints: w.endpoints.length, dropped: w.dropped.length };
    let alive = true; // some packet is still inside this rule
    let next = false; // some packet goes on to the next rule
    let acted = false; // the rule did something to a packet (beyond matching)
    let branched = false; // … and that was only a jump / goto / vmap into other chains
    const hits: string[] = [];
    for (const s of rule.expr) {
      if (!alive || !isObject(s)) break;
      const [k, v] = Object.entries(s)[0] ?? ['', null];
      const o = isObject(v) ? v : {};
      if (k === 'match') {
        const m = evalMatch(w, o);
        if (m !== 'yes') next = true; // the packets that do not match go on to the next rule
        if (m === 'no') alive = false;
        continue;
      }
      if (k === 'limit' || k === 'xt') {
        next = true; // a rate limit or an iptables-compat match: may or may not match
        continue;
      }
      acted = true;
      if (k === 'jump' || k === 'goto') {
        branched = true;
        const out = runVerdict(w, s, here);
        returns ||= out.ret;
        alive = out.alive;
      } else if (k === 'return') {
        returns = true;
        alive = false;
      } else if (k === 'vmap') {
        branched = true;
        const key = valueOf(o.key, w.packet);
        const data = o.data;
        const entries: Json[] =
          typeof data === 'string'
            ? setElements(w, data)
            : isObject(data) && Array.isArray(data.set)
              ? data.set
              : [];
        let sure = false;
        const seen = new Set<number>();
        let stillAlive = false;
        for (const entry of entries) {
          if (!Array.isArray(entry)) continue;
          const m = scalarMatches(key, entry[0]);
          if (m === 'no') continue;
          if (m === 'yes') sure = true;
          if (typeof entry[0] === 'number') seen.add(entry[0]);
          // Named maps are not in the rule text: say which element was hit.
          if (typeof data === 'string') hits.push(`${renderExpr(entry[0])} : ${renderExpr(entry[1])}`);
          const out = runVerdict(w, entry[1], here);
          returns ||= out.ret;
          stillAlive ||= out.alive;
        }
        // numgen mod N with every value 0..N-1 mapped always hits an entry.
        const mod = 'unknown' in key ? key.numgenMod : undefined;
        const exhaustive = mod !== undefined && mod > 0 && [...Array(mod).keys()].every((i) => seen.has(i));
        if (!sure && !exhaustive) next = true; // a lookup that misses ends the rule
        alive = stillAlive;
      } else if (TERMINAL.has(k)) {
        if (k === 'dnat' && typeof o.addr === 'string') {
          w.endpoints.push(o.port === undefined ? o.addr : hostPort(o.addr, renderExpr(o.port)));
        }
        if (k === 'drop' || k === 'reject') w.dropped.push(renderRule(rule));
        alive = false;
      }
      // counter, log, mangle (meta mark set), notrack, …: the packet goes on.
    }
    const grew =
      w.lines.length > mark.lines || w.endpoints.length > mark.endpoints || w.dropped.length > mark.dropped;
    // Evidence: rules that acted, except jumps that led nowhere for this packet.
    if (acted && (!branched || grew)) {
      w.lines.splice(
        mark.lines,
        0,
        hits.length ? `${renderRule(rule)}  → ${hits.join(', ')}` : renderRule(rule),
      );
    }
    if (alive) next = true; // fell off the end of the rule: next rule
    if (!next) return returns;
  }
  return true;
}

export interface NftTraceInput extends NftPacket {
  /** nft table name, e.g. "kube-proxy" or "cni_hostport". */
  table: string;
  /** Table family; default "ip" for IPv4 destinations, "ip6" for IPv6 ones. */
  family?: string;
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** Base chain type to start from; default "nat". */
  type?: 'nat' | 'filter' | 'route';
}

export interface NftTrace {
  endpoints: string[];
  lines: string[];
  dropped: string[];
}

/** Follows a packet from the base chains of `table` at `hook` (lowest priority first). */
export function traceNft(ruleset: NftRuleset, input: NftTraceInput): NftTrace {
  const family = input.family ?? (input.dst && parseIp(input.dst)?.v6 ? 'ip6' : 'ip');
  const w: Walk = {
    rs: ruleset,
    family,
    table: input.table,
    packet: input,
    lines: [],
    endpoints: [],
    dropped: [],
  };
  const bases = ruleset.chains
    .filter(
      (c) =>
        c.family === family &&
        c.table === input.table &&
        c.hook === input.hook &&
        c.type === (input.type ?? 'nat'),
    )
    .sort((a, b) => (a.prio ?? 0) - (b.prio ?? 0));
  for (const base of bases) {
    const before = w.endpoints.length;
    runChain(w, base.name, []);
    // Once a nat chain has set up a DNAT, later nat chains at the hook are not consulted.
    if ((input.type ?? 'nat') === 'nat' && w.endpoints.length > before) break;
  }
  return {
    endpoints: [...new Set(w.endpoints)],
    lines: [...new Set(w.lines)],
    dropped: [...new Set(w.dropped)],
  };
}

const asRuleset = (input: string | NftRuleset): NftRuleset =>
  typeof input === 'string' ? parseNftJson(input) : input;

/** The filter-chain paths of `table` that end in drop / reject for this packet. */
function refusals(
  rs: NftRuleset,
  table: string,
  hooks: NftTraceInput['hook'][],
  packet: NftPacket,
): string[] {
  return hooks.flatMap((hook) => {
    const t = traceNft(rs, { table, hook, type: 'filter', ...packet });
    return t.dropped.length > 0 ? t.lines : [];
  });
}

/** kube-proxy in nftables mode (table `ip kube-proxy` / `ip6 kube-proxy`). */
export const kubeProxyNftables = {
  service(output: string | NftRuleset, q: ServiceQuery): RuleAnswer {
    const rs = asRuleset(output);
    const packet: NftPacket = { dst: q.address, protocol: q.protocol, dport: q.port, dstIsLocal: false };
    const t = traceNft(rs, { table: 'kube-proxy', hook: 'prerouting', ...packet });
    return answer(
      t.endpoints,
      t.lines,
      t.endpoints.length ? [] : refusals(rs, 'kube-proxy', ['prerouting', 'forward'], packet),
    );
  },

  nodePort(output: string | NftRuleset, q: NodePortQuery): RuleAnswer {
    const rs = asRuleset(output);
    const packet: NftPacket = { dst: q.nodeAddress, protocol: q.protocol, dport: q.port, dstIsLocal: true };
    const t = traceNft(rs, { table: 'kube-proxy', hook: 'prerouting', ...packet });
    return answer(
      t.endpoints,
      t.lines,
      t.endpoints.length ? [] : refusals(rs, 'kube-proxy', ['prerouting', 'input'], packet),
    );
  },
};

/** The CNI portmap plugin's nftables backend (table `ip cni_hostport`, plugins >= 1.5). */
export const portmapNftables = {
  hostPort(output: string | NftRuleset, q: HostPortQuery): RuleAnswer {
    const rs = asRuleset(output);
    const t = traceNft(rs, {
      table: 'cni_hostport',
      hook: 'prerouting',
      dst: q.nodeAddress,
      protocol: q.protocol,
      dport: q.port,
      dstIsLocal: true,
    });
    return answer(t.endpoints, t.lines);
  },
};
