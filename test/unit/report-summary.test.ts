/**
 * summary.md from a run record (constructed) and from allure results alone
 * (captured from local-cluster runs: test/fixtures/report/allure-results).
 */
import { join } from 'node:path';
import { expect } from 'chai';
import { htmlAnchors, recordFromAllure } from '../../helpers/report/allure-results.ts';
import { renderSummary } from '../../helpers/report/summary.ts';
import { ROOT } from '../../helpers/framework/runner.ts';
import { fixtureRun, POLICY_FAILURE } from './report-fixture.ts';

const ALLURE_FIXTURE = join(ROOT, 'test', 'fixtures', 'report', 'allure-results');

/** The lines of one `## heading` section. */
function section(md: string, heading: string): string {
  const start = md.indexOf(`\n## ${heading}\n`);
  expect(start, `section "${heading}" in:\n${md}`).to.be.greaterThan(-1);
  const end = md.indexOf('\n## ', start + 4);
  return md.slice(start, end === -1 ? undefined : end);
}

describe('summary.md', () => {
  const md = renderSummary(fixtureRun());

  it('opens with the exit code, what it means and the counts, known failures apart', () => {
    expect(md).to.match(/^# sctp-e2e run 2611221200-abcd\n/);
    expect(md).to.include(
      '**Exit 1: a test failed: the cluster does not do what KEP-614 asks.** 2 passed, 2 failed, 2 skipped (1 known failure, counted as skipped; 1 listed as known but now passing).',
    );
    expect(md).to.include('- **selection**: focus `SCTP`, skip (none), [Disruptive] included');
    expect(md).to.include('- **known-failures profile**: fixtures/known/local-cluster.yaml');
  });

  it('maps every KEP-614 item to passed, failed, skipped with the reason, known, not selected or not covered', () => {
    const matrix = section(md, 'KEP-614 coverage');
    const row = (item: string) =>
      matrix.split('\n').find((l) => l.includes(`| ${item}`)) ?? `(no row for ${item})`;
    expect(row('Pods, Services, and NetworkPolicies can declare SCTP ports')).to.include(
      '| passed | 1 of 1 test passed',
    );
    expect(row('A NetworkPolicy matching an SCTP port')).to.include('| **FAILED** | failed: A NetworkPolicy');
    expect(row('pod→LoadBalancer')).to.include(
      '| skipped | 0 of 1 test passed; skipped: the cluster has no LoadBalancer provider',
    );
    expect(row('Stale SCTP conntrack')).to.include('| known failure | known failure:');
    expect(row('Service without selector')).to.include('| not selected | 1 test not selected');
    expect(row('DNS SRV records')).to.include('| not covered | no test covers it');
    expect(row('the iptables proxier works')).to.include('| not covered |');
    expect(row('the ipvs proxier works')).to.include(
      'needs a cluster whose kube-proxy runs in ipvs mode (this one: iptables)',
    );
    // The guard judges these two, not the tests' verdicts; this machine's kernel has no module to load.
    const notJudged =
      '| not judged | no node has a loadable sctp module: kernel without module support (3 tests read every node before and after)';
    expect(row('userspace SCTP stacks')).to.include(notJudged);
    expect(row('sctp.ko is not loaded')).to.include(notJudged);
  });

  it('shows the cluster facts of the preflight', () => {
    const facts = section(md, 'Cluster (preflight)');
    expect(facts).to.include('- **API server**: https://198.18.0.2:6443 (v1.34.4)');
    expect(facts).to.include(
      '| sctp-e2e-node1 | 6.18.44 | unavailable | no | no | iptables | bridge host-local portmap |',
    );
  });

  it('says whether the run left namespaces behind, and names them when it did', () => {
    const clean = renderSummary({ ...fixtureRun(), namespacesAtEnd: { left: [], waitedMs: 2300 } });
    expect(section(clean, 'Cluster (preflight)')).to.include(
      'Cleanup: no namespace of the run was left 2.3 s after the last test.',
    );
    expect(section(clean, 'What needs attention')).to.not.include('cleanup');
    const leaky = renderSummary({
      ...fixtureRun(),
      namespacesAtEnd: { left: ['sctp-e2e-x-conn-lb'], waitedMs: 60_000 },
    });
    expect(section(leaky, 'Cluster (preflight)')).to.include(
      '**Cleanup incomplete:** 1 namespace(s) of the run still listed 60.0 s after the last test: `sctp-e2e-x-conn-lb`.',
    );
    expect(section(leaky, 'What needs attention')).to.include(
      '- cleanup: 1 namespace(s) of the run left behind (remove with `sctp-e2e cleanup`)',
    );
    // --namespaces-no-wait: neither "no namespace was left" nor "incomplete".
    const unchecked = renderSummary({
      ...fixtureRun(),
      namespacesAtEnd: { left: [], waitedMs: 0, checked: false },
    });
    const facts = section(unchecked, 'Cluster (preflight)');
    expect(facts).to.include('Cleanup: not checked.');
    expect(facts).to.not.match(/no namespace of the run was left|Cleanup incomplete/);
  });

  it('lists what did not pass, one line each, before the coverage matrix', () => {
    const attention = section(md, 'What needs attention');
    expect(md.indexOf('## What needs attention')).to.be.lessThan(md.indexOf('## KEP-614 coverage'));
    expect(attention).to.include(
      `- **FAILED** [sig-network] SCTP [Feature:SCTP] NetworkPolicy A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic — ${POLICY_FAILURE}`,
    );
    expect(attention.split('\n').filter((l) => l.startsWith('- **FAILED** '))).to.have.length(2);
  });

  it('shows each failure with its message and every piece of evidence', () => {
    const failures = section(md, 'Failures and errors');
    expect(failures).to.include(
      '### FAILED: [sig-network] SCTP [Feature:SCTP] NetworkPolicy A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic',
    );
    expect(failures).to.include(`\`\`\`text\n${POLICY_FAILURE}\n\`\`\``);
    expect(failures).to.include(
      '#### after the policy\n\n```text\nTCP 198.19.0.44:80 → connected\nUDP 198.19.0.44:80 → connected\n```',
    );
    expect(failures).to.include('#### events in sctp-e2e-x-policy');
    // A fence inside the evidence cannot end the block early.
    expect(failures).to.include('````text\na line with ``` inside\n````');
  });

  it('lists known failures, known failures now passing and skips with their reasons', () => {
    expect(section(md, 'Known failures')).to.include(
      'Known: kube-proxy clears stale conntrack entries only for UDP Services (kubernetes/kubernetes#115299); the failure matched /^the first association from the reused source port did not complete/\n',
    );
    expect(section(md, 'Known failures now passing')).to.include(
      '- [sig-network] SCTP [Feature:SCTPConnectivity] [Disruptive] paths pod to pod over SCTP by pod IP on the same node — listed as: flaky on kind (example#1)',
    );
    expect(section(md, 'Skipped')).to.include('| the cluster has no LoadBalancer provider |');
  });

  it('puts expected and observed truth tables side by side and marks the differing cells', () => {
    const tables = section(md, 'NetworkPolicy truth tables');
    expect(tables).to.include('### **FAILED**: should allow ingress to x/b only on SCTP port 80');
    expect(tables).to.match(/Expected \(rows: from, columns: to\) +Observed \(rows: from, columns: to\)/);
    expect(tables).to.match(/x\/a +\. +X +\. .* +x\/a +\. +\. +\./); // port 81 row: expected X, observed .
    expect(tables).to.include('x/a → x/b :81 expected blocked, observed connected');
    expect(tables).to.match(/x\/a +\. +! +\./);
  });

  it('ends with every test and its verdict', () => {
    const all = section(md, 'All tests');
    const rows = all.split('\n').filter((l) => l.startsWith('| ') && !/^\| (verdict|---) /.test(l));
    expect(rows).to.have.length(6);
    expect(all).to.include('| passed (listed as known) |');
  });
});

describe('summary.md from allure results alone (no run.json)', () => {
  const record = recordFromAllure(ALLURE_FIXTURE);

  it('reads each test’s outcome back from its result (verdict, story, reasons, evidence), not from text', () => {
    const byTitle = new Map(record.tests.map((t) => [t.title, t]));
    const stale = [...byTitle.values()].find((t) => t.title.includes('reusing its source port'))!;
    expect(stale.verdict).to.equal('known');
    expect(stale.story).to.equal('Stale SCTP conntrack after an endpoint goes away (kubernetes#115299)');
    expect(stale.fullTitle).to.match(
      /^\[sig-network\] SCTP \[Feature:SCTPConnectivity\] \[Disruptive\] paths a Service/,
    );
    expect(stale.known?.reference).to.equal('kubernetes/kubernetes#115299');
    expect(stale.failure).to.match(/^the first association from the reused source port did not complete/);
    expect(stale.evidence.map((e) => e.name)).to.include('client (source port 40123 again) → Service');
    const skipped = byTitle.get('pod to pod over SCTP by pod IP across nodes')!;
    expect(skipped.verdict).to.equal('skipped');
    expect(skipped.reason).to.match(/^the cluster has 1 schedulable node/);
    const policy = [...byTitle.values()].find((t) => t.story === 'NetworkPolicy allow/deny for SCTP ports')!;
    expect(policy.verdict).to.equal('passed');
    expect(policy.evidence.map((e) => e.name)).to.include.members(['expected', 'observed', 'comparison']);
    expect(record.counts).to.deep.equal({
      passed: 2,
      failed: 0,
      skipped: 2,
      errors: 0,
      known: 1,
      knownNowPassing: 0,
    });
  });

  it('says what it does not know (selection, profile, cluster) and links tests into the HTML report', () => {
    const anchors = htmlAnchors(ALLURE_FIXTURE);
    const md = renderSummary(record, undefined, anchors);
    expect(section(md, 'Cluster (preflight)')).to.include('Not recorded:');
    expect(md).to.include('- **selection**: not recorded');
    expect(md).to.include('- **known-failures profile**: not recorded');
    expect(md).to.not.include('focus (all)');
    expect(section(md, 'Known failures')).to.match(/\[in the HTML report\]\(report\.html#\/[0-9a-f]{32}\)/);
    expect(section(md, 'NetworkPolicy truth tables')).to.include('all 162 cells as expected');
    expect(section(md, 'KEP-614 coverage')).to.match(/\| Stale SCTP conntrack .* \| known failure \|/);
    expect(section(md, 'KEP-614 coverage')).to.match(
      /\| DNS SRV records with _sctp \| not judged \| no test of it in these allure results/,
    );
    expect(md).to.not.include('| not covered |');
  });
});
