/**
 * Probe parsing and the truth table's verdict logic: only `timeout` and
 * `refused` are blocked, a blocked cell needs two probes, anything the agent
 * did not say in its own format is `error` and makes the test an error.
 * The executors here stand in for `kubectl exec` and answer with the agent's
 * real output format (images/agent/agent.c print_result).
 */
import * as k8s from '@kubernetes/client-node';
import { expect } from 'chai';
import { AgnhostAgent, UsrsctpAgent, type ProbeTarget } from '../../helpers/probing/agent.ts';
import type { ExecResult } from '../../helpers/access/node-access.ts';
import { TestError } from '../../helpers/framework/errors.ts';
import { loadBalancerRefusal } from '../../helpers/probing/lb-refusal.ts';
import { CELLS, MODEL_PODS, Reachability, cellId, podId, type Cell } from '../../helpers/netpol/model.ts';
import { probeMatrix, untilBlocked, type DeployedPod, type ExecFor } from '../../helpers/netpol/probe.ts';
import { cellTimeoutSeconds, cellVerdict, requireVerdicts } from '../../helpers/netpol/verdict.ts';

const usrsctp = new UsrsctpAgent('agent:test');
const sctp = (host: string, port = 80): ProbeTarget => ({ protocol: 'SCTP', host, port });

/** The agent's JSON line, as print_result writes it. */
const line = (host: string, port: number, result: string, reply = '', detail = '') =>
  JSON.stringify({ protocol: 'sctp', target: `${host}:${port}`, result, reply, ms: 3, detail });

const agentOutput = (answers: Array<[string, number]>) =>
  answers.flatMap(([l, code], i) => [`${i} ${l}`, `${i} exit=${code}`]).join('\n');

describe('usrsctp probe output: a verdict only from the agent’s own line and a matching exit status', () => {
  const targets = [sctp('10.0.0.1'), sctp('10.0.0.2'), sctp('10.0.0.3'), sctp('10.0.0.4')];

  it('reads connected, timeout and refused, and who answered', () => {
    const out = agentOutput([
      [line('10.0.0.1', 80, 'connected', 'server hello'), 0],
      [line('10.0.0.2', 80, 'timeout', '', 'no INIT-ACK (or COOKIE-ACK) within 2000 ms'), 1],
      [line('10.0.0.3', 80, 'refused', '', 'connect: ABORT received in answer to INIT'), 1],
      [line('10.0.0.4', 80, 'error', '', 'bind source port 40123: Address in use'), 1],
    ]);
    const r = usrsctp.parseProbes(targets, out);
    expect(r.map((p) => p.result)).to.deep.equal(['connected', 'timeout', 'refused', 'error']);
    expect(r[0].answeredBy).to.equal('server');
    expect(r[3].raw).to.include('Address in use');
  });

  it('garbage, a missing line, or a line that contradicts the exit status is error, never blocked', () => {
    const out = [
      '0 garbage: not the agent',
      '0 exit=0',
      `1 ${line('10.0.0.2', 80, 'timeout')}`,
      '1 exit=0', // says timeout but exited 0
      `2 ${JSON.stringify({ result: 'refused' })}`, // not the agent's line: no protocol/target
      '2 exit=1',
      // target 3: no output at all (the shell job died)
    ].join('\n');
    const r = usrsctp.parseProbes(targets, out);
    expect(r.map((p) => p.result)).to.deep.equal(['error', 'error', 'error', 'error']);
    expect(r.map((p) => cellVerdict(p))).to.deep.equal(['error', 'error', 'error', 'error']);
    expect(r[0].raw).to.equal('garbage: not the agent');
  });

  it('agnhost: exit 0 is connected, TIMEOUT and REFUSED are blocked, anything else is error', () => {
    const agnhost = new AgnhostAgent('agnhost:test');
    const out = [
      '0 exit=0',
      '1 TIMEOUT',
      '1 exit=1',
      '2 REFUSED',
      '2 exit=1',
      '3 OTHER: boom',
      '3 exit=1',
    ].join('\n');
    expect(agnhost.parseProbes(targets, out).map((p) => cellVerdict(p))).to.deep.equal([
      'connected',
      'blocked',
      'blocked',
      'error',
    ]);
  });
});

