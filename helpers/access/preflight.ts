/**
 * `sctp-e2e preflight`: what the suite sees before judging anything. Read-only
 * on every node: no modprobe, no SCTP socket. `readClusterFacts` gathers the
 * facts as data (a run keeps them in run.json for the summary);
 * `renderPreflight` prints them as the one preflight table.
 */
import { DETECT_PROXY_MODE_COMMAND, parseProxyMode, type DetectedProxyMode } from '../dataplane/index.ts';
import { MODULE_STATE_COMMAND, parseModuleState, type ModuleState } from '../kernel/module-state.ts';
import { execOnNodes } from './node-access.ts';
import { openShiftPreflightSection } from '../openshift/preflight.ts';
import { nodeNames, type RunContext } from '../framework/run-context.ts';
import { textTable } from '../report/text-table.ts';

/** CNI plugin types named in the node's CNI configuration, if readable. */
export const CNI_COMMAND = `cat /etc/cni/net.d/*.conflist /etc/cni/net.d/*.conf 2>/dev/null | grep -o '"type" *: *"[^"]*"' | sed 's/.*"\\([^"]*\\)"$/\\1/' | sort -u | tr '\\n' ' '`;

/**
 * NetworkPolicy engines the preflight can name, by the program a node runs
 * (first word of a process's command line, without its directory). Seen
 * from the node, so an engine in a pod counts too. Not a verdict: the truth
 * tables judge whether policies are enforced; this says by whom.
 */
export const NETPOL_ENGINES = [
  'kube-router',
  'kube-network-policies',
  'calico-node',
  'cilium-agent',
  'antrea-agent',
  'kube-ovn-controller',
  'weaver',
] as const;

// GNU head prints the first NUL-ended word of every file in one process;
// elsewhere (busybox) one `tr` per process, much slower on a busy node.
export const NETPOL_ENGINE_COMMAND = [
  'if head -z -n 1 /dev/null 2>/dev/null;',
  "then head -q -z -n 1 /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' '\\n';",
  "else for f in /proc/[0-9]*/cmdline; do { tr '\\0' '\\n' <\"$f\"; } 2>/dev/null | head -n 1; done; fi",
  `| sed 's#.*/##' | sort -u | grep -x -E '${NETPOL_ENGINES.join('|')}' | tr '\\n' ' '`,
].join(' ');

/** One node as the suite sees it; fields are absent when node access is `none`. */
export interface NodeFacts {
  name: string;
  kernel?: string;
  sctpModule?: ModuleState;
  blacklisted?: boolean;
  loadAtBoot?: boolean;
  proxyMode?: DetectedProxyMode;
  /** CNI plugin types, space-separated; 'unknown' when the node has no readable config. */
  cni?: string;
  /** NetworkPolicy engines running on the node (NETPOL_ENGINES), space-separated; 'none found' otherwise. */
  netpol?: string;
}

export interface ClusterFacts {
  server: string;
  serverVersion: string;
  nodeAccess: string;
  /** Why node access is unavailable (`none`). */
  nodeAccessNote?: string;
  agent: { kind: string; image: string };
  nodes: NodeFacts[];
  /** The OpenShift section of the preflight (empty elsewhere). */
  openshift: string;
}

export async function readClusterFacts(ctx: RunContext): Promise<ClusterFacts> {
  const names = nodeNames(ctx);
  const facts: ClusterFacts = {
    server: ctx.kube.server,
    serverVersion: ctx.serverVersion,
    nodeAccess: ctx.access.kind,
    nodeAccessNote: ctx.access.unavailableReason,
    agent: { kind: ctx.agent.kind, image: ctx.agent.image },
    nodes: names.map((name) => ({ name })),
    openshift: '',
  };
  if (ctx.access.kind !== 'none') {
    const [modules, modes, cni, netpol] = await Promise.all([
      execOnNodes(ctx.access, names, MODULE_STATE_COMMAND),
      execOnNodes(ctx.access, names, DETECT_PROXY_MODE_COMMAND),
      execOnNodes(ctx.access, names, CNI_COMMAND),
      execOnNodes(ctx.access, names, NETPOL_ENGINE_COMMAND),
    ]);
    facts.nodes = names.map((name) => {
      const m = parseModuleState(modules.get(name)!.stdout);
      return {
        name,
        kernel: m.kernel || undefined,
        sctpModule: m.state,
        blacklisted: m.blacklisted,
        loadAtBoot: m.loadAtBoot,
        proxyMode: parseProxyMode(modes.get(name)!.stdout),
        cni: cni.get(name)!.stdout.trim() || 'unknown',
        netpol: netpol.get(name)!.stdout.trim() || 'none found',
      };
    });
  }
  // OpenShift only (empty elsewhere): SCTP per MachineConfigPool and node.
  facts.openshift = await openShiftPreflightSection(ctx);
  return facts;
}

const yesNo = (v: boolean | undefined) => (v === undefined ? '?' : v ? 'yes' : 'no');

export function renderPreflight(facts: ClusterFacts): string {
  const head = [
    `API server      ${facts.server} (${facts.serverVersion})`,
    `RBAC            enough for a run`,
    `nodes           ${facts.nodes.length}`,
    `node access     ${facts.nodeAccess}${facts.nodeAccessNote ? ` (${facts.nodeAccessNote})` : ''}`,
    `agent           ${facts.agent.kind} (${facts.agent.image})`,
    '',
  ].join('\n');
  const rows = [
    ['NODE', 'ACCESS', 'KERNEL', 'SCTP MODULE', 'BLACKLISTED', 'LOAD AT BOOT', 'KUBE-PROXY', 'CNI', 'NETPOL'],
  ];
  for (const n of facts.nodes) {
    const access = facts.nodeAccess === 'none' ? 'none' : `${facts.nodeAccess} ok`;
    rows.push([
      n.name,
      access,
      n.kernel ?? '?',
      n.sctpModule ?? '?',
      yesNo(n.blacklisted),
      yesNo(n.loadAtBoot),
      n.proxyMode ?? '?',
      n.cni ?? '?',
      n.netpol ?? '?',
    ]);
  }
  return head + textTable(rows) + facts.openshift;
}

export async function preflightTable(ctx: RunContext): Promise<string> {
  return renderPreflight(await readClusterFacts(ctx));
}
