/**
 * The NetworkPolicy model: namespaces x, y, z, each with pods a, b, c, every
 * pod serving SCTP on ports 80 and 81 (as upstream's netpol suite does, in
 * SCTP only). A `Reachability` is a truth table over (from pod, to pod, port)
 * → allowed; tests build the expected one from `allowAll()` with a few
 * matchers, the probe fills an observed one, and the text rendering puts
 * both, and where they differ, into the report.
 */

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const PODS = ['a', 'b', 'c'] as const;
export const PORTS = [80, 81] as const;
export const PROTOCOL = 'SCTP' as const;

export type ModelNamespace = (typeof NAMESPACES)[number];
export type ModelPodName = (typeof PODS)[number];
export type ModelPort = (typeof PORTS)[number];

/** One pod of the model, e.g. x/a. */
export interface ModelPod {
  ns: ModelNamespace;
  pod: ModelPodName;
}

/** A set of model pods: a field left out matches every value (`{}` is every pod). */
export interface Peer {
  ns?: ModelNamespace;
  pod?: ModelPodName;
}

/** The nine pods, namespace-major: x/a, x/b, x/c, y/a, … */
export const MODEL_PODS: readonly ModelPod[] = NAMESPACES.flatMap((ns) => PODS.map((pod) => ({ ns, pod })));

/** The labels a model namespace carries (`ns: x`), for namespace selectors. */
export const namespaceLabels = (ns: ModelNamespace): Record<string, string> => ({ ns });
/** The labels a model pod carries (`pod: a`), for pod selectors. */
export const podLabels = (pod: ModelPodName): Record<string, string> => ({ pod });

export const podId = (p: ModelPod): string => `${p.ns}/${p.pod}`;

export function matches(peer: Peer, p: ModelPod): boolean {
  return (peer.ns === undefined || peer.ns === p.ns) && (peer.pod === undefined || peer.pod === p.pod);
}

/** One cell of the truth table: an SCTP association from a pod to a pod's port. */
export interface Cell {
  from: ModelPod;
  to: ModelPod;
  port: ModelPort;
}

export const cellId = (c: Cell): string => `${podId(c.from)} → ${podId(c.to)} :${c.port}`;

/** Every cell, port-major then from then to (the order tables are printed in). */
export const CELLS: readonly Cell[] = PORTS.flatMap((port) =>
  MODEL_PODS.flatMap((from) => MODEL_PODS.map((to) => ({ from, to, port }))),
);

const key = (from: ModelPod, to: ModelPod, port: number) => `${podId(from)}>${podId(to)}:${port}`;

export interface Difference {
  cell: Cell;
  expected: boolean;
  observed: boolean;
}

export const verdict = (allowed: boolean): string => (allowed ? 'connected' : 'blocked');

/** "x/b → x/a :81 expected blocked, observed connected" */
export const describeDifference = (d: Difference): string =>
  `${cellId(d.cell)} expected ${verdict(d.expected)}, observed ${verdict(d.observed)}`;

export class Reachability {
  private readonly allowed = new Map<string, boolean>();

  private constructor(initial: boolean) {
    for (const c of CELLS) this.allowed.set(key(c.from, c.to, c.port), initial);
  }

  /** Every pod reaches every pod on every port: the table with no policy. */
  static allowAll(): Reachability {
    return new Reachability(true);
  }

  static denyAll(): Reachability {
    return new Reachability(false);
  }

  /** A table whose cells are what `allowed` says of each. */
  static from(allowed: (cell: Cell) => boolean): Reachability {
    const r = new Reachability(false);
    for (const c of CELLS) r.allowed.set(key(c.from, c.to, c.port), allowed(c));
    return r;
  }

  get(cell: Cell): boolean {
    return this.allowed.get(key(cell.from, cell.to, cell.port))!;
  }

