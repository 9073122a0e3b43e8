/**
 * Waits are polls with a deadline whose failure message says what was awaited
 * and what was last seen; the suite has no bare sleeps.
 */
export interface PollOptions {
  timeoutMs: number;
  intervalMs?: number;
}

export class PollTimeout extends Error {}

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
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 250;
  let lastSeen = 'nothing yet';
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastSeen = err instanceof Error ? err.message : String(err);
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
