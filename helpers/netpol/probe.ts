/**
 * Probing the model: every pod dials every pod on every model port over SCTP.
 * Each source pod makes all its probes with one `probe()` (one command, the
 * probes concurrent inside it), and all sources run at once, so one round
 * takes about one cell timeout however many cells are blocked.
 *
 * A cell is blocked only when two probes say so (a lost packet or a busy
 * agent is not a policy). The cells the expected table blocks get both in
 * the same round: two associations at once, each with its own INIT and
 * retransmissions, so a table that holds is judged in one cell timeout, not
 * two one after the other. Any other cell blocked in the round is probed
 * again at once, in a second round; a cell that connects in either probe
 * counts as connected. A cell whose probe gave no answer at all (`error`) is
 * never blocked: it is kept apart, and the test that meets it is an error
 * (see verdict.ts).
 */
import {
  probe,
  type Agent,
  type Executor,
  type ProbeResult,
  type ProbeResultKind,
} from '../probing/agent.ts';
import {
  CELLS,
  MODEL_PODS,
  PROTOCOL,
  Reachability,
  cellId,
  podId,
  renderGrid,
  type Cell,
  type ModelPod,
} from './model.ts';
import { sleep } from '../framework/poll.ts';
import { cellVerdict, describeCellResults } from './verdict.ts';

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
  /** Connected cells are allowed; cells blocked in both probes are not (error cells read as not allowed: check `errors` first). */
  reachability: Reachability;
  /** The result of every cell, in `CELLS` order: its second probe's for a cell whose first was blocked. */
  results: CellResult[];
  /** Cells whose probe gave no SCTP answer (in either probe): no verdict. */
  errors: CellResult[];
  /** Cells blocked in their first probe that connected in their second (not blocked). */
  unconfirmed: CellResult[];
  /** How many cells the first round probed twice at once (those `expected` blocks). */
  twice: number;
  /** How many cells a second round probed again (0: no second round). */
  reprobed: number;
  /**
   * The first round already showed a cell connected that `expected` blocks,
   * so the table cannot equal it (a second probe turns blocked cells into
   * connected, never the reverse): no second round was taken, and this
   * observation must not be reported as the table's last word.
   */
  early: boolean;
  /** How long the first round and the second round took. */
  ms: number;
  confirmMs: number;
}

/** How to run a command in a deployed pod. */
export type ExecFor = (pod: DeployedPod) => Executor;

function deployedOf(pods: readonly DeployedPod[]): (m: ModelPod) => DeployedPod {
  const byId = new Map(pods.map((p) => [podId(p), p]));
  return (m) => {
    const p = byId.get(podId(m));
    if (!p) throw new Error(`model pod ${podId(m)} is not deployed`);
    return p;
  };
}

/**
 * Probes `cells`, one exec per source pod, all sources at once; results in
 * `cells` order. A cell listed twice is probed twice, at the same time.
 */
export async function probeCells(
  agent: Agent,
  execFor: ExecFor,
  pods: readonly DeployedPod[],
  cells: readonly Cell[],
  timeoutSeconds: number,
): Promise<CellResult[]> {
  const deployed = deployedOf(pods);
  const results: CellResult[] = new Array(cells.length);
  const sources = MODEL_PODS.filter((from) => cells.some((c) => podId(c.from) === podId(from)));
  await Promise.all(
    sources.map(async (from) => {
      const mine = cells.flatMap((c, i) => (podId(c.from) === podId(from) ? [i] : []));
      const targets = mine.map((i) => ({
        protocol: PROTOCOL,
        host: deployed(cells[i].to).ip,
        port: cells[i].port,
      }));
      const got = await probe(agent, execFor(deployed(from)), targets, timeoutSeconds);
      mine.forEach((i, k) => (results[i] = { cell: cells[i], result: got[k] }));
    }),
  );
  return results;
}

/**
 * Probes the full matrix, the cells `expected` blocks twice at once, then
 * probes once more the cells blocked in their one probe. `pods` must hold
 * every model pod once. An exec that cannot run rejects with a TestError
 * (nothing was observed from that pod). With `expected`, a first round that
 * shows a cell connected which `expected` blocks (a policy not yet in
 * force) ends there (`early`): no second probe can make it equal.
 */
