/**
 * Pods pinned to a node that act for the node itself: privileged, in the
 * node's network namespace (host-exec pods, node-side probe agents).
 */
import type * as k8s from '@kubernetes/client-node';
import { waitForPodRunning, type Kube, type PodWait } from './kube.ts';

/** A pod name for `node` that is a valid DNS label. */
export function nodePodName(prefix: string, node: string): string {
  return `${prefix}-${node}`
    .slice(0, 63)
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/-+$/, '');
}

/** Starts a privileged host-network pod on `node` and returns its name once Running. */
export async function startNodePod(
  kube: Kube,
  namespace: string,
  node: string,
  prefix: string,
  container: k8s.V1Container,
  options: { hostPID?: boolean; timeoutMs: number } & PodWait,
): Promise<string> {
  const name = nodePodName(prefix, node);
  await kube.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { 'sctp-e2e.io/role': prefix } },
      spec: {
        nodeName: node,
        hostNetwork: true,
        hostPID: options.hostPID,
        tolerations: [{ operator: 'Exists' }],
        terminationGracePeriodSeconds: 0,
        containers: [{ ...container, securityContext: { privileged: true } }],
      },
    },
  });
  await waitForPodRunning(kube, namespace, name, options.timeoutMs, {
    what: options.what ?? `${prefix} pod on ${node}`,
    imageFlag: options.imageFlag,
  });
  return name;
}
