/**
 * The path tests' verdict (expectReach): a pass needs an observed round trip
 * for every target; a target that timed out, was refused or reached the wrong
 * pod fails; no observation, an empty target list or only probes without a
 * verdict are errors of the test. The probers here answer with the
 * ProbeResult values the real agents' output parses into.
 */
import { expect } from 'chai';
import type { ProbeResult, ProbeResultKind, ProbeTarget } from '../../helpers/probing/agent.ts';
import type { Prober } from '../../helpers/probing/probers.ts';
import { TestError } from '../../helpers/framework/errors.ts';
import { expectReach, type ReachEnv } from '../../helpers/probing/expect-reach.ts';

const TARGETS: ProbeTarget[] = [
  { protocol: 'SCTP', host: '198.19.0.5', port: 80 },
  { protocol: 'SCTP', host: '198.19.128.9', port: 7777, streams: 8, size: 65536 },
];

function env(): ReachEnv & { shown: string[] } {
  const shown: string[] = [];
  return {
    ctx: { config: { probeTimeout: 3, ruleTimeout: 0.3 } },
    evidence: (name, text) => void shown.push(`${name}: ${text}`),
    time: (_step, work) => work(),
    shown,
  };
}

/** A prober answering every target with `kind` (and `answeredBy` when connected). */
const answering = (kind: (t: ProbeTarget) => ProbeResultKind, answeredBy = 'server'): Prober => ({
  probe: async (targets) =>
    targets.map((t): ProbeResult => ({
      ...t,
      result: kind(t),
      answeredBy: kind(t) === 'connected' ? answeredBy : undefined,
      raw: kind(t) === 'error' ? 'garbage from a broken agent' : `{"result":"${kind(t)}"}`,
    })),
});

async function verdictOf(p: Promise<unknown>): Promise<Error | 'passed'> {
  try {
    await p;
    return 'passed';
  } catch (err) {
    return err as Error;
  }
}

describe('expectReach: a path passes only on an observed round trip to every target', () => {
  it('passes when every target answers, and keeps what it saw as evidence', async () => {
    const t = env();
    const results = await expectReach(
      t,
      answering(() => 'connected'),
      'pod → Service',
      TARGETS,
      'server',
    );
    expect(results).to.have.length(2);
    expect(t.shown.join('\n')).to.include(
      'SCTP 198.19.128.9:7777 (8 streams, 64 KiB message): ok (answered by server)',
    );
  });

  it('an empty target list is an error of the test, not a pass', async () => {
    const v = await verdictOf(
      expectReach(
        env(),
        answering(() => 'connected'),
        'no targets',
        [],
      ),
    );
    expect(v).to.be.instanceOf(TestError);
    expect((v as Error).message).to.include('the target list is empty');
  });

  it('no probe result until the deadline (every attempt failed) is an error of the test, not a pass', async () => {
    let attempts = 0;
    const broken: Prober = {
      probe: async () => {
        attempts++;
        throw new Error('websocket closed before the exec started');
      },
    };
    const v = await verdictOf(expectReach(env(), broken, 'a probe that never gets a result', TARGETS));
    expect(attempts).to.be.greaterThan(0);
    expect(v).to.be.instanceOf(TestError);
    expect((v as Error).message).to.match(
      /no probe result observed within 0.3 s \(probed SCTP 198.19.0.5:80, .*last seen: websocket closed/,
    );
  });

  it('a probe that cannot run (exec refused) is an error of the test with its reason', async () => {
    const refused: Prober = {
      probe: async () => {
        throw new TestError('could not run the probe of SCTP 198.19.0.5:80: exec refused', 'HTTP 422');
      },
    };
    const v = await verdictOf(expectReach(env(), refused, 'exec refused', TARGETS));
    expect(v).to.be.instanceOf(TestError);
    expect((v as Error).message).to.include('last seen: could not run the probe');
  });

  it('a target that times out fails the test (the cluster is wrong), naming it in words', async () => {
    const v = await verdictOf(
      expectReach(
        env(),
        answering((t) => (t.port === 7777 ? 'timeout' : 'connected')),
        'pod → Service',
        TARGETS,
      ),
    );
    expect(v).to.be.instanceOf(Error).and.not.be.instanceOf(TestError);
    expect((v as Error).message).to.include('for 1 of 2 target(s)');
    expect((v as Error).message).to.include(
      'SCTP 198.19.128.9:7777 (8 streams, 64 KiB message): no reply within 3 s',
    );
  });

  it('tries short probes first (1 s, 2 s), then whole ones, and passes on the first round trip', async () => {
    const timeouts: Array<number | undefined> = [];
    let n = 0;
    const slowRules: Prober = {
      probe: async (targets, timeout) => {
        timeouts.push(timeout);
        const ok = ++n >= 4; // the Service's rules arrive after three attempts
        return targets.map((t): ProbeResult => ({
          ...t,
          result: ok ? 'connected' : 'timeout',
          raw: '{}',
        }));
      },
    };
    const t = { ...env(), ctx: { config: { probeTimeout: 3, ruleTimeout: 10 } } };
    expect(await verdictOf(expectReach(t, slowRules, 'pod → Service', TARGETS))).to.equal('passed');
    expect(timeouts).to.deep.equal([1, 2, 3, 3]);
  });

  it('fails only on a whole-length probe: a deadline before one brings one more', async () => {
    const timeouts: Array<number | undefined> = [];
    const never: Prober = {
      probe: async (targets, timeout) => {
        timeouts.push(timeout);
        return targets.map((t): ProbeResult => ({ ...t, result: 'timeout', raw: '{}' }));
      },
    };
    const v = await verdictOf(expectReach(env(), never, 'pod → Service', TARGETS));
    expect(timeouts[0]).to.equal(1);
    expect(timeouts[timeouts.length - 1]).to.equal(3);
    expect((v as Error).message).to.include('no reply within 3 s');
  });

  it('an answer from the wrong pod fails the test', async () => {
    const v = await verdictOf(
      expectReach(
        env(),
        answering(() => 'connected', 'server-old'),
        'to the new pod',
        TARGETS,
        'server-new',
      ),
    );
    expect(v).to.be.instanceOf(Error).and.not.be.instanceOf(TestError);
    expect((v as Error).message).to.include('answered by server-old, expected server-new');
  });

  it('only probes without a verdict (garbage) are an error of the test, never a failure or a pass', async () => {
    const v = await verdictOf(
      expectReach(
        env(),
        answering(() => 'error'),
        'garbage agent',
        TARGETS,
      ),
    );
    expect(v).to.be.instanceOf(TestError);
    expect((v as TestError).raw).to.include('garbage from a broken agent');
  });
});
