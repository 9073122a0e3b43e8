import { expect } from 'chai';
import { Timeline } from '../../helpers/framework/timeline.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a test’s timeline', () => {
  it('sums each step over its runs, in the order first seen', async () => {
    const t = new Timeline();
    await t.time('pods Running', () => sleep(30));
    await t.time('probing', () => sleep(20));
    await t.time('pods Running', () => sleep(30));
    const steps = t.steps();
    expect(steps.map((s) => s.step)).to.deep.equal(['pods Running', 'probing']);
    expect(steps[0].ms).to.be.within(55, 200);
    expect(steps[1].ms).to.be.within(15, 150);
    expect(t.total()).to.be.within(75, 350);
  });

  it('counts a step inside another only in the outer one', async () => {
    const t = new Timeline();
    await t.time('truth-table model', async () => {
      await sleep(10);
      await t.time('pods Running', () => sleep(20));
    });
    expect(t.steps().map((s) => s.step)).to.deep.equal(['truth-table model']);
  });

  it('counts steps side by side each whole, and a step that throws', async () => {
    const t = new Timeline();
    await Promise.all([t.time('a', () => sleep(30)), t.time('b', () => sleep(30))]);
    const failed = await t
      .time('c', () => sleep(10).then(() => Promise.reject(new Error('no'))))
      .catch((e) => e);
    expect(failed).to.be.instanceOf(Error);
    const byStep = Object.fromEntries(t.steps().map((s) => [s.step, s.ms]));
    expect(byStep.a).to.be.at.least(25);
    expect(byStep.b).to.be.at.least(25);
    expect(byStep.c).to.be.at.least(5);
  });
});
