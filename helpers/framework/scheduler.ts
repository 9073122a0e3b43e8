/**
 * Runs a tier's tests up to `limit` at a time, ahead of mocha (--parallel).
 * Mocha still reports one test after the other, in declaration order: each
 * test's `it` awaits the outcome this scheduler started, often before mocha
 * got to it. Jobs start in declaration order as slots free up, long jobs
 * first (see Job.long); jobs of one group (the truth tables, which share one
 * model and whose policies would change each other's tables) never overlap
 * and start in their order.
 *
 * One scheduler serves one tier of one run: a connectivity test never runs
 * alongside a basic one, whose module guard must find the nodes as no SCTP
 * socket left them. After the run is stopped (a signal) no job starts that
 * mocha is not already waiting for.
 */
export interface Job<T> {
  /** Mocha's Test: what `result` is asked for. */
  id: object;
  /** Jobs of one group run one at a time. */
  group?: string;
  /**
   * Started before the jobs that are not long, whatever their order: a tier
   * ends with its last job, so a long job started last makes the short ones
   * run before it instead of beside it (the basic tier's policy test, started
   * last in its declaration order, ran 11.6 s alone after the other 13 had
   * ended at 10 s).
   */
  long?: boolean;
  run: () => Promise<T>;
}

interface Slot<T> {
  job: Job<T>;
  started: boolean;
  claimed: boolean;
  result: Promise<T>;
  settle: (outcome: { value: T } | { error: unknown }) => void;
}

export class TestScheduler<T> {
  private readonly slots: Slot<T>[];
  private running = 0;
  private readonly busyGroups = new Set<string>();

  constructor(
    jobs: readonly Job<T>[],
    private readonly limit: number,
    private readonly stopped: () => boolean = () => false,
  ) {
    // Long jobs first, each kind in declaration order: the order fill() starts them in.
    const ordered = [...jobs.filter((j) => j.long), ...jobs.filter((j) => !j.long)];
    this.slots = ordered.map((job) => {
      let settle!: Slot<T>['settle'];
      const result = new Promise<T>((resolve, reject) => {
        settle = (o) => ('value' in o ? resolve(o.value) : reject(o.error));
      });
      // A job run ahead may fail before mocha asks for it.
      result.catch(() => undefined);
      return { job, started: false, claimed: false, result, settle };
    });
  }

  /** The job's result: starts it (and others, up to the limit) if it has not started. */
  result(id: object): Promise<T> {
    const slot = this.slots.find((s) => s.job.id === id);
    if (!slot) throw new Error('the scheduler has no such test');
    slot.claimed = true;
    this.fill();
    return slot.result;
  }

  /** How many jobs run now. */
  get inFlight(): number {
    return this.running;
  }

  private fill(): void {
    for (const slot of this.slots) {
      if (this.running >= this.limit) return;
      if (slot.started) continue;
      if (slot.job.group !== undefined && this.busyGroups.has(slot.job.group)) continue;
      if (!slot.claimed && this.stopped()) continue;
      this.start(slot);
    }
  }

  private start(slot: Slot<T>): void {
    slot.started = true;
    this.running++;
    const group = slot.job.group;
    if (group !== undefined) this.busyGroups.add(group);
    const finish = (outcome: { value: T } | { error: unknown }) => {
      this.running--;
      if (group !== undefined) this.busyGroups.delete(group);
      slot.settle(outcome);
      this.fill();
    };
    // A job that throws synchronously is still a settled job.
    Promise.resolve()
      .then(() => slot.job.run())
      .then(
        (value) => finish({ value }),
        (error: unknown) => finish({ error }),
      );
  }
}
