/**
 * The three verdicts a run can end in are kept apart on purpose:
 *  - a failed test: the cluster is wrong (exit 1);
 *  - a skipped test: the cluster cannot be judged on that point (with the reason);
 *  - a SuiteError: the suite or its configuration is wrong, or the cluster
 *    cannot be reached at all (exit 2, one line, no stack trace).
 */
export class SuiteError extends Error {
  /** What the user can do about it, appended to the one line printed. */
  readonly fix: string;

  constructor(problem: string, fix: string) {
    super(problem);
    this.name = 'SuiteError';
    this.fix = fix;
  }

  oneLine(): string {
    return `sctp-e2e: ${this.message}${this.fix ? ` — ${this.fix}` : ''}`;
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * Thrown by a test body when the suite could not judge the cluster on this
 * test: the agent printed garbage, an exec was refused, no probe result was
 * observed. The test's verdict is `error` (never `passed`, never `blocked`),
 * with the raw output kept as evidence.
 */
export class TestError extends Error {
  /** What was seen (the agent's raw output, the API's answer), kept as evidence. */
  readonly raw?: string;

  constructor(problem: string, raw?: string) {
    super(problem);
    this.name = 'TestError';
    this.raw = raw;
  }
}