  /** Sets every cell from a pod matching `from` to a pod matching `to` on `ports`. */
  expect(from: Peer, to: Peer, allowed: boolean, ports: readonly ModelPort[] = PORTS): this {
    for (const c of CELLS) {
      if (ports.includes(c.port) && matches(from, c.from) && matches(to, c.to))
        this.allowed.set(key(c.from, c.to, c.port), allowed);
    }
    return this;
  }

  /** Nothing reaches pods matching `to` on `ports` (ingress denied). */
  denyTo(to: Peer, ports?: readonly ModelPort[]): this {
    return this.expect({}, to, false, ports);
  }

  /** Pods matching `from` reach nothing on `ports` (egress denied). */
  denyFrom(from: Peer, ports?: readonly ModelPort[]): this {
    return this.expect(from, {}, false, ports);
  }

  /** Pods matching `from` reach pods matching `to` on `ports`. */
  allowFrom(from: Peer, to: Peer, ports?: readonly ModelPort[]): this {
    return this.expect(from, to, true, ports);
  }

  /**
   * A pod reaches itself whatever the policies: traffic to its own IP stays
   * in its network namespace (the loopback route), which no policy sees.
   * Call it last, as upstream does.
   */
  allowLoopback(): this {
    for (const p of MODEL_PODS) this.allowFrom(p, p);
    return this;
  }

  /** The cells where `observed` disagrees with this (expected) table. */
  differences(observed: Reachability): Difference[] {
    return CELLS.filter((c) => this.get(c) !== observed.get(c)).map((cell) => ({
      cell,
      expected: this.get(cell),
      observed: observed.get(cell),
    }));
  }

  equals(other: Reachability): boolean {
    return this.differences(other).length === 0;
  }

  /** How many cells are allowed and blocked. */
  counts(): { connected: number; blocked: number } {
    const connected = CELLS.filter((c) => this.get(c)).length;
    return { connected, blocked: CELLS.length - connected };
  }
}

/**
 * One grid per port, rows = from, columns = to, each cell one character
 * from `mark`; `legend` ends the text.
 */
export function renderGrid(title: string, mark: (cell: Cell) => string, legend: string): string {
  const ids = MODEL_PODS.map(podId);
  const width = Math.max(...ids.map((i) => i.length));
  const left = Math.max(width, ...PORTS.map((p) => `${PROTOCOL}/${p}`.length)) + 1;
  const center = (s: string) => s.padStart(Math.ceil((width + s.length) / 2)).padEnd(width);
  const blocks = PORTS.map((port) => {
    const header =
      `${`${PROTOCOL}/${port}`.padEnd(left)}${ids.map((i) => i.padEnd(width)).join(' ')}`.trimEnd();
    const rows = MODEL_PODS.map((from) => {
      const cells = MODEL_PODS.map((to) => center(mark({ from, to, port })));
      return `${podId(from).padEnd(left)}${cells.join(' ')}`.trimEnd();
    });
    return [header, ...rows].join('\n');
  });
  return [`${title} (rows: from, columns: to)`, ...blocks, legend].join('\n\n');
}

const LEGEND = '. connected   X blocked';

export function renderReachability(title: string, r: Reachability): string {
  return renderGrid(title, (c) => (r.get(c) ? '.' : 'X'), LEGEND);
}

/**
 * Expected against observed: agreeing cells show the shared verdict, a
 * differing cell shows `!`, and the differences are listed under the legend.
 */
export function renderComparison(expected: Reachability, observed: Reachability): string {
  const diffs = expected.differences(observed);
  const differing = new Set(diffs.map((d) => cellId(d.cell)));
  const grid = renderGrid(
    'Comparison of expected and observed',
    (c) => (differing.has(cellId(c)) ? '!' : expected.get(c) ? '.' : 'X'),
    '. connected and X blocked, as expected   ! differs from expected',
  );
  const summary = diffs.length
    ? `${diffs.length} of ${CELLS.length} cells differ:\n${diffs.map(describeDifference).join('\n')}`
    : `all ${CELLS.length} cells as expected`;
  return `${grid}\n${summary}`;
}
