/**
 * Probing the model: every pod dials every pod on every model port over SCTP.
 * Each source pod makes all its probes with one `probe()` (one exec, the
 * probes concurrent inside it), and all sources run at once, so one matrix
 * takes about one probe timeout however many cells are blocked.
 */
import { inPod, probe, type Agent, type ProbeResult, type ProbeResultKind } from '../agent.ts';
import type { Kube } from '../kube.ts';
import {
  CELLS,
  MODEL_PODS,
  PORTS,
  PROTOCOL,
  Reachability,
  cellId,
  podId,
  renderGrid,
  type Cell,
  type ModelPod,
} from './model.ts';

/** A model pod as deployed: where it runs and its address. */
export interface DeployedPod extends ModelPod {
  namespace: string;
  name: string;
  container: string;
  ip: string;
}

export interface CellResult {
  cell: Cell;
  result: ProbeResult;
}

export interface Observation {
  /** Connected cells are allowed; a timeout, refusal or error is blocked. */
  reachability: Reachability;
  /** The raw result of every cell, in `CELLS` order. */
  results: CellResult[];
  /** How long the whole matrix took. */
  ms: number;
}

/**
 * Probes the full matrix. `pods` must hold every model pod once; an exec that
 * fails for a source rejects the whole observation (nothing was observed
 * from that pod, so its row cannot be read as blocked).
 */
export async function probeMatrix(
  agent: Agent,
  kube: Kube,
  pods: readonly DeployedPod[],
  timeoutSeconds: number,
): Promise<Observation> {
  const byId = new Map(pods.map((p) => [podId(p), p]));
  const deployed = (m: ModelPod): DeployedPod => {
    const p = byId.get(podId(m));
    if (!p) throw new Error(`model pod ${podId(m)} is not deployed`);
    return p;
  };
  const started = Date.now();
  const rows = await Promise.all(
    MODEL_PODS.map(async (from) => {
      const source = deployed(from);
      const cells: Cell[] = PORTS.flatMap((port) => MODEL_PODS.map((to) => ({ from, to, port })));
      const targets = cells.map((c) => ({ protocol: PROTOCOL, host: deployed(c.to).ip, port: c.port }));
      const exec = inPod(kube, source.namespace, source.name, source.container);
      const results = await probe(agent, exec, targets, timeoutSeconds);
      return cells.map((cell, i): CellResult => ({ cell, result: results[i] }));
    }),
  );
  const byCell = new Map(rows.flat().map((r) => [cellId(r.cell), r]));
  const results = CELLS.map((c) => byCell.get(cellId(c))!);
  return {
    reachability: Reachability.from((c) => byCell.get(cellId(c))!.result.result === 'connected'),
    results,
    ms: Date.now() - started,
  };
}

const KIND_MARK: Record<ProbeResultKind, string> = { connected: '.', timeout: 'T', refused: 'R', error: 'E' };

/** The observed matrix by probe result, so a reader can tell a timeout from an error. */
export function renderResults(title: string, results: readonly CellResult[]): string {
  const byCell = new Map(results.map((r) => [cellId(r.cell), r.result.result]));
  return renderGrid(
    title,
    (c) => KIND_MARK[byCell.get(cellId(c)) ?? 'error'],
    '. connected   T timeout   R refused   E error (all but . count as blocked)',
  );
}

/** One line per cell: the cell, the address dialled, the result and the agent's output. */
export function describeResults(results: readonly CellResult[]): string {
  return results
    .map(({ cell, result }) => {
      const raw = result.raw.replace(/\s*\n\s*/g, ' | ').trim();
      return `${cellId(cell)}  ${PROTOCOL} ${result.host}:${result.port}  ${result.result}  ${raw}`;
    })
    .join('\n');
}
