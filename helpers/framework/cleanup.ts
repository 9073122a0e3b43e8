/**
 * A stack of undo steps. Whoever creates something pushes how to remove it;
 * `run()` removes in reverse order and keeps going past failures, so one
 * stuck object does not leave the rest behind. The CLI runs the stack on
 * success, on failure and on Ctrl-C (see bin/sctp-e2e.ts).
 */
export type UndoStep = () => Promise<void>;

export class Cleanup {
  private readonly steps: Array<{ what: string; undo: UndoStep }> = [];

  push(what: string, undo: UndoStep): void {
    this.steps.push({ what, undo });
  }

  get size(): number {
    return this.steps.length;
  }

  /** Runs every step, newest first; returns the failures as text. */
  async run(): Promise<string[]> {
    const failures: string[] = [];
    while (this.steps.length > 0) {
      const { what, undo } = this.steps.pop()!;
      try {
        await undo();
      } catch (err) {
        failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return failures;
  }
}
