/**
 * Creating the pods and Services a test needs and waiting until they serve.
 */
import type * as k8s from '@kubernetes/client-node';
import { poll } from '../framework/poll.ts';
import { waitForPodRunning } from '../access/kube.ts';
import type { TestEnv } from '../framework/sctp-test.ts';

/** Creates pods in parallel and returns them Running and Ready. */
export async function startPods(t: TestEnv, namespace: string, pods: k8s.V1Pod[]): Promise<k8s.V1Pod[]> {
  const { kube, config } = t.ctx;
  return t.time('pods Running', async () => {
    await Promise.all(pods.map((body) => kube.core.createNamespacedPod({ namespace, body })));
    return Promise.all(
      pods.map((p) => waitForPodRunning(kube, namespace, p.metadata!.name!, config.podTimeout * 1000)),
    );
  });
}

export async function createService(
  t: TestEnv,
  namespace: string,
  body: k8s.V1Service,
): Promise<k8s.V1Service> {
  return t.ctx.kube.core.createNamespacedService({ namespace, body });
}

/** The EndpointSlices of a Service once they list `count` ready endpoints. */
export async function waitForEndpoints(
  t: TestEnv,
  namespace: string,
  service: string,
  count: number,
): Promise<k8s.V1EndpointSlice[]> {
  return t.time('endpoints ready', () =>
    poll(
      `EndpointSlices of ${namespace}/${service} with ${count} ready endpoint(s)`,
      { timeoutMs: t.ctx.config.ruleTimeout * 1000 },
      async () => {
        const slices = (
          await t.ctx.kube.discovery.listNamespacedEndpointSlice({
            namespace,
            labelSelector: `kubernetes.io/service-name=${service}`,
          })
        ).items;
        const ready = slices
          .flatMap((s) => s.endpoints ?? [])
          .filter((e) => e.conditions?.ready !== false).length;
        if (ready >= count) return slices;
        throw new Error(`${slices.length} slice(s), ${ready} ready endpoint(s)`);
      },
    ),
  );
}
