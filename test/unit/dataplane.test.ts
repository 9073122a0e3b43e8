import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import {
  DETECT_PROXY_MODE_COMMAND,
  HOSTPORT_RULES_COMMAND,
  IPTABLES_SAVE_COMMAND,
  RULES_COMMANDS,
  detectProxyModeCommand,
  kubeProxyIptables,
  kubeProxyIpvs,
  kubeProxyNftables,
  parseIpvsadmSave,
  parseIptablesSave,
  parseNftJson,
  parseProxyMode,
  portmapIptables,
  portmapNftables,
  readHostPort,
  readRules,
  rulesCommand,
  traceNat,
  traceNft,
  unknownProxyModeReason,
  type L4Protocol,
  type RuleAnswer,
} from '../../helpers/dataplane/index.ts';
import { tokenize } from '../../helpers/dataplane/iptables.ts';
import { inCidr, parseIp } from '../../helpers/dataplane/types.ts';
import { CLUSTER_CIDR, NODE, podIp, SERVICES } from '../fixtures/dataplane-capture.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

// Captured live from the local cluster by test/fixtures/capture.ts, all of
// the same objects (test/fixtures/dataplane-capture.ts): the iptables shape's
// iptables-save (kube-proxy and portmap's iptables backend), the nftables
// shape's nft ruleset (kube-proxy's table and portmap's cni_hostport).
const IPTABLES = fixture('iptables-save.kube-proxy.txt');
const NFT = fixture('nft-ruleset.kube-proxy.json');
const IPVS = fixture('ipvsadm-save.kube-proxy.txt'); // constructed (no IPVS here), for the same objects

/** The nft capture without portmap's table: a node whose hostPorts are not on nftables. */
const NFT_WITHOUT_PORTMAP = (() => {
  const data = JSON.parse(NFT) as {
    nftables: Array<Record<string, { family?: string; table?: string; name?: string }>>;
  };
  data.nftables = data.nftables.filter((item) => {
    const [kind, body] = Object.entries(item)[0];
    return (kind === 'table' ? body.name : body.table) !== 'cni_hostport';
  });
  return JSON.stringify(data);
})();

const { clusterIp, externalIp, noEndpoints, multiProtocol, nodePort } = SERVICES;
const CLUSTER_IP = { address: clusterIp.ip, port: clusterIp.port, protocol: 'SCTP' as const }; // port 7777 → 80
const BACKENDS = [`${podIp('server-a')}:80`, `${podIp('server-b')}:80`];
const EXTERNAL_IP = { address: externalIp.externalIp, port: externalIp.port, protocol: 'SCTP' as const };
const NO_ENDPOINTS = { address: noEndpoints.ip, port: noEndpoints.port, protocol: 'SCTP' as const };
const MULTI = multiProtocol.ip; // TCP, UDP and SCTP all on 5000
const NODE_PORT = nodePort.nodePort;
const HOSTPORT_POD = `${podIp('hostport')}:80`; // hostPorts 30101/SCTP, 30102/TCP, 30103/SCTP on the node address only
const HOSTPORT_BOTH = `${podIp('hostport-both')}:80`; // hostPort 30100, SCTP and UDP

type Reader = {
  service(output: string, q: { address: string; port: number; protocol: L4Protocol }): RuleAnswer;
  nodePort(output: string, q: { nodeAddress: string; port: number; protocol: L4Protocol }): RuleAnswer;
};

