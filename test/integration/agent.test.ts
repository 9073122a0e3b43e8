/**
 * The usrsctp agent's own integration test (images/agent/test.sh): two
 * network namespaces, real TCP, UDP and userspace-SCTP round trips, refusals,
 * timeouts, multi-stream, 64 KiB messages and SCTP through iptables DNAT.
 */
import { join } from 'node:path';
import { expect } from 'chai';
import { execa } from 'execa';
import { ROOT } from '../../helpers/framework/runner.ts';

describe('usrsctp agent (images/agent/test.sh)', function () {
  this.timeout(600_000);
  // On a fresh machine gcc and libusrsctp-dev come with the cluster's packages.
  before(() => execa('bash', [join(ROOT, 'cluster', 'install-deps.sh')], { stdio: 'inherit' }));
  it('passes every check between two network namespaces', async () => {
    const r = await execa('bash', [join(ROOT, 'images', 'agent', 'test.sh')], { reject: false, all: true });
    const summary = /^(\d+) passed, (\d+) failed$/m.exec(r.all ?? '');
    expect(summary, r.all).to.not.equal(null);
    expect(Number(summary![2]), r.all).to.equal(0);
    expect(Number(summary![1])).to.be.greaterThan(20);
    expect(r.exitCode, r.all).to.equal(0);
  });
});
