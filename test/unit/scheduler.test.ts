/**
 * The scheduler behind --parallel: jobs start in order up to the limit,
 * a group's jobs never overlap, a failure stays with its job, and nothing
 * new starts once the run is stopped. Jobs here are promises the test
 * settles itself, so what ran when is exact, not timed.
 */
import { expect } from 'chai';
import { TestScheduler, type Job } from '../../helpers/framework/scheduler.ts';

interface Gate {
  id: object;
  name: string;
  group?: string;
  open: () => void;
  fail: (e: Error) => void;
}

/** Jobs that record their start and end only when the test lets them go. */
function jobs(
  specs: Array<{ name: string; group?: string; long?: boolean }>,
  log: string[],
): { gates: Gate[]; list: Job<string>[] } {
  const gates: Gate[] = [];
  const list = specs.map((s) => {
    const id = {};
    let open!: () => void;
    let fail!: (e: Error) => void;
    const done = new Promise<void>((resolve, reject) => {
      open = resolve;
      fail = reject;
    });
    gates.push({ id, name: s.name, group: s.group, open: () => open(), fail: (e) => fail(e) });
    return {
      id,
      group: s.group,
      long: s.long,
      run: async () => {
        log.push(`start ${s.name}`);
        await done;
        log.push(`end ${s.name}`);
        return s.name;
      },
    };
  });
  return { gates, list };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('test scheduler (--parallel)', () => {
  it('starts jobs in order up to the limit, and the next one when a slot frees', async () => {
    const log: string[] = [];
    const { gates, list } = jobs([{ name: 'a' }, { name: 'b' }, { name: 'c' }], log);
    const s = new TestScheduler(list, 2);
    const a = s.result(gates[0].id);
    await tick();
    expect(log).to.deep.equal(['start a', 'start b']);
    gates[1].open();
    await tick();
    expect(log).to.deep.equal(['start a', 'start b', 'end b', 'start c']);
    gates[0].open();
    gates[2].open();
    expect(await a).to.equal('a');
    expect(await s.result(gates[1].id)).to.equal('b');
    expect(await s.result(gates[2].id)).to.equal('c');
  });

  it('with a limit of 1 runs one job at a time, as mocha alone would', async () => {
    const log: string[] = [];
    const { gates, list } = jobs([{ name: 'a' }, { name: 'b' }], log);
    const s = new TestScheduler(list, 1);
    void s.result(gates[0].id);
    await tick();
    expect(log).to.deep.equal(['start a']);
    gates[0].open();
    await tick();
    await tick();
    expect(log).to.deep.equal(['start a', 'end a', 'start b']);
    gates[1].open();
    expect(await s.result(gates[1].id)).to.equal('b');
  });

  it('never overlaps two jobs of one group, and starts them in their order', async () => {
    const log: string[] = [];
    const { gates, list } = jobs(
      [{ name: 't1', group: 'model' }, { name: 't2', group: 'model' }, { name: 'p1' }, { name: 'p2' }],
      log,
    );
    const s = new TestScheduler(list, 3);
    void s.result(gates[0].id);
    await tick();
    // t2 waits for t1; the slots go to the jobs after it.
    expect(log).to.deep.equal(['start t1', 'start p1', 'start p2']);
    gates[2].open();
    await tick();
    await tick();
    expect(log).to.not.include('start t2');
    gates[0].open();
    await tick();
    await tick();
    expect(log.slice(-2)).to.deep.equal(['end t1', 'start t2']);
    gates[1].open();
    gates[3].open();
    expect(await s.result(gates[1].id)).to.equal('t2');
  });

  it('starts long jobs before the others, in their order, and the long jobs of a group still one at a time', async () => {
    const log: string[] = [];
    const { gates, list } = jobs(
      [
        { name: 'a' },
        { name: 'b' },
        { name: 't1', group: 'model', long: true },
        { name: 't2', group: 'model', long: true },
        { name: 'slow', long: true },
      ],
      log,
    );
    const s = new TestScheduler(list, 3);
    void s.result(gates[0].id);
    await tick();
    // Mocha asked for a, but the long jobs go first; t2 waits for t1.
    expect(log).to.deep.equal(['start t1', 'start slow', 'start a']);
    gates[2].open();
    await tick();
    await tick();
    // t1's slot goes to t2, long, before b.
    expect(log.slice(-2)).to.deep.equal(['end t1', 'start t2']);
    for (const g of gates) g.open();
    expect(await s.result(gates[1].id)).to.equal('b');
    expect(log).to.include('start b');
  });

  it('keeps a failure with its job: the others still give their results', async () => {
    const log: string[] = [];
    const { gates, list } = jobs([{ name: 'a' }, { name: 'b' }], log);
    const s = new TestScheduler(list, 2);
    const a = s.result(gates[0].id);
    await tick();
    gates[1].fail(new Error('b broke'));
    gates[0].open();
    expect(await a).to.equal('a');
    let thrown: unknown;
    try {
      await s.result(gates[1].id);
    } catch (e) {
      thrown = e;
    }
    expect((thrown as Error).message).to.equal('b broke');
  });

  it('starts nothing ahead once stopped, but still the job mocha waits for', async () => {
    const log: string[] = [];
    let stopped = false;
    const { gates, list } = jobs([{ name: 'a' }, { name: 'b' }, { name: 'c' }], log);
    const s = new TestScheduler(list, 1, () => stopped);
    void s.result(gates[0].id);
    await tick();
    stopped = true;
    gates[0].open();
    await tick();
    await tick();
    expect(log).to.deep.equal(['start a', 'end a']);
    const b = s.result(gates[1].id);
    await tick();
    expect(log).to.deep.equal(['start a', 'end a', 'start b']);
    gates[1].open();
    expect(await b).to.equal('b');
    expect(log).to.not.include('start c');
  });
});
