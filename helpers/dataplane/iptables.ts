/**
 * iptables-save, read as data: tables, chains and rules (each keeping the
 * line it came from), and a tracer that follows one packet through a table.
 *
 * The tracer answers "where can this packet go?", not "where will it go".
 * The packet is the first of a new flow (conntrack state NEW); whatever
 * the question leaves open (source address, marks, the random choice
 * between endpoints, interfaces) may match, so every branch is followed and
 * all of a Service's endpoints are collected. A rule that surely matches
 * and ends the packet's way (DNAT, ACCEPT, DROP, REJECT) stops that branch,
 * as the kernel would.
 *
 * kube-proxy (iptables mode) and the CNI portmap plugin (iptables backend)
 * are read through it by `kubeProxyIptables` and `portmapIptables` below.
 */
import {
  answer,
  fromBool,
  inCidr,
  protocolMatches,
  triAnd,
  triNot,
  type HostPortQuery,
  type L4Protocol,
  type NodePortQuery,
  type RuleAnswer,
  type ServiceQuery,
  type Tri,
} from './types.ts';

/** One option of a rule: `-s 10.0.0.0/8`, `-m sctp --dport 80`, `! --mark 0x4000/0x4000`. */
export interface IptablesOption {
  /** The `-m` module the option belongs to; '' for the base matches (-s, -d, -p, -i, -o). */
  module: string;
  /** The option as written, without dashes ('s', 'dport', 'to-destination'); '' for a bare `-m name`. */
  name: string;
  values: string[];
  negated: boolean;
}

export interface IptablesRule {
  table: string;
  chain: string;
  /** The line exactly as iptables-save printed it. */
  line: string;
  matches: IptablesOption[];
  /** `-j` target (a user chain or an extension such as DNAT), if any. */
  jump?: string;
  /** `-g` target chain, if any. */
  goto?: string;
  /** Options of the target (`--to-destination`, `--set-xmark`, …). */
  targetOptions: IptablesOption[];
}

export interface IptablesChain {
  name: string;
  /** ACCEPT/DROP for built-in chains, undefined for user chains. */
  policy?: string;
  rules: IptablesRule[];
}

export interface IptablesTable {
  name: string;
  chains: Map<string, IptablesChain>;
}

export interface IptablesRuleset {
  tables: Map<string, IptablesTable>;
}

const SHORT_OPTIONS: Record<string, string> = {
  s: 'source',
  d: 'destination',
  p: 'protocol',
  i: 'in-interface',
  o: 'out-interface',
  f: 'fragment',
};

/**
 * Splits a rule line as iptables-save quotes it: comments are in double
 * quotes with \" inside; kube-router also writes \' outside quotes.
 */
export function tokenize(line: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      current += line[++i];
      inToken = true;
    } else if (c === '"') {
      quoted = !quoted;
      inToken = true;
    } else if (!quoted && /\s/.test(c)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) tokens.push(current);
  return tokens;
}

const isOption = (t: string): boolean => /^--?[A-Za-z]/.test(t);

function parseRule(table: string, line: string): IptablesRule | undefined {
  const tokens = tokenize(line);
  // Counters (`iptables-save -c`) come first as [packets:bytes].
  while (tokens.length > 0 && /^\[\d+:\d+\]$/.test(tokens[0])) tokens.shift();
  if (tokens[0] !== '-A' || tokens.length < 2) return undefined;
  const rule: IptablesRule = { table, chain: tokens[1], line, matches: [], targetOptions: [] };
  let module = '';
  let inTarget = false;
  let negateNext = false;
  for (let i = 2; i < tokens.length; i++) {
    const t = tokens[i];
    if (t === '!') {
      negateNext = true;
      continue;
    }
    if (t === '-m' || t === '--match') {
      module = tokens[++i] ?? '';
      rule.matches.push({ module, name: '', values: [], negated: false });
      continue;
    }
    if (t === '-j' || t === '--jump') {
      rule.jump = tokens[++i];
      inTarget = true;
      continue;
    }
    if (t === '-g' || t === '--goto') {
      rule.goto = tokens[++i];
      continue;
    }
    if (!isOption(t)) continue; // stray value; nothing we need
    const short = /^-([a-zA-Z])$/.exec(t)?.[1];
    const isBase =
      short !== undefined ||
      ['--source', '--destination', '--protocol', '--in-interface', '--out-interface', '--fragment'].includes(
        t,
      );
    const name = short !== undefined ? (SHORT_OPTIONS[short] ?? short) : t.replace(/^--/, '');
    const values: string[] = [];
    // Old iptables wrote `-s ! 10.0.0.0/8`; newer ones put `!` first.
    while (
      i + 1 < tokens.length &&
      !isOption(tokens[i + 1]) &&
      !(tokens[i + 1] === '!' && isOption(tokens[i + 2] ?? ''))
    ) {
      const v = tokens[++i];
      if (v === '!') negateNext = true;
      else values.push(v);
    }
    const option: IptablesOption = {
      module: isBase && !inTarget ? '' : module,
      name,
      values,
      negated: negateNext,
    };
    negateNext = false;
    if (inTarget && !isBase) rule.targetOptions.push({ ...option, module: rule.jump ?? '' });
    else rule.matches.push(option);
  }
  return rule;
}

