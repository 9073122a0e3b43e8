/**
 * sctpIt's last step: one outcome from what the body did, what the module
 * guard saw and the known-failures entry (helpers/framework/steps/verdict.ts), and the
 * known-failures profile's checks (helpers/framework/known.ts).
 */
import { writeFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { TestError } from '../../helpers/framework/errors.ts';
import { checkKnownProfile, loadKnownFailures, type KnownFailure } from '../../helpers/framework/known.ts';
import type { GuardResult, NodeGuard } from '../../helpers/framework/outcome.ts';
import { ROOT } from '../../helpers/framework/runner.ts';
import {
  bodyResultOf,
  decideOutcome,
  SkipTest,
  type BodyResult,
} from '../../helpers/framework/steps/verdict.ts';
import { STORY, TIER } from '../../helpers/framework/story.ts';

const TITLE =
  "[sig-network] SCTP [Feature:SCTPConnectivity] paths a Service's endpoint replaced under a client reusing its source port";
const STALE =
  'the first association from the reused source port did not complete: timeout (a conntrack entry still sends it to the deleted pod?)';

const known: KnownFailure = {
  test: 'reusing its source port',
  message: '^the first association from the reused source port did not complete: ',
  pattern: /^the first association from the reused source port did not complete: /,
  reason: 'kube-proxy clears stale conntrack entries only for UDP Services',
  reference: 'kubernetes/kubernetes#115299',
};

const guardOf = (...nodes: Array<Partial<NodeGuard>>): GuardResult => ({
  nodes: nodes.map((n, i) => ({
    node: `n${i + 1}`,
    before: 'not-loaded',
    after: 'not-loaded',
    judgement: 'held',
    why: 'a loadable sctp.ko stayed unloaded',
    ...n,
  })),
});
const BROKEN = {
  after: 'loaded',
  judgement: 'broken',
  why: 'sctp.ko went from not-loaded to loaded',
} as const;

function decide(body: BodyResult, extra: { guard?: GuardResult; known?: KnownFailure } = {}) {
  return decideOutcome({
    fullTitle: TITLE,
    title: 'x',
    tier: TIER.connectivity,
    story: STORY.staleConntrack,
    body,
    evidence: [{ name: 'probe', text: 'timeout' }],
    durationMs: 1,
    ...extra,
  });
}

describe('a test outcome', () => {
  it('passes, skips with the reason, and fails with the failure kept', () => {
    expect(decide({ kind: 'passed' }).verdict).to.equal('passed');
    expect(decide({ kind: 'skipped', reason: 'no LB' })).to.include({ verdict: 'skipped', reason: 'no LB' });
    const failed = decide({ kind: 'failed', message: 'line one\nline two' });
    expect(failed).to.include({ verdict: 'failed', reason: 'line one', failure: 'line one\nline two' });
  });

  it('is error, never failed or blocked, when the body threw TestError; the raw output is evidence', () => {
    const body = bodyResultOf(new TestError('agent printed garbage', 'Segmentation fault'));
    const o = decide(body, { known });
    expect(o.verdict).to.equal('error');
    expect(o.evidence.map((e) => e.text)).to.include('Segmentation fault');
    expect(bodyResultOf(new SkipTest('why')).kind).to.equal('skipped');
  });

  it('fails on a broken guard whatever the body did, and the guard failure is never known', () => {
    for (const body of [
      { kind: 'passed' },
      { kind: 'skipped', reason: 'r' },
      { kind: 'failed', message: STALE },
    ] as BodyResult[]) {
      const o = decide(body, { guard: guardOf({}, BROKEN), known });
      expect(o.verdict, body.kind).to.equal('failed');
      expect(o.reason).to.equal('sctp.ko was loaded during this test on n2 (not-loaded → loaded)');
    }
  });

  it('is error when a node could not be read and the body otherwise passed, with the raw output', () => {
    const g = guardOf({
      judgement: 'not judged',
      why: 'unreadable after the test: exited 127',
      raw: 'nsenter: not found',
    });
    const o = decide({ kind: 'passed' }, { guard: g });
    expect(o.verdict).to.equal('error');
    expect(o.reason).to.match(/could not read the sctp module state: n1: unreadable after the test/);
    expect(o.evidence.map((e) => e.text)).to.include('nsenter: not found');
  });

  it('is known only when the entry’s message matches the failure; otherwise a plain failure saying so', () => {
    const k = decide({ kind: 'failed', message: STALE }, { known });
    expect(k).to.include({ verdict: 'known', reason: known.reason, failure: STALE });
    expect(k.known?.reference).to.equal('kubernetes/kubernetes#115299');
    const other = decide({ kind: 'failed', message: 'the Service has no endpoints after 30 s' }, { known });
    expect(other.verdict).to.equal('failed');
    expect(other.reason).to.match(/the known-failures entry "reusing its source port" did not match/);
  });

  it('marks a listed test that passes so the profile can be pruned', () => {
    expect(decide({ kind: 'passed' }, { known })).to.include({ verdict: 'passed', knownNowPasses: true });
  });
});

describe('known-failures profile', () => {
  const dir = tempDir('sctp-e2e-known-');
  const profile = (yaml: string) => {
    const p = join(dir, `${Math.random()}.yaml`);
    writeFileSync(p, yaml);
    return p;
  };

  it('the local cluster’s profile has a message regex that matches the real stale-conntrack failure', () => {
    const [entry] = loadKnownFailures(join(ROOT, 'fixtures', 'known', 'local-cluster.yaml'));
    // The text suites/connectivity/paths.test.ts fails with (chai appends its own words).
    expect(entry.pattern.test(`${STALE}: expected 'timeout' to equal 'connected'`)).to.equal(true);
    expect(entry.pattern.test('the Service has no endpoints')).to.equal(false);
  });

  it('needs a message regex on every entry (exit 2 with one line otherwise)', () => {
    expect(() => loadKnownFailures(profile('known:\n  - test: a\n    reason: b\n'))).to.throw(
      /needs "test", "message" and "reason"/,
    );
    expect(() =>
      loadKnownFailures(profile('known:\n  - test: a\n    reason: b\n    message: "("\n')),
    ).to.throw(/not a regex/);
  });

  it('an entry matching several selected tests names them; one matching none is unused', () => {
    const [k] = loadKnownFailures(profile('known:\n  - test: "pod to pod"\n    message: x\n    reason: r\n'));
    const titles = ['... pod to pod over SCTP on the same node', '... pod to pod over SCTP across nodes'];
    expect(() => checkKnownProfile(titles, [k])).to.throw(
      /matches 2 selected tests: "... pod to pod over SCTP on the same node", "... pod to pod over SCTP across nodes"/,
    );
    expect(checkKnownProfile(['something else'], [k])).to.deep.equal([k]);
    expect(checkKnownProfile([titles[0]], [k])).to.deep.equal([]);
  });
});
