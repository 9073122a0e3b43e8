/**
 * The module guard (KEP-614): a test must not load sctp.ko. It reads every
 * node's module state at once (in parallel) at run start, before and after
 * each guarded test, and at run end, and judges each node:
 *
 *   broken      the module went into `loaded` from anything but loaded/builtin
 *   held        a loadable, unloaded module stayed unloaded: the test could have
 *               loaded it and did not
 *   not judged  nothing to judge (built in, already loaded, no loadable module,
 *               blacklisted, no node access), with the reason
 *
 * A state that cannot be read (exec failed, non-zero exit, empty or
 * unparseable output) is never a silent pass: the test's verdict is `error`
 * with the node's raw output. Each test's "before" is compared with the
 * previous reading too, so a load between tests, by the suite or anything
 * else, is caught and named in the run's guard findings.
 */
import type { ExecResult, NodeAccess } from '../access/node-access.ts';
import {
  MODULE_FILES_COMMAND,
  MODULE_LIVE_COMMAND,
  MODULE_STATE_COMMAND,
  combineOutputs,
  parseModuleState,
  type ModuleReport,
} from './module-state.ts';
import type { GuardResult, NodeGuard } from '../framework/outcome.ts';

/** One node's module state as read, or why it could not be read. */
export type NodeReading =
  | { kind: 'read'; report: ModuleReport }
  | { kind: 'unreadable'; why: string; raw: string }
  | { kind: 'no access'; why: string };

export type Readings = Map<string, NodeReading>;

const rawOf = (result: ExecResult) =>
  [result.stdout, result.stderr].filter((s) => s.trim()).join('\n--- stderr\n') || '(no output)';

/** Reads the output of MODULE_STATE_COMMAND (or the live one); unreadable when the command did not do its job. */
export function readingOf(result: ExecResult): NodeReading {
  const raw = rawOf(result);
  if (result.code !== 0) return { kind: 'unreadable', why: `the state command exited ${result.code}`, raw };
  if (!result.stdout.trim()) return { kind: 'unreadable', why: 'the state command printed nothing', raw };
  // The command always prints these two; without them the output is not ours.
  if (!/^kernel=/m.test(result.stdout) || !/^proc_modules=(yes|no)$/m.test(result.stdout))
    return {
      kind: 'unreadable',
      why: 'the output is not the state command’s (no kernel= / proc_modules= line)',
      raw,
    };
  return { kind: 'read', report: parseModuleState(result.stdout) };
}

/**
 * A run's copy of each node's MODULE_FILES_COMMAND output, with the kernel
 * it was read under: a reading that finds it runs only the live command.
 */
export type NodeFiles = Map<string, { kernel: string; output: string }>;

/**
 * Every node at once. Without `files`, each node runs the whole state
 * command; with it, the live command, and the files command only for a node
 * not read before or now running another kernel.
 */
export async function readNodes(
  access: NodeAccess,
  nodes: readonly string[],
  files?: NodeFiles,
): Promise<Readings> {
  if (access.kind === 'none') {
    const why = `no node access${access.unavailableReason ? `: ${access.unavailableReason}` : ''}`;
    return new Map(nodes.map((n) => [n, { kind: 'no access', why }]));
  }
  const readNode = async (node: string): Promise<NodeReading> => {
    if (!files) return readingOf(await access.exec(node, MODULE_STATE_COMMAND, 'guard'));
    const live = await access.exec(node, MODULE_LIVE_COMMAND, 'guard');
    const reading = readingOf(live);
    if (reading.kind !== 'read') return reading;
    let known = files.get(node);
    if (known?.kernel !== reading.report.kernel) {
      const result = await access.exec(node, MODULE_FILES_COMMAND, 'guard');
      if (result.code !== 0)
        return { kind: 'unreadable', why: `the files command exited ${result.code}`, raw: rawOf(result) };
      known = { kernel: reading.report.kernel, output: result.stdout };
      files.set(node, known);
    }
    return { kind: 'read', report: parseModuleState(combineOutputs(live.stdout, known.output)) };
  };
  const read = async (node: string): Promise<[string, NodeReading]> => {
    try {
      return [node, await readNode(node)];
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      return [node, { kind: 'unreadable', why: 'the node could not be reached', raw: text }];
    }
  };
  return new Map(await Promise.all(nodes.map(read)));
}

