import { expect } from 'chai';
import { selects } from '../../helpers/framework/selection.ts';

const basic =
  '[sig-network] SCTP [Feature:SCTP] declaring SCTP Pods can declare SCTP containerPorts and hostPorts';
const conn = '[sig-network] SCTP [Feature:SCTPConnectivity] [Disruptive] pod to pod over SCTP';

describe('test selection (focus/skip over titles and tags)', () => {
  it('runs everything but [Disruptive] by default', () => {
    expect(selects(basic, { disruptive: false })).to.equal(true);
    expect(selects(conn, { disruptive: false })).to.equal(false);
    expect(selects(conn, { disruptive: true })).to.equal(true);
  });

  it('focuses on escaped tags the way upstream does', () => {
    expect(selects(basic, { focus: '\\[Feature:SCTP\\]', disruptive: true })).to.equal(true);
    expect(selects(conn, { focus: '\\[Feature:SCTP\\]', disruptive: true })).to.equal(false);
    expect(
      selects(conn, { focus: '\\[Feature:SCTPConnectivity\\]', disruptive: false }),
      'needs --disruptive',
    ).to.equal(false);
  });

  it('skips what --skip matches, after focus', () => {
    expect(selects(basic, { focus: 'SCTP', skip: 'hostPorts', disruptive: false })).to.equal(false);
    expect(selects(basic, { skip: 'NodePort', disruptive: false })).to.equal(true);
  });
});
