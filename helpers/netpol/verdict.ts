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
 * associations at once, each from its own process in one of 9 concurrent
 * execs: on the 2-core local cluster the run queue reaches 60 to 150 and the
 * probing stacks' threads wait seconds for a CPU (the agents' raw output
 * then says "association up but 0 of 1 replies": nothing was dropped, the
 * answer came too late; no firewall drop counted). Measured on the local
 * cluster with no policy, 27 fresh pods, 2430 first-round cells: 2 s → 110
 * timed out (4.5 %; loopback cells that never leave their pod among them,
 * so no rule or conntrack entry was involved); 4 s → 1 (0.04 %), which the
 * second round, on a lightly loaded node, then finds connected.
 */
export const LOADED_NODE_MS = 2000;

/**
 * Seconds per cell: long enough that a lost INIT is sent again and answered
 * (the first retransmission comes after the probing stack's RTO.Initial; one
 * more second for that INIT's handshake and the message's reply) on a node
 * loaded by the matrix itself (LOADED_NODE_MS). usrsctp agent: RTO.Initial
 * 0.5 s → 4 s; kernel SCTP (agnhost): 3 s → 6 s.
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