export function stateName(r: NodeReading | undefined): string {
  if (!r) return 'not read';
  if (r.kind === 'read') return r.report.state + (r.report.blacklisted ? ' (blacklisted)' : '');
  return r.kind === 'unreadable' ? 'unreadable' : 'not read';
}

/** Why a node that did not change cannot say anything about a test. */
function notJudgedWhy(r: ModuleReport): string | undefined {
  switch (r.state) {
    case 'builtin':
      return 'sctp is built into the kernel: there is nothing to load';
    case 'loaded':
      return 'sctp.ko was already loaded before';
    case 'unavailable':
      return r.evidence.some((e) => e.startsWith('/proc/modules: absent'))
        ? 'no loadable sctp module: kernel without module support'
        : `no loadable sctp module: no sctp.ko for kernel ${r.kernel || '?'}`;
    case 'not-loaded':
      return r.blacklisted
        ? 'sctp is blacklisted in the modprobe configuration: a socket could not load it'
        : undefined;
  }
}

/** One node's judgement from its readings before and after. */
export function judgeNode(
  node: string,
  before: NodeReading | undefined,
  after: NodeReading | undefined,
): NodeGuard {
  const base = { node, before: stateName(before), after: stateName(after) };
  for (const [when, r] of [
    ['before', before],
    ['after', after],
  ] as const) {
    if (!r) return { ...base, judgement: 'not judged', why: `not read ${when} the test` };
    if (r.kind === 'no access') return { ...base, judgement: 'not judged', why: r.why };
    if (r.kind === 'unreadable')
      return { ...base, judgement: 'not judged', why: `unreadable ${when} the test: ${r.why}`, raw: r.raw };
  }
  const b = (before as { report: ModuleReport }).report;
  const a = (after as { report: ModuleReport }).report;
  if (a.state === 'loaded' && b.state !== 'loaded' && b.state !== 'builtin')
    return { ...base, judgement: 'broken', why: `sctp.ko went from ${b.state} to loaded` };
  if (a.state !== b.state)
    return { ...base, judgement: 'not judged', why: `the state changed from ${b.state} to ${a.state}` };
  const why = notJudgedWhy(b);
  if (why) return { ...base, judgement: 'not judged', why };
  return { ...base, judgement: 'held', why: 'a loadable sctp.ko stayed unloaded' };
}

export function judgeGuard(before: Readings, after: Readings): GuardResult {
  const nodes = [...new Set([...before.keys(), ...after.keys()])].sort();
  return { nodes: nodes.map((n) => judgeNode(n, before.get(n), after.get(n))) };
}

/** The guard breaks the test if any node broke; it cannot judge the test if a node was unreadable. */
export function guardBroken(g: GuardResult): NodeGuard[] {
  return g.nodes.filter((n) => n.judgement === 'broken');
}
export function guardUnreadable(g: GuardResult): NodeGuard[] {
  return g.nodes.filter((n) => n.raw !== undefined);
}

/** What the guard saw outside the tests: run start, run end, and loads between tests. */
export interface RunGuard {
  start: Array<{ node: string; state: string }>;
  end: Array<{ node: string; state: string }>;
  /** Loads no test's guard saw: between two readings, with who ran in between. */
  findings: string[];
  /**
   * How long reading every node at once took (median and slowest of all the
   * run's readings): with the nodes read in parallel it should not grow with
   * their number (bin/benchmark prints it per cluster shape).
   */
  reads: { count: number; nodes: number; medianMs: number; maxMs: number };
}

