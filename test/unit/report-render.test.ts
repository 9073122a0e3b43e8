/**
 * JUnit and the allure status boxes render a test's outcome and nothing else:
 * each verdict has its element or status, the reason is where a person looks
 * first, and each piece of evidence appears once.
 */
import { expect } from 'chai';
import type { TestOutcome } from '../../helpers/framework/outcome.ts';
import { statusOf } from '../../helpers/report/allure-results.ts';
import { renderJunit } from '../../helpers/report/junit.ts';
import { STORY, TIER } from '../../helpers/framework/story.ts';

const base: TestOutcome = {
  fullTitle: '[sig-network] SCTP [Feature:SCTPConnectivity] paths t',
  title: 't',
  tier: TIER.connectivity,
  story: STORY.podPodService,
  verdict: 'passed',
  evidence: [{ name: 'probe output', text: 'SCTP 10.0.0.1:80 → timeout' }],
  durationMs: 1500,
};
const known: TestOutcome = {
  ...base,
  verdict: 'known',
  reason: 'kube-proxy clears stale conntrack only for UDP',
  failure: 'the first association did not complete: timeout',
  known: {
    test: 't',
    message: 'did not complete',
    reason: 'kube-proxy clears stale conntrack only for UDP',
    reference: 'k/k#115299',
  },
};
const error: TestOutcome = {
  ...base,
  verdict: 'error',
  reason: 'the agent printed garbage',
  failure: 'the agent printed garbage',
};
const failed: TestOutcome = {
  ...base,
  verdict: 'failed',
  reason: 'no reply within 3 s',
  failure: 'no reply within 3 s\nsecond line',
};

describe('outcome renderings', () => {
  it('allure: a known failure is skipped with "Known failure: <reason>" in the status box and the failure below', () => {
    expect(statusOf(known)).to.deep.equal({
      status: 'skipped',
      statusDetails: {
        message: 'Known failure: kube-proxy clears stale conntrack only for UDP (k/k#115299)',
        trace: 'the first association did not complete: timeout',
        known: true,
      },
    });
    expect(statusOf(error).status).to.equal('broken');
    expect(statusOf(error).statusDetails!.message).to.match(
      /^Error \(the suite could not judge\): the agent/,
    );
    expect(
      statusOf({ ...base, verdict: 'skipped', reason: 'no LoadBalancer provider' }).statusDetails!.message,
    ).to.equal('Skipped: no LoadBalancer provider');
    // The status box holds the failure, not the evidence: that is attached once.
    expect(statusOf(failed).statusDetails!.message).to.equal('no reply within 3 s\nsecond line');
  });

  it('JUnit: failure, error and skipped elements; the body holds the failure and each piece of evidence once', () => {
    const xml = renderJunit([base, failed, error, known]);
    expect(xml).to.match(/<testsuite name="sctp-e2e" tests="4" failures="1" errors="1" skipped="1"/);
    expect(xml).to.include(
      '<failure message="no reply within 3 s">no reply within 3 s\nsecond line\n--- probe output\nSCTP 10.0.0.1:80 → timeout</failure>',
    );
    expect(xml).to.include('<error message="the agent printed garbage">');
    expect(xml).to.include(
      '<skipped message="known failure: kube-proxy clears stale conntrack only for UDP (k/k#115299)"/>',
    );
    expect(xml.match(/--- probe output/g)).to.have.length(3); // failed, error, known: once each
  });
});
