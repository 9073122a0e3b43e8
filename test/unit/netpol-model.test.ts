import { expect } from 'chai';
import {
  CELLS,
  MODEL_PODS,
  Reachability,
  cellId,
  describeDifference,
  matches,
  podId,
  renderComparison,
  renderReachability,
  type Cell,
} from '../../helpers/netpol/model.ts';
import { describeResults, renderResults, type CellResult } from '../../helpers/netpol/probe.ts';

const cell = (from: string, to: string, port: 80 | 81): Cell => {
  const [fns, fpod] = from.split('/') as [Cell['from']['ns'], Cell['from']['pod']];
  const [tns, tpod] = to.split('/') as [Cell['to']['ns'], Cell['to']['pod']];
  return { from: { ns: fns, pod: fpod }, to: { ns: tns, pod: tpod }, port };
};

const blockedIds = (r: Reachability) =>
  CELLS.filter((c) => !r.get(c))
    .map(cellId)
    .sort();

describe('netpol model: the x/y/z × a/b/c SCTP truth table', () => {
  it('has 9 pods and 162 cells (9 × 9 × ports 80 and 81)', () => {
    expect(MODEL_PODS.map(podId)).to.deep.equal([
      'x/a',
      'x/b',
      'x/c',
      'y/a',
      'y/b',
      'y/c',
      'z/a',
      'z/b',
      'z/c',
    ]);
    expect(CELLS).to.have.length(162);
    expect(new Set(CELLS.map(cellId)).size).to.equal(162);
  });

  it('matches peers with left-out fields as wildcards', () => {
    expect(matches({}, { ns: 'y', pod: 'c' })).to.equal(true);
    expect(matches({ ns: 'y' }, { ns: 'y', pod: 'c' })).to.equal(true);
    expect(matches({ ns: 'y' }, { ns: 'x', pod: 'c' })).to.equal(false);
    expect(matches({ ns: 'y', pod: 'b' }, { ns: 'y', pod: 'c' })).to.equal(false);
  });

  it('allowAll and denyAll fill every cell', () => {
    expect(Reachability.allowAll().counts()).to.deep.equal({ connected: 162, blocked: 0 });
    expect(Reachability.denyAll().counts()).to.deep.equal({ connected: 0, blocked: 162 });
  });

  it('denyTo a namespace blocks its 3 pods from all 9 sources on both ports, loopback aside', () => {
    const r = Reachability.allowAll().denyTo({ ns: 'x' }).allowLoopback();
    expect(r.counts().blocked).to.equal(9 * 3 * 2 - 3 * 2);
    expect(r.get(cell('y/b', 'x/a', 80))).to.equal(false);
    expect(r.get(cell('x/b', 'x/a', 81))).to.equal(false);
    expect(r.get(cell('x/a', 'x/a', 81)), 'loopback').to.equal(true);
    expect(r.get(cell('x/a', 'y/a', 80)), 'egress untouched').to.equal(true);
  });

  it('denyTo with ports blocks only those ports', () => {
    const r = Reachability.allowAll().denyTo({ ns: 'x' }, [81]).allowLoopback();
    expect(r.get(cell('y/a', 'x/c', 80))).to.equal(true);
    expect(r.get(cell('y/a', 'x/c', 81))).to.equal(false);
    expect(r.counts().blocked).to.equal(9 * 3 - 3);
  });

  it('allowFrom a pod and namespace peer opens exactly those cells', () => {
    const r = Reachability.allowAll()
      .denyTo({ ns: 'x', pod: 'a' })
      .allowFrom({ ns: 'y', pod: 'b' }, { ns: 'x', pod: 'a' })
      .allowLoopback();
    const connectedToXa = CELLS.filter((c) => podId(c.to) === 'x/a' && r.get(c)).map(cellId);
    expect(connectedToXa).to.deep.equal(['x/a → x/a :80', 'y/b → x/a :80', 'x/a → x/a :81', 'y/b → x/a :81']);
    expect(r.get(cell('x/b', 'x/a', 80)), 'pod b in x is not in ns y').to.equal(false);
    expect(r.get(cell('y/a', 'x/a', 80)), 'pod a in y is not pod b').to.equal(false);
  });

  it('denyFrom then allowFrom models an egress allow to one namespace on one port', () => {
    const r = Reachability.allowAll()
      .denyFrom({ ns: 'x', pod: 'a' })
      .allowFrom({ ns: 'x', pod: 'a' }, { ns: 'z' }, [81])
      .allowLoopback();
    expect(blockedIds(r)).to.have.length(9 * 2 - 3 - 2);
    expect(r.get(cell('x/a', 'z/b', 81))).to.equal(true);
    expect(r.get(cell('x/a', 'z/b', 80))).to.equal(false);
    expect(r.get(cell('x/a', 'y/b', 81))).to.equal(false);
    expect(r.get(cell('y/b', 'x/a', 80)), 'ingress to x/a untouched').to.equal(true);
  });

  it('lists differences by cell, naming the expected and observed verdicts', () => {
    const expected = Reachability.allowAll().denyTo({ ns: 'x' }, [81]).allowLoopback();
    const observed = Reachability.allowAll();
    const diffs = expected.differences(observed);
    expect(diffs).to.have.length(9 * 3 - 3);
    expect(diffs.map(describeDifference)).to.include('x/b → x/a :81 expected blocked, observed connected');
    expect(expected.equals(observed)).to.equal(false);
    expect(expected.equals(Reachability.from((c) => expected.get(c)))).to.equal(true);
    const reverse = observed.differences(expected).map(describeDifference);
    expect(reverse).to.include('x/b → x/a :81 expected connected, observed blocked');
  });

  it('renders one grid per port, rows from and columns to', () => {
    const text = renderReachability('Expected', Reachability.allowAll().denyTo({ ns: 'y', pod: 'c' }, [80]));
    const lines = text.split('\n');
    expect(lines[0]).to.equal('Expected (rows: from, columns: to)');
    expect(text).to.include(
      [
        'SCTP/80 x/a x/b x/c y/a y/b y/c z/a z/b z/c',
        'x/a      .   .   .   .   .   X   .   .   .',
        'x/b      .   .   .   .   .   X   .   .   .',
      ].join('\n'),
    );
    expect(text).to.include(
      ['SCTP/81 x/a x/b x/c y/a y/b y/c z/a z/b z/c', 'x/a      .   .   .   .   .   .   .   .   .'].join(
        '\n',
      ),
    );
    expect(lines.at(-1)).to.equal('. connected   X blocked');
    // Each grid: header + 9 rows, and every row as wide as the marks need.
    const rows = lines.filter((l) => /^[xyz]\/[abc] /.test(l));
    expect(rows).to.have.length(18);
    for (const row of rows) expect(row.length).to.equal(rows[0].length);
  });

  it('marks differing cells with ! and lists them under a legend', () => {
    const expected = Reachability.allowAll().denyTo({ ns: 'x', pod: 'a' }, [81]).allowLoopback();
    const observed = Reachability.allowAll().denyTo({ ns: 'x', pod: 'a' }, [81]).allowLoopback();
    observed.allowFrom({ ns: 'x', pod: 'b' }, { ns: 'x', pod: 'a' }, [81]);
    observed.denyTo({ ns: 'z', pod: 'c' }, [80]).allowLoopback();
    const text = renderComparison(expected, observed);
    const port81 = text.slice(text.indexOf('SCTP/81'));
    expect(port81.split('\n')[2]).to.equal('x/b      !   .   .   .   .   .   .   .   .');
    expect(port81.split('\n')[3]).to.equal('x/c      X   .   .   .   .   .   .   .   .');
    expect(text).to.include('! differs from expected');
    expect(text).to.include('9 of 162 cells differ:');
    expect(text).to.include('x/b → x/a :81 expected blocked, observed connected');
    expect(text).to.include('x/a → z/c :80 expected connected, observed blocked');
    expect(text).not.to.include('z/c → z/c :80');
    expect(renderComparison(expected, expected)).to.match(/all 162 cells as expected$/);
  });

  it('renders probe results by kind, and their raw lines', () => {
    const results: CellResult[] = CELLS.map((c) => ({
      cell: c,
      result: {
        protocol: 'SCTP',
        host: '198.19.0.9',
        port: c.port,
        result: podId(c.to) === 'x/a' ? (podId(c.from) === 'y/a' ? 'error' : 'timeout') : 'connected',
        raw: '{"result":"timeout"}\nsecond line',
      },
    }));
    const text = renderResults('Observed', results);
    expect(text).to.include('y/a      E   .   .');
    expect(text).to.include('y/b      T   .   .');
    expect(text).to.include('T timeout');
    const raw = describeResults(results.slice(0, 1));
    expect(raw).to.equal('x/a → x/a :80  SCTP 198.19.0.9:80  timeout  {"result":"timeout"} | second line');
  });
});