const snapshot = (r: Readings) => [...r].map(([node, reading]) => ({ node, state: stateName(reading) }));

/**
 * Follows the readings through a run. Guarded tests read before and after;
 * unguarded tests (kernel-SCTP agent) are only noted, since they may load
 * the module by design, and a load after one of them is not a finding.
 *
 * Tests may run side by side (--parallel). Each test is judged on its own
 * window, its readings before and after, so a load while several windows
 * are open fails every test whose window it fell in: it cannot be pinned on
 * one of them, and each test's outcome names the tests it shared its window
 * with. A time when no window is open is a gap: a load in it is a finding of
 * the run, checked when the next window opens (or at the run end) against
 * the latest reading that closed a window.
 */
export class GuardTracker {
  private last?: { readings: Readings; label: string; at: number };
  private unguardedSince: string[] = [];
  private startReadings: Readings = new Map();
  private readonly readMs: number[] = [];
  /** Open windows: each test, with the tests whose windows overlapped it so far. */
  private readonly open = new Map<string, Set<string>>();
  readonly findings: string[] = [];

  /** `readAll` reads every node at once (readNodes with the run's access and nodes). */
  constructor(private readonly readAll: () => Promise<Readings>) {}

  /** Every node's state now, the time it took kept for the run's record. */
  private async read(): Promise<Readings> {
    return (await this.readAt()).readings;
  }

  private async readAt(): Promise<{ readings: Readings; at: number }> {
    const started = performance.now();
    const readings = await this.readAll();
    this.readMs.push(performance.now() - started);
    return { readings, at: started };
  }

  async start(): Promise<void> {
    const { readings, at } = await this.readAt();
    this.startReadings = readings;
    this.last = { readings, label: 'the run start', at };
  }

  /**
   * Opens a guarded test's window: reads, and checks nothing was loaded in
   * the gap before it (when no other window is open).
   */
  async before(title: string): Promise<Readings> {
    const inGap = this.open.size === 0;
    const shared = new Set<string>();
    for (const [other, sharers] of this.open) {
      sharers.add(title);
      shared.add(other);
    }
    this.open.set(title, shared);
    const now = await this.read();
    if (inGap) this.checkGap(now, `before "${title}"`);
    return now;
  }

  /** Closes the test's window: its reading after, and the tests that ran while it was open. */
  async after(title: string): Promise<{ readings: Readings; sharedWith: string[] }> {
    const { readings, at } = await this.readAt();
    const sharedWith = [...(this.open.get(title) ?? [])];
    this.open.delete(title);
    // Windows close out of order: the gap after them starts at the latest reading.
    if (!this.last || at >= this.last.at) this.last = { readings, label: `after "${title}"`, at };
    this.unguardedSince = [];
    return { readings, sharedWith };
  }

  unguarded(title: string): void {
    this.unguardedSince.push(title);
  }

  async end(): Promise<RunGuard> {
    const end = await this.read();
    this.checkGap(end, 'at the run end');
    const ms = [...this.readMs].sort((a, b) => a - b);
    return {
      start: snapshot(this.startReadings),
      end: snapshot(end),
      findings: this.findings,
      reads: {
        count: ms.length,
        nodes: end.size,
        medianMs: Math.round(ms[Math.floor(ms.length / 2)]),
        maxMs: Math.round(ms[ms.length - 1]),
      },
    };
  }

  private checkGap(now: Readings, label: string): void {
    if (!this.last) return;
    if (this.unguardedSince.length) return; // a kernel-SCTP test may load it by design
    for (const [node, reading] of now) {
      const j = judgeNode(node, this.last.readings.get(node), reading);
      if (j.judgement === 'broken')
        this.findings.push(
          `${node}: sctp.ko went from ${j.before} to ${j.after} between ${this.last.label} and ${label}, outside any test's guard (by the suite between tests, or by something else on the node)`,
        );
    }
  }
}