describe('cell timeout: covers the first INIT retransmission of the probing stack on a loaded node', () => {
  it('usrsctp (RTO.Initial 0.5 s) → 3 s; kernel SCTP via agnhost (3 s) → 5 s', () => {
    expect(cellTimeoutSeconds(usrsctp)).to.equal(3);
    expect(cellTimeoutSeconds(new AgnhostAgent('x'))).to.equal(5);
    for (const agent of [usrsctp, new AgnhostAgent('x')])
      expect(cellTimeoutSeconds(agent) * 1000).to.be.greaterThan(agent.initRetransmitMs);
  });
});

/** Nine pods at 10.0.0.1 … 10.0.0.9 (x/a … z/c). */
const PODS: DeployedPod[] = MODEL_PODS.map((p, i) => ({
  ...p,
  namespace: `ns-${p.ns}`,
  name: p.pod,
  container: 'agent',
  ip: `10.0.0.${i + 1}`,
}));
const byIp = new Map(PODS.map((p) => [p.ip, p]));

/**
 * An ExecFor whose pods answer each probe with `answer(cell, round)`: the
 * agent's output for every target of its `probe-each` command, parsed from the argv.
 */
function fakeCluster(answer: (cell: Cell, round: number) => 'connected' | 'timeout' | 'refused' | 'garbage') {
  const rounds = new Map<string, number>();
  const execFor: ExecFor =
    (from) =>
    async (argv): Promise<ExecResult> => {
      // `agent probe-each -- --protocol sctp --host H --port P ... -- ...`
      expect(argv.slice(0, 3)).to.deep.equal(['/bin/agent', 'probe-each', '--']);
      const jobs = argv.slice(3).join(' ').split(' -- ');
      const out = jobs.map((job, i) => {
        const host = /--host (\S+)/.exec(job)![1];
        const port = Number(/--port (\d+)/.exec(job)![1]) as 80 | 81;
        const to = byIp.get(host)!;
        const cell: Cell = { from: { ns: from.ns, pod: from.pod }, to: { ns: to.ns, pod: to.pod }, port };
        const round = (rounds.get(cellId(cell)) ?? 0) + 1;
        rounds.set(cellId(cell), round);
        const a = answer(cell, round);
        if (a === 'garbage') return `${i} Segmentation fault\n${i} exit=139`;
        return `${i} ${line(host, port, a, a === 'connected' ? `${to.pod} hi` : '')}\n${i} exit=${a === 'connected' ? 0 : 1}`;
      });
      return { stdout: out.join('\n'), stderr: '', code: 0 };
    };
  return { execFor, rounds };
}

const id = (from: string, to: string, port: number) => `${from} → ${to} :${port}`;

