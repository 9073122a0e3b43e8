/**
 * The dataplane seam: which service proxy a node runs, which command prints
 * its rules, and which reader answers "is there a rule for (address, port,
 * protocol) → endpoint?" from that output.
 *
 * An unknown dataplane (no kube-proxy answer and none of its rules: another
 * service proxy, or none) is the value 'unknown'. Tests skip on it with
 * `unknownProxyModeReason()`; nothing here ever turns it into a pass.
 *
 * All commands are read-only and load nothing on purpose: ipvsadm is only
 * run where /proc/net/ip_vs shows IPVS already in use (ipvsadm would
 * otherwise modprobe ip_vs), and legacy iptables only where its tables exist.
 */
import { kubeProxyIptables, portmapIptables } from './iptables.ts';
import { kubeProxyIpvs } from './ipvs.ts';
import { kubeProxyNftables, portmapNftables } from './nftables.ts';
import {
  answer,
  type HostPortQuery,
  type NodePortQuery,
  type RuleAnswer,
  type ServiceQuery,
} from './types.ts';

export type { HostPortQuery, L4Protocol, NodePortQuery, RuleAnswer, ServiceQuery } from './types.ts';
export { kubeProxyIptables, portmapIptables, parseIptablesSave, traceNat, traceChain } from './iptables.ts';
export { kubeProxyNftables, portmapNftables, parseNftJson, traceNft } from './nftables.ts';
export { kubeProxyIpvs, parseIpvsadmSave } from './ipvs.ts';

export type ProxyMode = 'iptables' | 'nftables' | 'ipvs';
export type DetectedProxyMode = ProxyMode | 'unknown';
export const PROXY_MODES: readonly ProxyMode[] = ['iptables', 'nftables', 'ipvs'];

/**
 * The iptables-save that holds Kubernetes' rules: nodes may carry both the
 * nft and the legacy backend, and kube-proxy writes to one of them.
 */
export const IPTABLES_SAVE_COMMAND = [
  '(for s in iptables-save iptables-nft-save iptables-legacy-save; do',
  ' command -v "$s" >/dev/null 2>&1 || continue;',
  ' if [ "$s" = iptables-legacy-save ] && [ ! -e /proc/net/ip_tables_names ]; then continue; fi;',
  ' out=$("$s" 2>/dev/null) || continue;',
  ' case "$out" in *KUBE-*|*CNI-*) printf \'%s\\n\' "$out"; exit 0;; esac;',
  ' done; iptables-save)',
].join('');

export const NFT_RULESET_COMMAND = 'nft -j list ruleset';
export const IPVSADM_SAVE_COMMAND = 'ipvsadm -Sn';

/** The command whose output each mode's reader takes. */
export const RULES_COMMANDS: Record<ProxyMode, string> = {
  iptables: IPTABLES_SAVE_COMMAND,
  nftables: NFT_RULESET_COMMAND,
  ipvs: IPVSADM_SAVE_COMMAND,
};

const NFT_MARKER = '#### sctp-e2e: nft -j list table ip cni_hostport ####';

/**
 * hostPorts belong to the CNI portmap plugin, not to kube-proxy, and its
 * backend (iptables or nftables) is independent of the proxy mode: print
 * both, separated by a marker line; `readHostPort` reads whichever is there.
 */
export const HOSTPORT_RULES_COMMAND = `${IPTABLES_SAVE_COMMAND} 2>/dev/null; echo '${NFT_MARKER}'; nft -j list table ip cni_hostport 2>/dev/null; true`;

/**
 * One POSIX sh command that prints one word: iptables, nftables, ipvs or
 * unknown. kube-proxy's metrics endpoint says it directly; without it, the
 * rules on the node tell (IPVS first: ipvs mode also keeps an iptables
 * KUBE-SERVICES chain).
 */
export function detectProxyModeCommand(metricsAddress = '127.0.0.1:10249'): string {
  const url = `http://${metricsAddress}/proxyMode`;
  return [
    `m=$( (curl -fsS --max-time 3 ${url} || wget -qO- -T 3 ${url}) 2>/dev/null | tr -d '[:space:]');`,
    'case "$m" in iptables|nftables|ipvs) echo "$m"; exit 0;; esac;',
    "if [ -e /proc/net/ip_vs ] && grep -qE '^(TCP|UDP|SCTP|FWM) ' /proc/net/ip_vs 2>/dev/null; then echo ipvs; exit 0; fi;",
    "if [ -e /proc/net/ip_vs ] && command -v ipvsadm >/dev/null 2>&1 && ipvsadm -Ln 2>/dev/null | grep -qE '^(TCP|UDP|SCTP) '; then echo ipvs; exit 0; fi;",
    'if command -v nft >/dev/null 2>&1 && nft list table ip kube-proxy >/dev/null 2>&1; then echo nftables; exit 0; fi;',
    `if ${IPTABLES_SAVE_COMMAND} 2>/dev/null | grep -q -- '-A KUBE-SERVICES'; then echo iptables; exit 0; fi;`,
    'echo unknown',
  ].join(' ');
}

