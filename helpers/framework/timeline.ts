import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Where a test's time went: named steps (its namespaces, its pods Running,
 * endpoints ready, probing, the module guard, cleanup…), each summed over
 * the times it ran, in the order first seen. A step inside another (the
 * truth-table model's pods inside "truth-table model") counts only in the
 * outer one; steps that run side by side are each counted whole.
 * bin/benchmark prints them per test: the levers of a faster run are chosen
 * from these, not guessed.
 */
export interface StepTime {
  step: string;
  ms: number;
}

export class Timeline {
  private readonly ms = new Map<string, number>();
  private readonly inside = new AsyncLocalStorage<string>();

  /** Runs `work`, adding its time to `step` whether it resolves or throws. */
  async time<T>(step: string, work: () => Promise<T>): Promise<T> {
    if (this.inside.getStore() !== undefined) return work();
    const started = performance.now();
    try {
      return await this.inside.run(step, work);
    } finally {
      this.add(step, performance.now() - started);
    }
  }

  private add(step: string, ms: number): void {
    this.ms.set(step, (this.ms.get(step) ?? 0) + ms);
  }

  /** The time of the steps recorded so far, all together. */
  total(): number {
    return [...this.ms.values()].reduce((a, b) => a + b, 0);
  }

  steps(): StepTime[] {
    return [...this.ms].map(([step, ms]) => ({ step, ms: Math.round(ms) }));
  }
}
