/**
 * The local cluster in its second shape (`cluster up --proxy-mode nftables
 * --netpol kube-network-policies`): kube-proxy switches mode and the
 * NetworkPolicy engine is replaced in place, leaving no rule of the old
 * ones; both tiers pass against it, the node rules
 * read live from `nft`, the policies enforced by the second engine (its
 * fault row shows they fail without it), and the KEP-614 matrix judges
 * "the nftables proxier works" instead of the KEP's iptables items. The
 * cluster goes back to the default shape after, and that switch leaves no
 * rule of the second shape behind.
 */
import { readFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../../helpers/framework/runner.ts';
import { allureResultFiles, attachmentTexts } from '../../helpers/report/allure-results.ts';
import {
  cluster,
  clusterUp,
  componentBinary,
  expectGreen,
  inNode,
  NETPOL_QUEUE_CHAIN,
  SECOND_SHAPE,
  sctpE2e,
} from './local-cluster.ts';

const tmp = tempDir('sctp-e2e-shape-');

/** What the node runs (kube-proxy's own word, the engine's binary) and which rules of each the node holds. */
async function dataplane(): Promise<Record<string, string | boolean>> {
  const rules = await inNode('iptables-save');
  return {
    proxyMode: (await inNode('curl -fsS --max-time 3 http://127.0.0.1:10249/proxyMode')).trim(),
    nftTable: (await inNode('nft list table ip kube-proxy >/dev/null 2>&1 && echo yes')).trim() === 'yes',
    iptablesServices: /^-A KUBE-SERVICES /m.test(rules),
    engine: componentBinary('netpol'),
    kubeRouterRules: /^:KUBE-ROUTER-/m.test(rules),
    queueHook: new RegExp(`^-A POSTROUTING -j ${NETPOL_QUEUE_CHAIN}$`, 'm').test(rules),
    // No pod declares a hostPort between runs: a hostPort DNAT rule of either
    // portmap backend is one a switch left behind (it catches the next pod's
    // hostPort first).
    hostPortRules: [
      ...rules.split('\n').filter((l) => /^-A CNI-DN-.* -j DNAT /.test(l)),
      ...(await inNode('nft list table ip cni_hostport 2>/dev/null || true'))
        .split('\n')
        .filter((l) => / dnat to /.test(l)),
    ].join('\n'),
  };
}

const DEFAULT = {
  proxyMode: 'iptables',
  nftTable: false,
  iptablesServices: true,
  engine: 'kube-router',
  kubeRouterRules: true,
  queueHook: false,
  hostPortRules: '',
};
const SECOND = {
  proxyMode: 'nftables',
  nftTable: true,
  iptablesServices: false,
  engine: 'kube-network-policies',
  kubeRouterRules: false,
  queueHook: true,
  hostPortRules: '',
};

/** Every allure attachment of a run whose name starts with `prefix`. */
function attachments(reportDir: string, prefix: string): { name: string; text: string }[] {
  const dir = join(reportDir, 'allure-results');
  return allureResultFiles(dir)
    .flatMap((f) => attachmentTexts(dir, JSON.parse(readFileSync(join(dir, f), 'utf8'))))
    .filter((a) => a.name.startsWith(prefix));
}

describe('the local cluster with kube-proxy in nftables mode and kube-network-policies', function () {
  this.timeout(900_000);
  before(() => clusterUp(SECOND_SHAPE));
  after(async () => {
    await clusterUp();
    // Back in the default shape: kube-proxy removed its nft table at start,
    // `up` the queue hook.
    expect(await dataplane()).to.deep.equal(DEFAULT);
  });

  it('switched in place: only the rules of the second shape, the shape in status', async () => {
    expect(await dataplane()).to.deep.equal(SECOND);
    const status = await cluster('status');
    expect(status.output).to.match(/^shape: NODES=1 PROXY_MODE=nftables NETPOL=kube-network-policies/m);
    const wrong = await cluster('up', '--proxy-mode', 'ipvs');
    expect(wrong.code).to.equal(2);
    expect(wrong.output.trim()).to.equal(
      "sctp-e2e cluster: --proxy-mode must be iptables or nftables, not 'ipvs' (this kernel has no IPVS)",
    );
  });

  // Both tiers, as on the default shape (suite.test.ts), with the local
  // cluster's known-failures profile.
  it('passes both tiers, node rules read from nft, policies enforced by kube-network-policies', async () => {
    const reportDir = join(tmp, 'second');
    const run = await sctpE2e([
      'run',
      '--disruptive',
      '--known',
      join(ROOT, 'fixtures', 'known', 'local-cluster.yaml'),
      '--report-dir',
      reportDir,
    ]);
    expectGreen(run);
    // 14 basic and 18 connectivity tests: "across nodes" skipped (one node) and the
    // stale-conntrack test a known failure, which the summary counts with the skips.
    expect(run.summary, 'both tiers').to.deep.equal({ passed: 30, failed: 0, skipped: 2 });
    expect([...run.verdicts].filter(([, v]) => v === 'KNOWN').map(([title]) => title)).to.satisfy(
      (titles: string[]) => titles.length === 1 && titles[0].includes('reusing its source port'),
    );
    // Every kube-proxy rule test read nft's ruleset: its evidence is kube-proxy's nft table,
    // leading to the endpoint the test wrote by hand (192.0.2.0/24: node-rules.test.ts).
    const rules = attachments(reportDir, 'nftables rules on sctp-e2e-node1');
    expect(rules.length, 'nft rule evidence').to.be.greaterThanOrEqual(3);
    for (const r of rules) expect(r.text, r.name).to.match(/^ip kube-proxy .* dnat to 192\.0\.2\.\d+:8080$/m);
    // hostPorts too are nft's: portmap's nftables backend, its table read live.
    const hostPorts = attachments(reportDir, 'portmap nftables rules on sctp-e2e-node1');
    expect(hostPorts.length, 'portmap nft rule evidence').to.equal(1);
    expect(hostPorts[0].text).to.match(
      /^ip cni_hostport hostports: sctp dport \d+ dnat to 198\.19\.\d+\.\d+:\d+ /m,
    );
    expect(attachments(reportDir, 'iptables rules on'), 'no iptables rule evidence').to.deep.equal([]);
    expect(attachments(reportDir, 'portmap iptables'), 'no iptables rule evidence').to.deep.equal([]);
    const md = readFileSync(join(reportDir, 'summary.md'), 'utf8');
    // The preflight names what it found: kube-proxy's mode, the CNI plugins and the engine.
    expect(md).to.match(
      /^\| sctp-e2e-node1 \|( [^|]+ \|){4} nftables \| bridge host-local portmap \| kube-network-policies \|$/m,
    );
    expect(md).to.match(/\| Beyond the KEP \| the nftables proxier works \| passed \|/);
    expect(md).to.match(
      /\| GA criteria \| the iptables proxier works \| not covered \| needs a cluster whose kube-proxy runs in iptables mode \(this one: nftables\) \|/,
    );
    expect(md).to.match(/when using the iptables proxier \(rules on the node\) \| not covered \|/);
  });
});
