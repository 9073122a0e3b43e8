/**
 * The basic tier always runs before the connectivity tier: a kernel-SCTP
 * agent of the connectivity tier may load sctp.ko, and the basic tier's
 * module guard must find the nodes as the run found them.
 */
import { expect } from 'chai';
import { suiteFiles } from '../../helpers/framework/runner.ts';

describe('suite order', () => {
  it('loads every suites/sctp file before any suites/connectivity file', () => {
    const files = suiteFiles().map((f) => f.replace(/.*\/suites\//, ''));
    const lastBasic = Math.max(...files.map((f, i) => (f.startsWith('sctp/') ? i : -1)));
    const firstConn = files.findIndex((f) => f.startsWith('connectivity/'));
    expect(lastBasic, files.join(', ')).to.be.greaterThan(-1);
    expect(firstConn, files.join(', ')).to.be.greaterThan(lastBasic);
  });
});