describe('probeMatrix: blocked means blocked in two probes; error is never blocked', () => {
  it('re-probes only the cells blocked in the first round; one that connects then counts connected', async () => {
    const flaky = id('y/a', 'z/c', 80);
    const denied = id('x/b', 'x/a', 81);
    const { execFor, rounds } = fakeCluster((c, round) => {
      if (cellId(c) === flaky) return round === 1 ? 'timeout' : 'connected';
      if (cellId(c) === denied) return 'refused';
      return 'connected';
    });
    const o = await probeMatrix(usrsctp, execFor, PODS, 2);
    const get = (cid: string) => o.reachability.get(CELLS.find((c) => cellId(c) === cid)!);
    expect(get(flaky), 'blocked once, connected on the second round').to.equal(true);
    expect(get(denied), 'refused twice').to.equal(false);
    expect(o.reachability.counts()).to.deep.equal({ connected: CELLS.length - 1, blocked: 1 });
    expect(o.reprobed).to.equal(2);
    expect(o.unconfirmed.map((r) => cellId(r.cell))).to.deep.equal([flaky]);
    expect(o.errors).to.deep.equal([]);
    // Every cell probed once, the two blocked ones twice.
    expect([...rounds.values()].filter((n) => n === 2)).to.have.length(2);
    expect(rounds.size).to.equal(CELLS.length);
  });

  it('with an expected table: a first round showing a cell connected that it blocks ends early, unconfirmed', async () => {
    const denied = id('x/b', 'x/a', 81);
    const late = id('y/c', 'x/a', 81); // the policy is not in force for it yet
    const expected = Reachability.allowAll().denyTo({ ns: 'x', pod: 'a' }, [81]).allowLoopback();
    const { execFor, rounds } = fakeCluster((c) => (cellId(c) === denied ? 'refused' : 'connected'));
    expect(expected.get(CELLS.find((c) => cellId(c) === late)!)).to.equal(false);
    const o = await probeMatrix(usrsctp, execFor, PODS, 2, expected);
    expect(o.early).to.equal(true);
    expect(o.reprobed, 'no second round: it cannot make the table equal').to.equal(0);
    for (const c of CELLS)
      expect(
        rounds.get(cellId(c)),
        `${cellId(c)}: twice only if the table blocks it, in the one round`,
      ).to.equal(expected.get(c) ? 1 : 2);
  });

  it('with an expected table, the cells it blocks are probed twice in one round and no second round follows', async () => {
    const expected = Reachability.allowAll().denyTo({ ns: 'x', pod: 'a' }, [81]).allowLoopback();
    const { execFor, rounds } = fakeCluster((c) => (expected.get(c) ? 'connected' : 'timeout'));
    const commands: number[] = [];
    const counting: ExecFor = (from) => async (argv) => {
      commands.push(argv.length);
      return execFor(from)(argv);
    };
    const o = await probeMatrix(usrsctp, counting, PODS, 2, expected);
    expect(o.early).to.equal(false);
    expect(o.twice).to.equal(expected.counts().blocked);
    expect(o.reprobed, 'no second round').to.equal(0);
    expect(o.confirmMs).to.equal(0);
    expect(commands, 'one command per source pod').to.have.length(MODEL_PODS.length);
    expect([...rounds.values()].filter((n) => n === 2)).to.have.length(expected.counts().blocked);
    expect(expected.equals(o.reachability)).to.equal(true);
  });

  it('a cell the table blocks whose two probes disagree counts connected, and it is the table’s to fail', async () => {
    const expected = Reachability.allowAll().denyTo({ ns: 'x', pod: 'a' }, [81]).allowLoopback();
    const leaky = id('y/c', 'x/a', 81);
    const { execFor } = fakeCluster((c, round) =>
      expected.get(c)
        ? 'connected'
        : cellId(c) === leaky && round === 1
          ? 'timeout'
          : cellId(c) === leaky
            ? 'connected'
            : 'refused',
    );
    const o = await probeMatrix(usrsctp, execFor, PODS, 2, expected);
    const leakyCell = CELLS.find((c) => cellId(c) === leaky)!;
    expect(o.reachability.get(leakyCell), 'connected in one probe of two').to.equal(true);
    expect(o.unconfirmed.map((r) => cellId(r.cell))).to.deep.equal([leaky]);
    expect(o.early, 'a connected copy shows the policy not (yet) in force').to.equal(true);
    expect(expected.equals(o.reachability)).to.equal(false);
  });

  it('with an expected table, a cell it allows that is blocked once gets a second round', async () => {
    const expected = Reachability.allowAll().denyTo({ ns: 'x', pod: 'a' }, [81]).allowLoopback();
    const flaky = id('z/b', 'y/a', 80);
    const { execFor, rounds } = fakeCluster((c, round) =>
      !expected.get(c) ? 'timeout' : cellId(c) === flaky && round === 1 ? 'timeout' : 'connected',
    );
    const o = await probeMatrix(usrsctp, execFor, PODS, 2, expected);
    expect(o.reprobed).to.equal(1);
    expect(rounds.get(flaky)).to.equal(2);
    expect(o.unconfirmed.map((r) => cellId(r.cell))).to.deep.equal([flaky]);
    expect(expected.equals(o.reachability)).to.equal(true);
  });

  it('no second round when nothing is blocked', async () => {
    const { execFor } = fakeCluster(() => 'connected');
    const o = await probeMatrix(usrsctp, execFor, PODS, 2);
    expect(o.reprobed).to.equal(0);
    expect(o.confirmMs).to.equal(0);
    expect(o.reachability.counts().blocked).to.equal(0);
  });

  it('a cell whose probe prints garbage is an error cell, not blocked, and requireVerdicts throws a TestError with the raw output', async () => {
    const broken = id('z/c', 'y/a', 80);
    const { execFor } = fakeCluster((c) => (cellId(c) === broken ? 'garbage' : 'connected'));
    const o = await probeMatrix(usrsctp, execFor, PODS, 2);
    expect(o.errors.map((r) => cellId(r.cell))).to.deep.equal([broken]);
    expect(o.reprobed, 'an error is not re-probed as if blocked').to.equal(0);
    let thrown: unknown;
    try {
      requireVerdicts('after the policy', o.results);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(TestError);
    expect((thrown as TestError).message).to.match(
      /1 of 162 cells could not be judged.*z\/c → y\/a :80.*Segmentation fault/,
    );
    expect((thrown as TestError).raw).to.include('Segmentation fault');
  });

  it('an exec the API refuses rejects the observation with a TestError (nothing observed from that pod)', async () => {
    const execFor: ExecFor = (from) => async () => {
      if (podId(from) === 'x/a') throw new Error('pods "a" is forbidden: exec refused by the fault harness');
      return { stdout: '', stderr: '', code: 0 };
    };
    let thrown: unknown;
    try {
      await probeMatrix(usrsctp, execFor, PODS, 2);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).to.be.instanceOf(TestError);
    expect((thrown as Error).message).to.match(
      /could not run the probe of SCTP 10\.0\.0\.1:80.*exec refused/,
    );
  });

  it('requireVerdicts is quiet when every cell has a verdict', () => {
    requireVerdicts('x', []);
  });
});

describe('untilBlocked: when a policy just created seems in force (it judges nothing)', () => {
  const cells = CELLS.filter((c) => podId(c.from) === 'x/b' && c.to.ns === 'x' && c.to.pod !== 'b');

  it('probes the cells until none connects, then says blocked', async () => {
    const { execFor, rounds } = fakeCluster((_c, round) => (round < 3 ? 'connected' : 'timeout'));
    const gate = await untilBlocked(usrsctp, execFor, PODS, cells, 1, 10_000);
    expect(gate).to.include({ blocked: true, probes: 3 });
    expect([...rounds.values()]).to.deep.equal(cells.map(() => 3));
  });

  it('a cell that still connects at the deadline: not blocked, and the full rounds decide', async () => {
    const { execFor } = fakeCluster(() => 'connected');
    const gate = await untilBlocked(usrsctp, execFor, PODS, cells, 1, 0);
    expect(gate).to.include({ blocked: false, probes: 1 });
  });

  it('garbage or an exec that cannot run ends the wait at once, not blocked', async () => {
    const garbage = fakeCluster(() => 'garbage');
    expect(await untilBlocked(usrsctp, garbage.execFor, PODS, cells, 1, 10_000)).to.include({
      blocked: false,
      probes: 1,
    });
    const refused: ExecFor = () => async () => {
      throw new Error('exec refused');
    };
    expect(await untilBlocked(usrsctp, refused, PODS, cells, 1, 10_000)).to.include({
      blocked: false,
      probes: 0,
    });
  });
});

describe('the LoadBalancer declaration test skips only on a refusal about LoadBalancer or SCTP', () => {
  const apiError = (code: number, message: string) =>
    new k8s.ApiException(code, 'refused', JSON.stringify({ kind: 'Status', message }), {});

  it('skips on a provider refusing SCTP load balancers or the LoadBalancer type', () => {
    expect(
      loadBalancerRefusal(
        apiError(422, 'Service "sctp-lb" is invalid: spec.ports[0].protocol: Unsupported value: "SCTP"'),
      ),
    ).to.match(/Unsupported value: "SCTP".*HTTP 422/);
    expect(
      loadBalancerRefusal(apiError(403, 'admission webhook denied: type LoadBalancer is not allowed')),
    ).to.match(/LoadBalancer is not allowed/);
  });

  it('fails on anything else: a server error, a refusal about something else, a network error', () => {
    expect(loadBalancerRefusal(apiError(500, 'etcdserver: request timed out'))).to.equal(undefined);
    expect(
      loadBalancerRefusal(apiError(422, 'Service "sctp-lb" is invalid: metadata.labels: Invalid value')),
      'the object name "sctp-lb" alone is not about SCTP',
    ).to.equal(undefined);
    expect(loadBalancerRefusal(apiError(404, 'namespaces "x" not found'))).to.equal(undefined);
    expect(loadBalancerRefusal(new Error('connect ECONNREFUSED 127.0.0.1:6443'))).to.equal(undefined);
  });
});