export const DETECT_PROXY_MODE_COMMAND = detectProxyModeCommand();

/** Reads the word printed by DETECT_PROXY_MODE_COMMAND (or kube-proxy's /proxyMode). */
export function parseProxyMode(output: string): DetectedProxyMode {
  const words = output.trim().split(/\s+/);
  const word = (words[words.length - 1] ?? '').toLowerCase();
  return (PROXY_MODES as readonly string[]).includes(word) ? (word as ProxyMode) : 'unknown';
}

/** Why rule checks cannot judge a node whose mode is unknown: the skip message. */
export function unknownProxyModeReason(node: string, output = ''): string {
  const seen = output.trim() ? ` (the node printed: ${output.trim().slice(0, 80)})` : '';
  return (
    `the service proxy on node ${node} is not one this suite reads${seen}: kube-proxy's /proxyMode did not answer on 127.0.0.1:10249 ` +
    'and the node has no IPVS services, no nft table "ip kube-proxy" and no KUBE-SERVICES chain — ' +
    'another proxy (e.g. a kube-proxy replacement) or none; rule checks are skipped, not passed'
  );
}

export interface ProxyReader {
  service(output: string, q: ServiceQuery): RuleAnswer;
  nodePort(output: string, q: NodePortQuery): RuleAnswer;
}

export const PROXY_READERS: Record<ProxyMode, ProxyReader> = {
  iptables: kubeProxyIptables,
  nftables: kubeProxyNftables,
  ipvs: kubeProxyIpvs,
};

/** A hostPort's answer, and which of portmap's backends holds the rules that carry the flow. */
export interface HostPortAnswer extends RuleAnswer {
  backends: Array<'iptables' | 'nftables'>;
}

/** Reads the output of HOSTPORT_RULES_COMMAND (or plain iptables-save / nft JSON). */
export function readHostPort(output: string, q: HostPortQuery): HostPortAnswer {
  const at = output.indexOf(NFT_MARKER);
  const iptablesPart = at < 0 ? output : output.slice(0, at);
  const nftPart = at < 0 ? '' : output.slice(at + NFT_MARKER.length).trim();
  const answers: Array<{ backend: 'iptables' | 'nftables'; answer: RuleAnswer }> = [];
  if (iptablesPart.trim().startsWith('{'))
    answers.push({ backend: 'nftables', answer: portmapNftables.hostPort(iptablesPart, q) });
  else if (iptablesPart.includes('*nat'))
    answers.push({ backend: 'iptables', answer: portmapIptables.hostPort(iptablesPart, q) });
  if (nftPart.startsWith('{'))
    answers.push({ backend: 'nftables', answer: portmapNftables.hostPort(nftPart, q) });
  return {
    ...answer(
      answers.flatMap((a) => a.answer.endpoints),
      answers.flatMap((a) => a.answer.lines),
      answers.flatMap((a) => a.answer.rejected),
    ),
    backends: answers.filter((a) => a.answer.found).map((a) => a.backend),
  };
}

export type NodeRuleQuery =
  | ({ kind: 'service' } & ServiceQuery)
  | ({ kind: 'nodePort' } & NodePortQuery)
  | ({ kind: 'hostPort' } & HostPortQuery);

/** The command to run on a node to answer `query` there. */
export function rulesCommand(mode: ProxyMode, query: NodeRuleQuery): string {
  return query.kind === 'hostPort' ? HOSTPORT_RULES_COMMAND : RULES_COMMANDS[mode];
}

/** Answers `query` from the output of `rulesCommand(mode, query)`. */
export function readRules(
  mode: ProxyMode,
  query: NodeRuleQuery,
  output: string,
): RuleAnswer | HostPortAnswer {
  switch (query.kind) {
    case 'hostPort':
      return readHostPort(output, query);
    case 'service':
      return PROXY_READERS[mode].service(output, query);
    case 'nodePort':
      return PROXY_READERS[mode].nodePort(output, query);
  }
}