/** Parses the whole output of `iptables-save` (any tables, with or without counters). */
export function parseIptablesSave(text: string): IptablesRuleset {
  const tables = new Map<string, IptablesTable>();
  let table: IptablesTable | undefined;
  const chain = (name: string): IptablesChain => {
    let c = table!.chains.get(name);
    if (!c) {
      c = { name, rules: [] };
      table!.chains.set(name, c);
    }
    return c;
  };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('*')) {
      const name = line.slice(1).trim();
      table = tables.get(name) ?? { name, chains: new Map() };
      tables.set(name, table);
    } else if (!table || line.startsWith('#') || line.trim() === '' || line === 'COMMIT') {
      continue;
    } else if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      chain(name).policy = policy === '-' ? undefined : policy;
    } else {
      const rule = parseRule(table.name, line);
      if (rule) chain(rule.chain).rules.push(rule);
    }
  }
  return { tables };
}

export interface Packet {
  protocol: L4Protocol;
  dport: number;
  /** Destination address; unknown (any) when omitted. */
  dst?: string;
  /** Source address; unknown (any) when omitted. */
  src?: string;
  /** Whether the destination is an address of the node (`-m addrtype --dst-type LOCAL`). */
  dstIsLocal?: boolean;
}

export interface NatTraceInput extends Packet {
  chain: 'PREROUTING' | 'OUTPUT';
}

/** One matched rule, with the chains the packet was in (outermost first). */
export interface TraceStep {
  line: string;
  /** Chains entered to reach this rule, plus the chain the rule jumps or goes to. */
  path: string[];
  /** For a jump or goto into a user chain: that chain. */
  via?: string;
}

export interface Trace {
  /** DNAT --to-destination values reached, e.g. "198.19.0.3:80". */
  endpoints: string[];
  /** Every rule line that matched along the way, as evidence. */
  lines: string[];
  /** DROP / REJECT lines reached. */
  dropped: string[];
  /** The same, with the chain path of each step, for readers that scope by chain. */
  steps: TraceStep[];
  endpointSteps: Array<TraceStep & { endpoint: string }>;
  droppedSteps: TraceStep[];
}

function portIn(spec: string, port: number): boolean {
  return spec.split(',').some((part) => {
    const [a, b] = part.split(':');
    if (b === undefined) return Number(a) === port;
    return port >= (a === '' ? 0 : Number(a)) && port <= (b === '' ? 65535 : Number(b));
  });
}

const L4_MODULES = new Set(['tcp', 'udp', 'sctp', 'udplite', 'dccp']);
/** Matches that never exclude a packet: they only count, comment or log. */
const ALWAYS_MATCH = new Set(['comment', 'nfacct']);