export async function probeMatrix(
  agent: Agent,
  execFor: ExecFor,
  pods: readonly DeployedPod[],
  timeoutSeconds: number,
  expected?: Reachability,
): Promise<Observation> {
  const started = Date.now();
  const twice = expected ? CELLS.filter((c) => !expected.get(c)) : [];
  const round = await probeCells(agent, execFor, pods, [...CELLS, ...twice], timeoutSeconds);
  const ms = Date.now() - started;
  const first = round.slice(0, CELLS.length);
  const copies = new Map(round.slice(CELLS.length).map((r) => [cellId(r.cell), r]));
  const early =
    expected !== undefined &&
    round.some((r) => cellVerdict(r.result) === 'connected' && !expected.get(r.cell));
  const blocked = early
    ? []
    : first.filter((r) => cellVerdict(r.result) === 'blocked' && !copies.has(cellId(r.cell)));
  const confirmStarted = Date.now();
  const second = blocked.length
    ? await probeCells(
        agent,
        execFor,
        pods,
        blocked.map((r) => r.cell),
        timeoutSeconds,
      )
    : [];
  const confirmMs = blocked.length ? Date.now() - confirmStarted : 0;
  // A cell's second probe (its copy in the round, or the second round's)
  // counts only where its first was blocked, as a second round would have
  // been taken only then.
  const secondProbe = new Map([...copies, ...second.map((r) => [cellId(r.cell), r] as const)]);
  const results = first.map((r) =>
    cellVerdict(r.result) === 'blocked' ? (secondProbe.get(cellId(r.cell)) ?? r) : r,
  );
  const confirming = results.filter((r, i) => r !== first[i]);
  const final = new Map(results.map((r) => [cellId(r.cell), r.result]));
  return {
    reachability: Reachability.from((c) => cellVerdict(final.get(cellId(c))!) === 'connected'),
    results,
    errors: results.filter((r) => cellVerdict(r.result) === 'error'),
    unconfirmed: confirming.filter((r) => cellVerdict(r.result) === 'connected'),
    twice: twice.length,
    reprobed: blocked.length,
    early,
    ms,
    confirmMs,
  };
}

/** Between two probes of `untilBlocked`: a connected cell answers in a few hundred milliseconds. */
const GATE_INTERVAL_MS = 200;

/** What `untilBlocked` saw: whether the cells stopped connecting, and after how many probes. */
export interface PolicyGate {
  blocked: boolean;
  probes: number;
}

/**
 * Probes `cells` (cells of one source pod, so one command) again and again
 * with a short timeout until none of them connects, or `timeoutMs` passes.
 * It judges nothing: it only tells when a policy just created seems to be in
 * force, so that the full rounds (162 associations, 2.5–4 s each on the
 * loaded 2-core machine) do not start before it and end early. A probe that
 * cannot run ends the wait; the full rounds meet the same problem and say so.
 */
export async function untilBlocked(
  agent: Agent,
  execFor: ExecFor,
  pods: readonly DeployedPod[],
  cells: readonly Cell[],
  probeTimeoutSeconds: number,
  timeoutMs: number,
): Promise<PolicyGate> {
  const started = Date.now();
  let probes = 0;
  for (;;) {
    let results: CellResult[];
    try {
      results = await probeCells(agent, execFor, pods, cells, probeTimeoutSeconds);
    } catch {
      return { blocked: false, probes };
    }
    probes++;
    const verdicts = results.map((r) => cellVerdict(r.result));
    const blocked = verdicts.every((v) => v === 'blocked');
    if (blocked || verdicts.includes('error') || Date.now() - started >= timeoutMs)
      return { blocked, probes };
    await sleep(GATE_INTERVAL_MS);
  }
}

const KIND_MARK: Record<ProbeResultKind, string> = { connected: '.', timeout: 'T', refused: 'R', error: 'E' };

/** The observed matrix by probe result, so a reader can tell a timeout from an error. */
export function renderResults(title: string, results: readonly CellResult[]): string {
  const byCell = new Map(results.map((r) => [cellId(r.cell), r.result.result]));
  return renderGrid(
    title,
    (c) => KIND_MARK[byCell.get(cellId(c)) ?? 'error'],
    '. connected   T timeout   R refused (T and R: blocked in two probes)   E error (no verdict: the test is an error)',
  );
}

/** One line per cell: the cell, the address dialled, the result and the agent's output. */
export const describeResults = describeCellResults;
