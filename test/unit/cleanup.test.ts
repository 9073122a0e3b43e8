import { expect } from 'chai';
import { Cleanup } from '../../helpers/framework/cleanup.ts';

describe('cleanup stack', () => {
  it('undoes newest first and keeps going past failures', async () => {
    const order: string[] = [];
    const c = new Cleanup();
    c.push('first', async () => void order.push('first'));
    c.push('broken', async () => {
      throw new Error('stuck');
    });
    c.push('last', async () => void order.push('last'));
    const failures = await c.run();
    expect(order).to.deep.equal(['last', 'first']);
    expect(failures).to.deep.equal(['broken: stuck']);
    expect(c.size).to.equal(0);
    expect(await c.run()).to.deep.equal([]);
  });
});
