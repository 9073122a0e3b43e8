/**
 * Node rule checks for tests: which service proxy a node runs (asked once
 * per node and run), and "the node has a rule sending this flow to this
 * endpoint", polled until the rule appears or the deadline passes. No node
 * access or an unknown proxy is a skip with the reason, never a pass.
 */
import {
  DETECT_PROXY_MODE_COMMAND,
  parseProxyMode,
  readRules,
  rulesCommand,
  unknownProxyModeReason,
  type DetectedProxyMode,
  type HostPortAnswer,
  type NodeRuleQuery,
  type RuleAnswer,
} from './index.ts';
import { PollTimeout, poll } from '../framework/poll.ts';
import type { RunContext } from '../framework/run-context.ts';
import type { TestEnv } from '../framework/sctp-test.ts';

const modes = new WeakMap<RunContext, Map<string, Promise<{ mode: DetectedProxyMode; raw: string }>>>();

function detect(ctx: RunContext, node: string): Promise<{ mode: DetectedProxyMode; raw: string }> {
  let perNode = modes.get(ctx);
  if (!perNode) modes.set(ctx, (perNode = new Map()));
  let found = perNode.get(node);
  if (!found) {
    found = ctx.access
      .exec(node, DETECT_PROXY_MODE_COMMAND)
      .then((r) => ({ mode: parseProxyMode(r.stdout), raw: r.stdout + r.stderr }));
    perNode.set(node, found);
  }
  return found;
}

export async function proxyModeOf(ctx: RunContext, node: string): Promise<DetectedProxyMode> {
  return (await detect(ctx, node)).mode;
}

function describe(query: NodeRuleQuery): string {
  switch (query.kind) {
    case 'service':
      return `${query.protocol} ${query.address}:${query.port}`;
    case 'nodePort':
      return `${query.protocol} NodePort ${query.nodeAddress}:${query.port}`;
    case 'hostPort':
      return `${query.protocol} hostPort ${query.nodeAddress ?? '*'}:${query.port}`;
  }
}

/**
 * Waits until `node` has a rule that sends `query`'s flow to `endpoint`, and
 * returns the rule lines (also kept as the test's evidence). Fails with a
 * message naming the missing rule, the proxy mode and what was seen.
 */
export async function expectNodeRule(
  t: TestEnv,
  node: string,
  query: NodeRuleQuery,
  endpoint: string,
): Promise<string[]> {
  const { ctx } = t;
  if (ctx.access.kind === 'none')
    t.skip(`no node access (${ctx.access.unavailableReason}): the node's rules cannot be read`);
  // hostPorts are the CNI portmap plugin's, whatever the proxy mode.
  let mode: DetectedProxyMode = 'iptables';
  if (query.kind !== 'hostPort') {
    const detected = await detect(ctx, node);
    if (detected.mode === 'unknown') t.skip(unknownProxyModeReason(node, detected.raw));
    mode = detected.mode;
    t.parameter(`proxy mode (${node})`, mode);
  }
  const dataplane = mode as Exclude<DetectedProxyMode, 'unknown'>;
  const command = rulesCommand(dataplane, query);
  let last: RuleAnswer | HostPortAnswer | undefined;
  let output = '';
  try {
    await poll(
      `a rule on ${node} for ${describe(query)} → ${endpoint}`,
      { timeoutMs: ctx.config.ruleTimeout * 1000, intervalMs: 500 },
      async () => {
        const r = await ctx.access.exec(node, command);
        output = r.stdout;
        last = readRules(dataplane, query, r.stdout);
        if (last.endpoints.includes(endpoint)) return last;
        throw new Error(
          last.found ? `the flow leads to ${last.endpoints.join(', ')}` : 'no rule for the flow',
        );
      },
    );
  } catch (err) {
    if (!(err instanceof PollTimeout)) throw err;
    const where =
      query.kind === 'hostPort'
        ? 'portmap (iptables CNI-HOSTPORT-DNAT / nft cni_hostport)'
        : `kube-proxy ${dataplane}`;
    const seen = last?.found
      ? `it leads to ${last.endpoints.join(', ')} instead`
      : last?.rejected.length
        ? `only rules refusing it:\n${last.rejected.join('\n')}`
        : 'nothing matches the flow';
    // Evidence: the lines that mention the port, so a reader sees what is there.
    const near = output
      .split('\n')
      .filter((l) => l.includes(String(query.port)))
      .slice(0, 40);
    t.evidence(`rules on ${node} mentioning port ${query.port}`, near.join('\n') || '(none)');
    throw new Error(
      `no ${where} rule on node ${node} sends ${describe(query)} to ${endpoint} within ${ctx.config.ruleTimeout}s: ${seen}`,
      { cause: err },
    );
  }
  // A hostPort's evidence names the portmap backend whose rules carried it.
  const found = last!;
  const source = 'backends' in found ? `portmap ${found.backends.join(' and ')}` : dataplane;
  t.evidence(`${source} rules on ${node} for ${describe(query)}`, found.lines.join('\n'));
  return found.lines;
}
