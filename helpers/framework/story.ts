/**
 * The two tiers and the KEP-614 stories, as typed constants: a suite declares
 * each test with one STORY (sctpIt's second argument) and the coverage matrix
 * (report/kep614.ts) maps the stories onto KEP-614's items. A story is a
 * constant, not free text, so a typo cannot hide a test from the matrix.
 */

/** The tags that name the tiers in test titles, in the order a run runs them. */
export const TIER = {
  basic: '[Feature:SCTP]',
  connectivity: '[Feature:SCTPConnectivity]',
} as const;
export const TIERS = [TIER.basic, TIER.connectivity] as const;
export type Tier = (typeof TIERS)[number];

export function tierOf(fullTitle: string): Tier {
  return fullTitle.includes(TIER.connectivity) ? TIER.connectivity : TIER.basic;
}

export const STORY = {
  declare: 'Pods, Services, and NetworkPolicies can declare SCTP ports',
  hostPortRule: 'Pods can declare SCTP HostPorts (rule on the node)',
  proxier: 'Services can declare SCTP ServicePorts when using the iptables proxier',
  policyNotTcpUdp: 'A NetworkPolicy matching an SCTP port does not allow TCP or UDP traffic',
  podPodService: 'pod→pod, pod→Service IP',
  loadBalancer: 'pod→LoadBalancer (skip where unsupported)',
  loadBalancerTraffic: 'pod→LoadBalancer IP over SCTP',
  loadBalancerOutside: 'LoadBalancer IP reachable from outside',
  policyAllowDeny: 'NetworkPolicy allow/deny for SCTP ports',
  headless: 'KEP user story: headless SCTP Service',
  noSelector: 'KEP user story: Service without selector',
  nodePort: 'KEP user story: NodePort',
  nodePortOutside: 'KEP user story: NodePort reachable from outside',
  externalIPs: 'KEP user story: externalIPs',
  externalIPsOutside: 'KEP user story: externalIPs reachable from outside',
  hostPortOutside: 'KEP user story: hostPort reachable from outside',
  dnsSrv: 'KEP user story: DNS SRV records with _sctp',
  nodeToPod: 'node→pod and node→Service (upstream skips them)',
  staleConntrack: 'Stale SCTP conntrack after an endpoint goes away (kubernetes#115299)',
  multiStream: 'Multi-stream and large messages',
} as const;
export type Story = (typeof STORY)[keyof typeof STORY];