/** The claims every kube-proxy mode must satisfy on the same cluster state. */
function sharedClaims(mode: string, reader: Reader, output: string): void {
  describe(`${mode}: the same questions`, () => {
    it('finds both endpoints of the SCTP ClusterIP Service (port 7777 → targetPort 80)', () => {
      const a = reader.service(output, CLUSTER_IP);
      expect(a.found).to.equal(true);
      expect(a.endpoints).to.deep.equal(BACKENDS);
      expect(a.lines.join('\n')).to.match(/sctp/i);
    });

    it('finds the externalIP flow', () => {
      const a = reader.service(output, EXTERNAL_IP);
      expect(a.found).to.equal(true);
      expect(a.endpoints).to.deep.equal(BACKENDS);
    });

    it('finds the NodePort on the node address', () => {
      const a = reader.nodePort(output, { nodeAddress: NODE, port: NODE_PORT, protocol: 'SCTP' });
      expect(a.found).to.equal(true);
      expect(a.endpoints).to.deep.equal(BACKENDS);
    });

    it('finds nothing for a Service that does not exist', () => {
      const a = reader.service(output, { address: '198.19.150.1', port: 7777, protocol: 'SCTP' });
      expect(a).to.include({ found: false });
      expect(a.endpoints).to.deep.equal([]);
      expect(a.lines).to.deep.equal([]);
    });

    it('finds nothing for TCP (or UDP) on the SCTP Service', () => {
      expect(reader.service(output, { ...CLUSTER_IP, protocol: 'TCP' }).found).to.equal(false);
      expect(reader.service(output, { ...CLUSTER_IP, protocol: 'UDP' }).found).to.equal(false);
      expect(reader.nodePort(output, { nodeAddress: NODE, port: NODE_PORT, protocol: 'TCP' }).found).to.equal(
        false,
      );
    });

    it('finds nothing for the SCTP Service on another port, or the NodePort on another port', () => {
      expect(reader.service(output, { ...CLUSTER_IP, port: 80 }).found).to.equal(false);
      expect(
        reader.nodePort(output, { nodeAddress: NODE, port: NODE_PORT + 1, protocol: 'SCTP' }).found,
      ).to.equal(false);
    });

    it('finds no endpoint for the SCTP Service without endpoints', () => {
      expect(reader.service(output, NO_ENDPOINTS).found).to.equal(false);
    });

    it('gives each protocol of the TCP/UDP/SCTP same-port Service its own rules', () => {
      const protocols: L4Protocol[] = ['TCP', 'UDP', 'SCTP'];
      const answers = new Map(
        protocols.map((p) => [p, reader.service(output, { address: MULTI, port: 5000, protocol: p })]),
      );
      for (const p of protocols) {
        expect(answers.get(p)!.found, p).to.equal(true);
        expect(answers.get(p)!.endpoints, p).to.deep.equal([`${podIp('multi')}:5000`]);
      }
      // Lines that name a protocol (or a protocol-specific service) must not be shared.
      const own = (p: L4Protocol) =>
        answers.get(p)!.lines.filter((l) => /\b(sctp|tcp|udp)\b|-t |-u /i.test(l));
      for (const other of ['TCP', 'UDP'] as const) {
        expect(
          own('SCTP').filter((l) => own(other).includes(l)),
          `lines shared by SCTP and ${other}`,
        ).to.deep.equal([]);
      }
      expect(own('SCTP')).to.have.length.greaterThan(0);
    });
  });
}