function matchOption(o: IptablesOption, p: Packet): Tri {
  const v = o.values[0] ?? '';
  let r: Tri;
  if (o.module === '') {
    switch (o.name) {
      case 'source':
        r = inCidr(p.src, v);
        break;
      case 'destination':
        r = inCidr(p.dst, v);
        break;
      case 'protocol':
        r = protocolMatches(v, p.protocol);
        break;
      case 'fragment':
        r = 'no'; // a first (or only) fragment carries the ports we ask about
        break;
      default:
        r = 'maybe'; // interfaces and anything else the question does not fix
    }
  } else if (o.name === '') {
    // `-m tcp` alone: the packet must be of that protocol; other modules: loading is no test.
    r = L4_MODULES.has(o.module) ? protocolMatches(o.module, p.protocol) : 'yes';
  } else if (L4_MODULES.has(o.module)) {
    r = o.name === 'dport' || o.name === 'destination-port' ? fromBool(portIn(v, p.dport)) : 'maybe';
  } else if (o.module === 'multiport') {
    if (o.name === 'dports' || o.name === 'destination-ports') r = fromBool(portIn(v, p.dport));
    else if (o.name === 'ports') r = portIn(v, p.dport) ? 'yes' : 'maybe';
    else r = 'maybe';
  } else if (o.module === 'addrtype') {
    if (o.name === 'dst-type') r = v === 'LOCAL' ? fromBool(p.dstIsLocal === true) : 'maybe';
    else if (o.name === 'src-type') r = 'maybe';
    else r = 'yes'; // --limit-iface-in/out only narrow the LOCAL test
  } else if (o.module === 'conntrack' && o.name === 'ctstate') {
    // The packet is the first of a new flow: NEW, not ESTABLISHED/RELATED/INVALID.
    const states = v.split(',');
    r = states.includes('NEW') ? 'yes' : states.some((s) => s === 'SNAT' || s === 'DNAT') ? 'maybe' : 'no';
  } else if (ALWAYS_MATCH.has(o.module)) {
    r = 'yes';
  } else {
    // mark, statistic, recent, conntrack, set, physdev, limit, …: open questions.
    r = 'maybe';
  }
  return o.negated ? triNot(r) : r;
}

export function matchRule(rule: IptablesRule, p: Packet): Tri {
  let r: Tri = 'yes';
  for (const o of rule.matches) {
    r = triAnd(r, matchOption(o, p));
    if (r === 'no') return 'no';
  }
  return r;
}

/** Extension targets after which the packet leaves the table. */
const TERMINAL_TARGETS = new Set([
  'ACCEPT',
  'DROP',
  'REJECT',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'REDIRECT',
  'NETMAP',
  'QUEUE',
  'NFQUEUE',
  'TPROXY',
]);
const MAX_DEPTH = 32;

interface Walk {
  table: IptablesTable;
  packet: Packet;
  steps: TraceStep[];
  endpointSteps: Array<TraceStep & { endpoint: string }>;
  droppedSteps: TraceStep[];
}

/**
 * Runs one chain; returns whether some path comes back out of it (RETURN or
 * the end of a user chain) so the caller goes on with its next rule.
 */
function runChain(w: Walk, name: string, path: string[]): boolean {
  const chain = w.table.chains.get(name);
  if (!chain || path.length > MAX_DEPTH) return true;
  const here = [...path, name];
  for (const rule of chain.rules) {
    const m = matchRule(rule, w.packet);
    if (m === 'no') continue;
    const sure = m === 'yes';
    const step = (via?: string): TraceStep =>
      via ? { line: rule.line, path: [...here, via], via } : { line: rule.line, path: here };
    const target = rule.goto ?? rule.jump;
    if (target !== undefined && w.table.chains.has(target) && !TERMINAL_TARGETS.has(target)) {
      // A jump (or goto) into a user chain: record it only if something inside matched.
      const mark = w.steps.length;
      const markEp = w.endpointSteps.length;
      const markDrop = w.droppedSteps.length;
      const comesBack = runChain(w, target, here);
      if (w.steps.length > mark || w.endpointSteps.length > markEp || w.droppedSteps.length > markDrop) {
        w.steps.splice(mark, 0, step(target));
      }
      if (rule.goto !== undefined) {
        // goto: when the target returns, this chain returns too.
        if (sure) return comesBack;
      } else if (sure && !comesBack) {
        return false;
      }
      continue;
    }
    w.steps.push(step());
    switch (rule.jump) {
      case undefined:
        continue; // a counting rule
      case 'RETURN':
        if (sure) return true;
        continue;
      case 'DNAT': {
        const to = rule.targetOptions.find((o) => o.name === 'to-destination')?.values[0];
        if (to) w.endpointSteps.push({ ...step(), endpoint: to });
        break;
      }
      case 'DROP':
      case 'REJECT':
        w.droppedSteps.push(step());
        break;
      default:
        if (!TERMINAL_TARGETS.has(rule.jump)) continue; // MARK, LOG, CONNMARK, …: the packet goes on
    }
    if (sure) return false;
  }
  return true;
}

