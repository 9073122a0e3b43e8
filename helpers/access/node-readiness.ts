/**
 * Which schedulable nodes are not Ready, said the way `kubectl describe node`
 * says it. A node that is not Ready runs none of the pods a test places on
 * it: every path through it would time out and read as an SCTP failure of
 * that path, each after minutes of waiting. The suite cannot judge SCTP on
 * such a node, so the run stops before any test and names it (exit 2).
 */
import type * as k8s from '@kubernetes/client-node';

function readyCondition(node: k8s.V1Node): k8s.V1NodeCondition | undefined {
  return node.status?.conditions?.find((c) => c.type === 'Ready');
}

export function notReadyNodes(nodes: k8s.V1Node[]): k8s.V1Node[] {
  return nodes.filter((n) => readyCondition(n)?.status !== 'True');
}

/** "node2 (Ready=Unknown: NodeStatusUnknown, Kubelet stopped posting node status.)" */
export function readinessText(node: k8s.V1Node): string {
  const c = readyCondition(node);
  const name = node.metadata?.name ?? '(unnamed)';
  if (!c) return `${name} (no Ready condition)`;
  const why = [c.reason, c.message].filter(Boolean).join(', ');
  return `${name} (Ready=${c.status}${why ? `: ${why}` : ''})`;
}