describe('dataplane readers', () => {
  describe('iptables-save parsing', () => {
    const rs = parseIptablesSave(IPTABLES);

    it('reads every table and chain, keeping each rule line', () => {
      expect([...rs.tables.keys()]).to.deep.equal(['mangle', 'filter', 'nat']);
      const nat = rs.tables.get('nat')!;
      expect(nat.chains.get('PREROUTING')!.policy).to.equal('ACCEPT');
      expect(nat.chains.get('KUBE-SERVICES')!.policy).to.equal(undefined);
      const dnat = nat.chains.get('KUBE-SEP-GWEZZMDXVHVODGLX')!.rules[1];
      expect(dnat.line).to.equal(
        '-A KUBE-SEP-GWEZZMDXVHVODGLX -p sctp -m comment --comment "dataplane-capture/sctp-clusterip:sctp" -m sctp -j DNAT --to-destination 198.19.0.4:80',
      );
      expect(dnat.jump).to.equal('DNAT');
      expect(dnat.targetOptions).to.deep.include({
        module: 'DNAT',
        name: 'to-destination',
        values: ['198.19.0.4:80'],
        negated: false,
      });
    });

    it('splits quoted comments with escaped quotes into one token', () => {
      expect(
        tokenize('-A X -m comment --comment "dnat name: \\"sctp-e2e\\" id: \\"7621\\"" -j Y'),
      ).to.deep.equal([
        '-A',
        'X',
        '-m',
        'comment',
        '--comment',
        'dnat name: "sctp-e2e" id: "7621"',
        '-j',
        'Y',
      ]);
      expect(tokenize('--comment "rule for the pod\\\'s node" -j ACCEPT')).to.deep.equal([
        '--comment',
        "rule for the pod's node",
        '-j',
        'ACCEPT',
      ]);
    });

    it('reads negations before base options and inside modules', () => {
      const svc = rs.tables.get('nat')!.chains.get('KUBE-SVC-7GMAX6SBJF7KROFV')!.rules[0];
      expect(svc.matches[0]).to.deep.equal({
        module: '',
        name: 'source',
        values: [CLUSTER_CIDR],
        negated: true,
      });
      const post = rs.tables.get('nat')!.chains.get('KUBE-POSTROUTING')!.rules[0];
      expect(post.matches).to.deep.include({
        module: 'mark',
        name: 'mark',
        values: ['0x4000/0x4000'],
        negated: true,
      });
    });
  });

  describe('iptables nat tracing', () => {
    const tiny = (rules: string, extraChains = ''): ReturnType<typeof parseIptablesSave> =>
      parseIptablesSave(
        `*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n${extraChains}${rules}\nCOMMIT\n`,
      );
    const sctp = { chain: 'PREROUTING' as const, dst: '10.0.0.1', protocol: 'SCTP' as const, dport: 80 };

    it('matches -p by name in any case and by number', () => {
      for (const p of ['sctp', 'SCTP', '132']) {
        const t = traceNat(tiny(`-A PREROUTING -p ${p} -j DNAT --to-destination 1.1.1.1:1`), sctp);
        expect(t.endpoints, p).to.deep.equal(['1.1.1.1:1']);
      }
      expect(
        traceNat(tiny('-A PREROUTING -p 6 -j DNAT --to-destination 1.1.1.1:1'), sctp).endpoints,
      ).to.deep.equal([]);
      expect(
        traceNat(tiny('-A PREROUTING ! -p tcp -j DNAT --to-destination 1.1.1.1:1'), sctp).endpoints,
      ).to.deep.equal(['1.1.1.1:1']);
    });

    it('matches -d/-s CIDRs, with negation; an unknown source may match either way', () => {
      const rs = tiny(
        [
          '-A PREROUTING -d 10.0.0.0/8 ! -s 10.0.0.0/8 -j MARK --set-xmark 0x1/0x1',
          '-A PREROUTING -d 10.0.0.0/24 -s 192.168.0.0/16 -j DNAT --to-destination 2.2.2.2:2',
          '-A PREROUTING -d 11.0.0.0/8 -j DNAT --to-destination 3.3.3.3:3',
          '-A PREROUTING -d 10.0.0.1/32 -j DNAT --to-destination 4.4.4.4:4',
        ].join('\n'),
      );
      const unknownSource = traceNat(rs, sctp);
      expect(unknownSource.endpoints).to.deep.equal(['2.2.2.2:2', '4.4.4.4:4']);
      expect(unknownSource.lines[0]).to.contain('MARK');
      const fromPod = traceNat(rs, { ...sctp, src: '10.1.2.3' });
      expect(fromPod.endpoints).to.deep.equal(['4.4.4.4:4']);
      expect(fromPod.lines.some((l) => l.includes('MARK'))).to.equal(false);
      expect(traceNat(rs, { ...sctp, src: '192.168.1.1' }).endpoints).to.deep.equal(['2.2.2.2:2']);
    });

    it('matches --dport in tcp/udp/sctp modules and multiport lists and ranges', () => {
      const rs = tiny(
        [
          '-A PREROUTING -p tcp -m tcp --dport 80 -j DNAT --to-destination 1.1.1.1:1',
          '-A PREROUTING -p sctp -m multiport --dports 81,90:99 -j DNAT --to-destination 2.2.2.2:2',
          '-A PREROUTING -p sctp -m sctp --dport 80 -j DNAT --to-destination 3.3.3.3:3',
        ].join('\n'),
      );
      expect(traceNat(rs, sctp).endpoints).to.deep.equal(['3.3.3.3:3']);
      expect(traceNat(rs, { ...sctp, dport: 95 }).endpoints).to.deep.equal(['2.2.2.2:2']);
      expect(traceNat(rs, { ...sctp, dport: 100 }).endpoints).to.deep.equal([]);
      expect(traceNat(rs, { ...sctp, protocol: 'TCP' }).endpoints).to.deep.equal(['1.1.1.1:1']);
    });

    it('takes addrtype --dst-type LOCAL as true only when dstIsLocal', () => {
      const rs = tiny('-A PREROUTING -m addrtype --dst-type LOCAL -j DNAT --to-destination 1.1.1.1:1');
      expect(traceNat(rs, sctp).endpoints).to.deep.equal([]);
      expect(traceNat(rs, { ...sctp, dstIsLocal: true }).endpoints).to.deep.equal(['1.1.1.1:1']);
    });

    it('follows every branch of statistic/mark/recent rules but stops at a sure DNAT', () => {
      const rs = tiny(
        [
          '-A PREROUTING -j SVC',
          '-A PREROUTING -j DNAT --to-destination 9.9.9.9:9',
          '-A SVC -m statistic --mode random --probability 0.33 -j DNAT --to-destination 1.1.1.1:1',
          '-A SVC -m mark --mark 0x1 -j DNAT --to-destination 2.2.2.2:2',
          '-A SVC -m recent --rcheck --seconds 10 --name x -j DNAT --to-destination 3.3.3.3:3',
          '-A SVC -j DNAT --to-destination 4.4.4.4:4',
          '-A SVC -j DNAT --to-destination 5.5.5.5:5',
        ].join('\n'),
        ':SVC - [0:0]\n',
      );
      expect(traceNat(rs, sctp).endpoints).to.deep.equal([
        '1.1.1.1:1',
        '2.2.2.2:2',
        '3.3.3.3:3',
        '4.4.4.4:4',
      ]);
    });

    it('comes back from RETURN and from the end of a user chain; goto does not come back', () => {
      const rs = tiny(
        [
          '-A PREROUTING -j A',
          '-A PREROUTING -g B',
          '-A PREROUTING -j DNAT --to-destination 9.9.9.9:9',
          '-A A -p sctp -j RETURN',
          '-A A -j DNAT --to-destination 1.1.1.1:1',
          '-A B -j KUBE-MARK-MASQ',
          '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
        ].join('\n'),
        ':A - [0:0]\n:B - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n',
      );
      const t = traceNat(rs, sctp);
      expect(t.endpoints).to.deep.equal([]);
      expect(t.lines).to.deep.equal([
        '-A PREROUTING -j A',
        '-A A -p sctp -j RETURN',
        '-A PREROUTING -g B',
        '-A B -j KUBE-MARK-MASQ',
        '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
      ]);
      // For TCP, A does not return: it DNATs.
      expect(traceNat(rs, { ...sctp, protocol: 'TCP' }).endpoints).to.deep.equal(['1.1.1.1:1']);
    });

    it('records and stops at DROP and REJECT', () => {
      const rs = tiny(
        ['-A PREROUTING -p sctp -j DROP', '-A PREROUTING -j DNAT --to-destination 1.1.1.1:1'].join('\n'),
      );
      const t = traceNat(rs, sctp);
      expect(t.endpoints).to.deep.equal([]);
      expect(t.dropped).to.deep.equal(['-A PREROUTING -p sctp -j DROP']);
    });

    it('survives a chain loop (depth guard)', () => {
      const rs = tiny(
        ['-A PREROUTING -j L', '-A L -j L', '-A PREROUTING -j DNAT --to-destination 1.1.1.1:1'].join('\n'),
        ':L - [0:0]\n',
      );
      expect(traceNat(rs, sctp).endpoints).to.deep.equal(['1.1.1.1:1']);
    });

    it('traces the captured ClusterIP from PREROUTING through KUBE-SERVICES, KUBE-SVC and KUBE-SEP', () => {
      const t = traceNat(parseIptablesSave(IPTABLES), {
        chain: 'PREROUTING',
        dst: CLUSTER_IP.address,
        protocol: 'SCTP',
        dport: 7777,
      });
      expect(t.endpoints).to.deep.equal(BACKENDS);
      expect(t.lines[0]).to.equal(
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      );
      expect(t.lines).to.include(
        '-A KUBE-SERVICES -d 198.19.130.43/32 -p sctp -m comment --comment "dataplane-capture/sctp-clusterip:sctp cluster IP" -m sctp --dport 7777 -j KUBE-SVC-7GMAX6SBJF7KROFV',
      );
      // A pod of the cluster CIDR is not masqueraded; an unknown source may be.
      const fromPod = traceNat(parseIptablesSave(IPTABLES), {
        chain: 'PREROUTING',
        dst: CLUSTER_IP.address,
        src: '198.19.0.9',
        protocol: 'SCTP',
        dport: 7777,
      });
      expect(fromPod.lines.some((l) => l.startsWith('-A KUBE-SVC-7GMAX6SBJF7KROFV ! -s'))).to.equal(false);
      expect(t.lines.some((l) => l.startsWith('-A KUBE-SVC-7GMAX6SBJF7KROFV ! -s'))).to.equal(true);
    });

    it('also answers from the node itself (OUTPUT)', () => {
      const t = traceNat(parseIptablesSave(IPTABLES), {
        chain: 'OUTPUT',
        dst: CLUSTER_IP.address,
        protocol: 'SCTP',
        dport: 7777,
      });
      expect(t.endpoints).to.deep.equal(BACKENDS);
    });
  });

  describe('kube-proxy iptables mode (captured)', () => {
    sharedClaims('iptables', kubeProxyIptables, IPTABLES);

    it('shows the externalIP rule and the masquerade of external traffic as evidence', () => {
      const a = kubeProxyIptables.service(IPTABLES, EXTERNAL_IP);
      expect(
        a.lines.some((l) => l.includes('sctp-externalip:sctp external IP') && l.includes('-j KUBE-EXT-')),
      ).to.equal(true);
      expect(a.lines).to.include('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000');
    });

    it('names the REJECT rule when the SCTP Service has no endpoints', () => {
      const a = kubeProxyIptables.service(IPTABLES, NO_ENDPOINTS);
      expect(a.rejected).to.have.length(1);
      expect(a.rejected[0]).to.match(/sctp-noendpoints:sctp has no endpoints".*-j REJECT/);
    });

    it('reaches the NodePort through KUBE-NODEPORTS, not through the ClusterIP rules', () => {
      const a = kubeProxyIptables.nodePort(IPTABLES, {
        nodeAddress: NODE,
        port: NODE_PORT,
        protocol: 'SCTP',
      });
      expect(a.lines[0]).to.contain('-j KUBE-SERVICES');
      expect(a.lines[1]).to.contain('-j KUBE-NODEPORTS');
      expect(a.lines.some((l) => l.includes('cluster IP'))).to.equal(false);
    });
  });

  describe('CNI portmap, iptables backend (captured)', () => {
    it('finds the SCTP hostPort DNAT and its CNI chains', () => {
      const a = portmapIptables.hostPort(IPTABLES, { nodeAddress: NODE, port: 30101, protocol: 'SCTP' });
      expect(a.found).to.equal(true);
      expect(a.endpoints).to.deep.equal([HOSTPORT_POD]);
      expect(a.lines[0]).to.equal('-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT');
      // The per-pod chain's name is a hash of the container's ID.
      expect(a.lines.at(-1)).to.match(
        new RegExp(
          `^-A CNI-DN-[0-9a-f]+ -p sctp -m sctp --dport 30101 -j DNAT --to-destination ${HOSTPORT_POD}$`,
        ),
      );
      expect(a.lines.some((l) => l.includes('KUBE-'))).to.equal(false);
    });

    it('tells the SCTP and the TCP hostPort of one pod apart', () => {
      expect(
        portmapIptables.hostPort(IPTABLES, { nodeAddress: NODE, port: 30102, protocol: 'TCP' }).endpoints,
      ).to.deep.equal([HOSTPORT_POD]);
      expect(
        portmapIptables.hostPort(IPTABLES, { nodeAddress: NODE, port: 30101, protocol: 'TCP' }).found,
      ).to.equal(false);
      expect(
        portmapIptables.hostPort(IPTABLES, { nodeAddress: NODE, port: 30102, protocol: 'SCTP' }).found,
      ).to.equal(false);
    });

    it('honours a hostIP: only that destination address is mapped', () => {
      expect(
        portmapIptables.hostPort(IPTABLES, { nodeAddress: NODE, port: 30103, protocol: 'SCTP' }).endpoints,
      ).to.deep.equal([HOSTPORT_POD]);
      expect(
        portmapIptables.hostPort(IPTABLES, { nodeAddress: '198.18.0.3', port: 30103, protocol: 'SCTP' })
          .found,
      ).to.equal(false);
    });

    it('finds nothing for a hostPort that does not exist, and works without a node address', () => {
      expect(
        portmapIptables.hostPort(IPTABLES, { nodeAddress: NODE, port: 30199, protocol: 'SCTP' }).found,
      ).to.equal(false);
      expect(portmapIptables.hostPort(IPTABLES, { port: 30100, protocol: 'SCTP' }).endpoints).to.deep.equal([
        HOSTPORT_BOTH,
      ]);
    });
  });

  describe('nft JSON parsing and tracing', () => {
    const rs = parseNftJson(NFT);

    it('reads chains, rules and maps of both families', () => {
      expect(rs.chains.find((c) => c.family === 'ip' && c.name === 'nat-prerouting')).to.include({
        type: 'nat',
        hook: 'prerouting',
        prio: -100,
      });
      expect(rs.sets.find((s) => s.family === 'ip' && s.name === 'service-ips')).to.include({
        kind: 'map',
        map: 'verdict',
      });
      expect(rs.rules.filter((r) => r.family === 'ip6')).to.have.length.greaterThan(0);
    });

    it('rejects output that is not nft JSON', () => {
      expect(() => parseNftJson('Error: Could not process rule')).to.throw(/not nft JSON/);
      expect(() => parseNftJson('{}')).to.throw(/no "nftables" array/);
    });

    it('follows numgen vmaps to every endpoint and renders the rules back in nft syntax', () => {
      const t = traceNft(rs, {
        table: 'kube-proxy',
        hook: 'prerouting',
        dst: CLUSTER_IP.address,
        protocol: 'SCTP',
        dport: 7777,
      });
      expect(t.endpoints).to.deep.equal(BACKENDS);
      expect(t.lines).to.include('ip kube-proxy nat-prerouting: jump services');
      expect(t.lines).to.include(
        'ip kube-proxy services: ip daddr . meta l4proto . th dport vmap @service-ips  → 198.19.130.43 . sctp . 7777 : goto service-7A7QMLXE-dataplane-capture/sctp-clusterip/sctp/sctp',
      );
      expect(t.lines).to.include(
        'ip kube-proxy endpoint-TWA5DEGB-dataplane-capture/sctp-clusterip/sctp/sctp__198.19.0.4/80: meta l4proto sctp dnat to 198.19.0.4:80',
      );
    });

    it('skips the masquerade mark for a source inside the cluster CIDR', () => {
      const t = traceNft(rs, {
        table: 'kube-proxy',
        hook: 'prerouting',
        dst: CLUSTER_IP.address,
        src: '198.19.0.9',
        protocol: 'SCTP',
        dport: 7777,
      });
      expect(t.endpoints).to.deep.equal(BACKENDS);
      expect(t.lines.some((l) => l.includes(`ip saddr != ${CLUSTER_CIDR}`))).to.equal(false);
    });
  });

  describe('kube-proxy nftables mode (captured)', () => {
    sharedClaims('nftables', kubeProxyNftables, NFT);

    it('explains a refusal: no-endpoint-services → reject-chain', () => {
      const a = kubeProxyNftables.service(NFT, NO_ENDPOINTS);
      expect(a.rejected.join('\n')).to.contain(
        'vmap @no-endpoint-services  → 198.19.129.53 . sctp . 7780 : goto reject-chain',
      );
    });

    it('explains a refusal: TCP to the SCTP ClusterIP port is rejected as an invalid port', () => {
      const a = kubeProxyNftables.service(NFT, { ...CLUSTER_IP, protocol: 'TCP' });
      expect(a.rejected.join('\n')).to.contain('Reject traffic to invalid ports of ClusterIPs');
    });

    it('answers NodePorts only on addresses in @nodeport-ips', () => {
      expect(
        kubeProxyNftables.nodePort(NFT, { nodeAddress: '198.18.0.99', port: NODE_PORT, protocol: 'SCTP' })
          .found,
      ).to.equal(false);
    });
  });

  describe('CNI portmap, nftables backend (captured)', () => {
    it('finds the SCTP hostPort in table ip cni_hostport', () => {
      const a = portmapNftables.hostPort(NFT, { nodeAddress: NODE, port: 30101, protocol: 'SCTP' });
      expect(a.endpoints).to.deep.equal([HOSTPORT_POD]);
      // The rule's comment is the container's ID.
      expect(a.lines.slice(0, 2)).to.deep.equal([
        'ip cni_hostport prerouting: fib daddr type local jump hostports_all',
        'ip cni_hostport hostports_all: jump hostports',
      ]);
      expect(a.lines.at(-1)).to.match(
        new RegExp(
          `^ip cni_hostport hostports: sctp dport 30101 dnat to ${HOSTPORT_POD} comment "[0-9a-f]{64}"$`,
        ),
      );
    });

    it('tells protocols apart on the same hostPort (SCTP and UDP on 30100)', () => {
      expect(
        portmapNftables.hostPort(NFT, { nodeAddress: NODE, port: 30100, protocol: 'UDP' }).lines.at(-1),
      ).to.match(/^ip cni_hostport hostports: udp dport 30100/);
      expect(
        portmapNftables.hostPort(NFT, { nodeAddress: NODE, port: 30100, protocol: 'SCTP' }).lines.at(-1),
      ).to.match(/^ip cni_hostport hostports: sctp dport 30100/);
      expect(
        portmapNftables.hostPort(NFT, { nodeAddress: NODE, port: 30100, protocol: 'TCP' }).found,
      ).to.equal(false);
    });

    it('honours a hostIP: only that destination address is mapped', () => {
      expect(
        portmapNftables.hostPort(NFT, { nodeAddress: NODE, port: 30103, protocol: 'SCTP' }).found,
      ).to.equal(true);
      expect(
        portmapNftables.hostPort(NFT, { nodeAddress: '198.18.0.3', port: 30103, protocol: 'SCTP' }).found,
      ).to.equal(false);
    });

    it('finds nothing in a ruleset without the table', () => {
      expect(
        portmapNftables.hostPort(NFT_WITHOUT_PORTMAP, { nodeAddress: NODE, port: 30101, protocol: 'SCTP' })
          .found,
      ).to.equal(false);
    });

    it('maps hostPorts only for local destinations, in prerouting and output', () => {
      // portmap v1.10.0 tests `fib daddr type local` in both base chains (the
      // v1.6.2 capture had it in output only).
      for (const hook of ['prerouting', 'output'] as const) {
        const packet = { table: 'cni_hostport', hook, protocol: 'SCTP' as const, dport: 30101 };
        expect(
          traceNft(parseNftJson(NFT), { ...packet, dst: NODE, dstIsLocal: true }).endpoints,
          hook,
        ).to.deep.equal([HOSTPORT_POD]);
        expect(
          traceNft(parseNftJson(NFT), { ...packet, dst: '203.0.113.5', dstIsLocal: false }).endpoints,
          hook,
        ).to.deep.equal([]);
      }
    });
  });

  describe('ipvs (constructed ipvsadm -Sn)', () => {
    sharedClaims('ipvs', kubeProxyIpvs, IPVS);

    it('parses --sctp-service, -t, -u, persistence, weights and IPv6 brackets', () => {
      const services = parseIpvsadmSave(IPVS);
      const sctp = services.find((s) => s.address === '198.19.130.43')!;
      expect(sctp).to.include({ protocol: 'SCTP', port: 7777, scheduler: 'rr' });
      expect(sctp.realServers.map((r) => [r.address, r.port, r.forward, r.weight])).to.deep.equal([
        ['198.19.0.4', 80, '-m', 1],
        ['198.19.0.6', 80, '-m', 1],
      ]);
      expect(services.find((s) => s.port === 7782)!.persistent).to.equal(10800);
      expect(services.filter((s) => s.address === MULTI).map((s) => s.protocol)).to.deep.equal([
        'TCP',
        'UDP',
        'SCTP',
      ]);
      expect(
        kubeProxyIpvs.service(IPVS, { address: 'fd00:10:96::7', port: 7777, protocol: 'SCTP' }).endpoints,
      ).to.deep.equal(['[fd00:10:244::4]:80']);
    });

    it('does not count a terminating (weight 0) real server as an endpoint', () => {
      const a = kubeProxyIpvs.service(IPVS, { address: '198.19.131.10', port: 7781, protocol: 'SCTP' });
      expect(a.found).to.equal(false);
      expect(a.lines).to.have.length(2);
      expect(a.rejected[0]).to.match(/weight 0/);
    });

    it('shows the virtual service without real servers for a Service without endpoints', () => {
      expect(kubeProxyIpvs.service(IPVS, NO_ENDPOINTS).lines).to.deep.equal([
        '-A --sctp-service 198.19.129.53:7780 -s rr',
      ]);
    });
  });

  describe('modes and commands', () => {
    it('parses the detected mode, and anything else as unknown', () => {
      expect(parseProxyMode('iptables\n')).to.equal('iptables');
      expect(parseProxyMode('nftables')).to.equal('nftables');
      expect(parseProxyMode('  IPVS \n')).to.equal('ipvs');
      expect(parseProxyMode('unknown\n')).to.equal('unknown');
      expect(parseProxyMode('')).to.equal('unknown');
      expect(parseProxyMode('kernelspace')).to.equal('unknown');
    });

    it('gives an unknown mode a reason to skip with, never a pass', () => {
      expect(unknownProxyModeReason('node-a', 'unknown')).to.match(/node-a.*skipped, not passed/);
    });

    it('has read-only commands that the shell accepts', () => {
      const all = [
        DETECT_PROXY_MODE_COMMAND,
        detectProxyModeCommand('127.0.0.1:10349'),
        HOSTPORT_RULES_COMMAND,
        IPTABLES_SAVE_COMMAND,
        ...Object.values(RULES_COMMANDS),
      ];
      for (const cmd of all) {
        expect(cmd).to.not.match(
          /modprobe|insmod|(iptables|ipvsadm)\S* -[ADIRFNXCZ]\b|--flush|nft (add|delete|flush|insert|replace|-f)/,
        );
        execFileSync('sh', ['-n', '-c', cmd]); // syntax check only
      }
      expect(RULES_COMMANDS).to.deep.equal({
        iptables: IPTABLES_SAVE_COMMAND,
        nftables: 'nft -j list ruleset',
        ipvs: 'ipvsadm -Sn',
      });
      expect(DETECT_PROXY_MODE_COMMAND).to.contain('http://127.0.0.1:10249/proxyMode');
    });

    it('prints one word on a machine without kube-proxy', function () {
      if (process.platform !== 'linux') this.skip();
      const out = execFileSync('sh', ['-c', DETECT_PROXY_MODE_COMMAND], { encoding: 'utf8' });
      expect(out.trim()).to.match(/^(iptables|nftables|ipvs|unknown)$/);
    });

    it('routes a query to the command and reader of its mode', () => {
      expect(rulesCommand('nftables', { kind: 'service', ...CLUSTER_IP })).to.equal('nft -j list ruleset');
      expect(rulesCommand('ipvs', { kind: 'hostPort', port: 30101, protocol: 'SCTP' })).to.equal(
        HOSTPORT_RULES_COMMAND,
      );
      expect(readRules('iptables', { kind: 'service', ...CLUSTER_IP }, IPTABLES).endpoints).to.deep.equal(
        BACKENDS,
      );
      expect(
        readRules('nftables', { kind: 'nodePort', nodeAddress: NODE, port: NODE_PORT, protocol: 'SCTP' }, NFT)
          .endpoints,
      ).to.deep.equal(BACKENDS);
      expect(readRules('ipvs', { kind: 'service', ...EXTERNAL_IP }, IPVS).endpoints).to.deep.equal(BACKENDS);
    });

    it('reads hostPorts from either portmap backend in the combined output', () => {
      const marker = HOSTPORT_RULES_COMMAND.match(/echo '([^']+)'/)![1];
      // The nftables shape's node: no portmap chain in iptables, the table in nft.
      const iptablesOfNftShape = IPTABLES.replace(/^.*CNI-.*\n/gm, '');
      const q = { nodeAddress: NODE, port: 30101, protocol: 'SCTP' as const };
      const nft = readHostPort(`${iptablesOfNftShape}${marker}\n${NFT}`, q);
      expect(nft).to.deep.include({ endpoints: [HOSTPORT_POD], backends: ['nftables'] });
      const iptables = readHostPort(`${IPTABLES}${marker}\n`, q);
      expect(iptables).to.deep.include({ endpoints: [HOSTPORT_POD], backends: ['iptables'] });
      // Both backends hold the flow (a node mid-migration): both are named.
      expect(readHostPort(`${IPTABLES}${marker}\n${NFT}`, q).backends).to.deep.equal([
        'iptables',
        'nftables',
      ]);
      expect(readHostPort(`${marker}\n${NFT}`, { port: 30101, protocol: 'TCP' })).to.deep.include({
        found: false,
        backends: [],
      });
      expect(readHostPort('', { port: 30101, protocol: 'SCTP' }).found).to.equal(false);
    });
  });

  describe('address helpers', () => {
    it('handles IPv4, IPv6 and prefix matching', () => {
      expect(inCidr('198.19.0.9', '198.19.0.0/17')).to.equal('yes');
      expect(inCidr('198.19.200.1', '198.19.0.0/17')).to.equal('no');
      expect(inCidr('10.1.2.3', '0.0.0.0/0')).to.equal('yes');
      expect(inCidr(undefined, '10.0.0.0/8')).to.equal('maybe');
      expect(inCidr('fd00:10:96::7', 'fd00:10:96::/112')).to.equal('yes');
      expect(inCidr('fd00:10:97::7', 'fd00:10:96::/112')).to.equal('no');
      expect(inCidr('10.0.0.1', 'fd00::/8')).to.equal('no');
      expect(parseIp('::ffff:1.2.3.4')?.value).to.equal(0xffff01020304n);
      expect(parseIp('1.2.3')).to.equal(undefined);
    });
  });
});
