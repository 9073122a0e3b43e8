/**
 * What a probe result means for a truth-table cell. Only an answer the SCTP
 * stack gave counts as blocked: a `timeout` (no INIT-ACK) or a `refused`
 * (ABORT). An `error` (exec refused, agent crash, output that is not the
 * agent's) is not an observation of the cluster at all, so it can neither
 * pass a deny check nor fail an allow check: the test becomes an error.
 */
import type { Agent, ProbeResult } from '../probing/agent.ts';
import { TestError } from '../framework/errors.ts';
import { cellId, type Cell } from './model.ts';

export type CellVerdict = 'connected' | 'blocked' | 'error';

export function cellVerdict(result: ProbeResult): CellVerdict {
  switch (result.result) {
    case 'connected':
      return 'connected';
    case 'timeout':
    case 'refused':
      return 'blocked';
    default:
      return 'error';
  }
}

/**
 * Seconds a loaded node needs to show that the agents are up, beyond which a
 * cell that has not connected is blocked. One matrix round starts 162
 * associations at once on the 2-core local cluster, where the probing
 * stacks' threads can wait for a CPU (the agents' raw output then says
 * "association up but 0 of 1 replies": nothing was dropped, the answer came
 * too late). When each round also made 9 execs (runc exec, each time), 2 s
 * left 110 of 2430 first-round cells timed out with no policy (27 fresh
 * pods) and 4 s one. With one exec session per model pod
 * (probing/pod-session.ts), measured with no policy on one node: the
 * suite's 9 pods, 0 of 3240 cells at a 1.5 s cell (fresh pods, first rounds
 * included) and 0 of 3240 at 1 s; three models at once (27 pods, three
 * times the suite's load), 6 and 52 of 7290 at 2 s
 * (`test/stress/probe-matrix.ts`). One second covers the suite's load with
 * room; a second probe still confirms every blocked cell (probe.ts).
 */
export const LOADED_NODE_MS = 1000;

/**
 * Seconds per cell: long enough that a lost INIT is sent again and answered
 * (the first retransmission comes after the probing stack's RTO.Initial; one
 * more second for that INIT's handshake and the message's reply) on a node
 * loaded by the matrix itself (LOADED_NODE_MS). usrsctp agent: RTO.Initial
 * 0.5 s → 3 s; kernel SCTP (agnhost): 3 s → 5 s.
 */
export function cellTimeoutSeconds(agent: Pick<Agent, 'initRetransmitMs'>): number {
  return Math.ceil((agent.initRetransmitMs + 1000 + LOADED_NODE_MS) / 1000);
}

/** "x/a → y/b :80  SCTP 10.0.0.5:80  error  <the agent's raw output>" per cell. */
export function describeCellResults(results: ReadonlyArray<{ cell: Cell; result: ProbeResult }>): string {
  return results
    .map(({ cell, result }) => {
      const raw = result.raw.replace(/\s*\n\s*/g, ' | ').trim();
      return `${cellId(cell)}  SCTP ${result.host}:${result.port}  ${result.result}  ${raw || '(no output)'}`;
    })
    .join('\n');
}

/**
 * Throws a TestError naming the cells whose probe gave no verdict, with the
 * agent's raw output of each; returns quietly when every cell has one.
 */
export function requireVerdicts(
  what: string,
  results: ReadonlyArray<{ cell: Cell; result: ProbeResult }>,
): void {
  const errors = results.filter((r) => cellVerdict(r.result) === 'error');
  if (errors.length === 0) return;
  const first = errors[0];
  throw new TestError(
    `${what}: ${errors.length} of ${results.length} cells could not be judged (the probe gave no ` +
      `SCTP answer, so they are neither connected nor blocked); first: ${cellId(first.cell)}: ` +
      `${
        first.result.raw
          .replace(/\s*\n\s*/g, ' | ')
          .trim()
          .slice(0, 300) || '(no output)'
      }`,
    describeCellResults(errors),
  );
}
