/**
 * Every object a run creates lives in a namespace labelled with the run id,
 * so that the run removes it, and `sctp-e2e cleanup` finds leftovers of runs
 * that crashed.
 */
import type { Kube } from './kube.ts';
import { apiStatus } from './kube.ts';
import type { Cleanup } from './cleanup.ts';
import { poll } from './poll.ts';

export const RUN_LABEL = 'sctp-e2e.io/run';
export const NAMESPACE_PREFIX = 'sctp-e2e-';

export function namespaceName(runId: string, purpose: string): string {
  return `${NAMESPACE_PREFIX}${runId}-${purpose}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
}

export async function createRunNamespace(
  kube: Kube,
  runId: string,
  purpose: string,
  cleanup: Cleanup,
  options: { privileged?: boolean; labels?: Record<string, string> } = {},
): Promise<string> {
  const name = namespaceName(runId, purpose);
  const labels: Record<string, string> = {
    [RUN_LABEL]: runId,
    'sctp-e2e.io/purpose': purpose.slice(0, 63),
    ...options.labels,
  };
  // Host-exec and hostNetwork pods need the privileged Pod Security level.
  if (options.privileged) labels['pod-security.kubernetes.io/enforce'] = 'privileged';
  await kube.core.createNamespace({ body: { metadata: { name, labels } } });
  cleanup.push(`namespace ${name}`, () => deleteNamespace(kube, name));
  // The API accepts pods only once the service account exists.
  await poll(`default service account in ${name}`, { timeoutMs: 30_000, intervalMs: 200 }, async () => {
    await kube.core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
    return true;
  });
  return name;
}

export async function deleteNamespace(kube: Kube, name: string): Promise<void> {
  try {
    await kube.core.deleteNamespace({
      name,
      body: { gracePeriodSeconds: 0, propagationPolicy: 'Background' },
    });
  } catch (err) {
    if (apiStatus(err) !== 404) throw err;
  }
}

/** Namespaces left by earlier runs (all runs, or one run id). */
export async function listRunNamespaces(kube: Kube, runId?: string): Promise<string[]> {
  const list = await kube.core.listNamespace({ labelSelector: runId ? `${RUN_LABEL}=${runId}` : RUN_LABEL });
  return list.items.map((n) => n.metadata!.name!);
}
