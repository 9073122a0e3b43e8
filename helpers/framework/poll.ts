/**
 * Waits are polls with a deadline whose failure message says what was awaited
 * and what was last seen; the suite has no bare sleeps.
 */
import { notice } from './notices.ts';

export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
  /**
   * After this long, print once what is awaited and what was last seen
   * (`--quiet` hides it): a wait of minutes must never look like a hang.
   */
  announceAfterMs?: number;
}

export class PollTimeout extends Error {}

/**
 * Thrown by a poll check when waiting longer cannot help (an image that
 * cannot be pulled): `poll` rethrows `reason` at once instead of waiting out
 * its deadline.
 */
export class StopWaiting extends Error {
  constructor(readonly reason: Error) {
    super(reason.message);
    this.name = 'StopWaiting';
  }
}

/**
 * Calls `check` until it returns a value other than undefined, and returns it.
 * `check` may throw to report the current state; the last such message (or
 * the last `describe(lastSeen)`) goes into the timeout error.
 */
export async function poll<T>(
  what: string,
  options: PollOptions,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const interval = options.intervalMs ?? 250;
  let lastSeen = 'nothing yet';
  let announced = options.announceAfterMs === undefined;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof StopWaiting) throw err.reason;
      lastSeen = err instanceof Error ? err.message : String(err);
    }
    if (!announced && Date.now() - started >= options.announceAfterMs!) {
      announced = true;
      notice(`waiting for ${what} (${lastSeen}, ${Math.round((Date.now() - started) / 1000)} s)…`);
    }
    if (Date.now() >= deadline) {
      throw new PollTimeout(
        `timed out after ${options.timeoutMs} ms waiting for ${what}; last seen: ${lastSeen}`,
      );
    }
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
  }
}

/** Thrown by a poll check to record what it saw while it keeps waiting. */
export class NotYet extends Error {}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