/** Follows a packet from `chain` of `table`; see the module comment for the semantics. */
export function traceChain(ruleset: IptablesRuleset, table: string, chain: string, packet: Packet): Trace {
  const t = ruleset.tables.get(table);
  const w: Walk = {
    table: t ?? { name: table, chains: new Map() },
    packet,
    steps: [],
    endpointSteps: [],
    droppedSteps: [],
  };
  runChain(w, chain, []);
  return {
    endpoints: [...new Set(w.endpointSteps.map((s) => s.endpoint))],
    lines: [...new Set(w.steps.map((s) => s.line))],
    dropped: [...new Set(w.droppedSteps.map((s) => s.line))],
    steps: w.steps,
    endpointSteps: w.endpointSteps,
    droppedSteps: w.droppedSteps,
  };
}

/** Traces a packet through the nat table from PREROUTING (arriving) or OUTPUT (sent by the node). */
export function traceNat(ruleset: IptablesRuleset, input: NatTraceInput): Trace {
  const { chain, ...packet } = input;
  return traceChain(ruleset, 'nat', chain, packet);
}

const asRuleset = (input: string | IptablesRuleset): IptablesRuleset =>
  typeof input === 'string' ? parseIptablesSave(input) : input;

/**
 * The part of a nat trace that went through `anchor` (a chain name): its
 * endpoints, and its lines with the jumps that led there from the hook.
 */
function through(trace: Trace, anchor: string): { endpoints: string[]; lines: string[] } {
  const inside = (s: TraceStep): boolean => s.path.includes(anchor);
  const kept = trace.steps.filter(inside);
  const leadsIn = (s: TraceStep): boolean =>
    s.via !== undefined && kept.some((k) => s.path.every((c, i) => k.path[i] === c));
  return {
    endpoints: trace.endpointSteps.filter(inside).map((s) => s.endpoint),
    lines: trace.steps.filter((s) => inside(s) || leadsIn(s)).map((s) => s.line),
  };
}

/** kube-proxy's refusals in the filter table (REJECT for Services without endpoints), with their path. */
function filterRefusals(rs: IptablesRuleset, chains: string[], packet: Packet): string[] {
  return chains.flatMap((c) => {
    const t = traceChain(rs, 'filter', c, packet);
    return t.dropped.length > 0 ? t.lines : [];
  });
}

/** kube-proxy in iptables mode. */
export const kubeProxyIptables = {
  /** A ClusterIP or externalIP flow arriving at the node (from a pod or from outside). */
  service(output: string | IptablesRuleset, q: ServiceQuery): RuleAnswer {
    const rs = asRuleset(output);
    const packet: Packet = { dst: q.address, protocol: q.protocol, dport: q.port, dstIsLocal: false };
    const t = through(traceNat(rs, { chain: 'PREROUTING', ...packet }), 'KUBE-SERVICES');
    return answer(
      t.endpoints,
      t.lines,
      filterRefusals(rs, ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES'], packet),
    );
  },

  /** A flow to nodeAddress:nodePort arriving from outside the node. */
  nodePort(output: string | IptablesRuleset, q: NodePortQuery): RuleAnswer {
    const rs = asRuleset(output);
    const packet: Packet = { dst: q.nodeAddress, protocol: q.protocol, dport: q.port, dstIsLocal: true };
    const t = through(traceNat(rs, { chain: 'PREROUTING', ...packet }), 'KUBE-NODEPORTS');
    return answer(t.endpoints, t.lines, filterRefusals(rs, ['KUBE-EXTERNAL-SERVICES'], packet));
  },
};

/** The CNI portmap plugin's iptables backend (CNI-HOSTPORT-DNAT and CNI-DN-* chains). */
export const portmapIptables = {
  hostPort(output: string | IptablesRuleset, q: HostPortQuery): RuleAnswer {
    const rs = asRuleset(output);
    const packet: Packet = { dst: q.nodeAddress, protocol: q.protocol, dport: q.port, dstIsLocal: true };
    const t = through(traceNat(rs, { chain: 'PREROUTING', ...packet }), 'CNI-HOSTPORT-DNAT');
    return answer(t.endpoints, t.lines);
  },
};
