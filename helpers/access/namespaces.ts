/**
 * Every object a run creates lives in a namespace labelled with the run id,
 * so that the run removes it, and `sctp-e2e cleanup` finds leftovers of runs
 * that crashed.
 */
import { perProcess } from '../framework/per-process.ts';
import type { Kube } from './kube.ts';
import { apiStatus } from './kube.ts';
import type { Cleanup } from '../framework/cleanup.ts';
import { poll, sleep } from '../framework/poll.ts';

export const RUN_LABEL = 'sctp-e2e.io/run';
export const NAMESPACE_PREFIX = 'sctp-e2e-';

export function namespaceName(runId: string, purpose: string): string {
  return `${NAMESPACE_PREFIX}${runId}-${purpose}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
}

/**
 * The run-level record of namespace creation, shared by every test: once the
 * run stops (a signal), no new namespace may appear, and a create already on
 * its way is awaited so that the final sweep by the run label sees it. One
 * per process, as the open run (see per-process.ts).
 */
interface Creations {
  stopping: boolean;
  inFlight: Set<Promise<unknown>>;
}
const creations = perProcess<Creations>('namespace-creations', () => ({
  stopping: false,
  inFlight: new Set(),
}));

export class RunStopping extends Error {
  constructor(name: string) {
    super(`not creating namespace ${name}: the run is stopping`);
    this.name = 'RunStopping';
  }
}

/**
 * Refuses every later createRunNamespace and waits (at most `timeoutMs`) for
 * the creates already sent, so that none lands after the sweep that follows.
 */
export async function stopCreatingNamespaces(timeoutMs = 10_000): Promise<void> {
  creations.stopping = true;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...creations.inFlight]),
    new Promise((r) => (timer = setTimeout(r, timeoutMs))),
  ]);
  clearTimeout(timer);
}

/** Lets namespaces be created again (a new run in the same process: the project's tests). */
export function allowCreatingNamespaces(): void {
  creations.stopping = false;
}

export async function createRunNamespace(
  kube: Kube,
  runId: string,
  purpose: string,
  cleanup: Cleanup,
  options: { privileged?: boolean; labels?: Record<string, string> } = {},
): Promise<string> {
  const name = namespaceName(runId, purpose);
  if (creations.stopping) throw new RunStopping(name);
  const labels: Record<string, string> = {
    [RUN_LABEL]: runId,
    'sctp-e2e.io/purpose': purpose.slice(0, 63),
    ...options.labels,
  };
  // Host-exec and hostNetwork pods need the privileged Pod Security level.
  if (options.privileged) labels['pod-security.kubernetes.io/enforce'] = 'privileged';
  const creating = kube.core.createNamespace({ body: { metadata: { name, labels } } });
  creations.inFlight.add(creating);
  try {
    await creating;
  } finally {
    creations.inFlight.delete(creating);
  }
  cleanup.push(`namespace ${name}`, () => deleteNamespace(kube, name));
  // The API accepts pods only once the service account exists.
  await poll(
    `default service account in ${name}`,
    { timeoutMs: 30_000, intervalMs: 200, announceAfterMs: 5000 },
    async () => {
      await kube.core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return true;
    },
  );
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

/**
 * Deletes every namespace of the run (found by its label, whoever made it)
 * and waits, at most `timeoutMs`, until the API lists none; returns those
 * still there at the deadline. Each round deletes again what is listed, so a
 * namespace that appears late is removed as well.
 */
export async function sweepRunNamespaces(
  kube: Kube,
  runId: string,
  timeoutMs: number,
  onDeleted: (names: string[]) => void = () => {},
): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const deleted = new Set<string>();
  for (;;) {
    const list = await kube.core.listNamespace({ labelSelector: `${RUN_LABEL}=${runId}` });
    const present = list.items.map((n) => n.metadata!.name!);
    const fresh = list.items.filter((n) => !n.metadata?.deletionTimestamp).map((n) => n.metadata!.name!);
    await Promise.all(fresh.map((ns) => deleteNamespace(kube, ns)));
    const newly = fresh.filter((ns) => !deleted.has(ns));
    newly.forEach((ns) => deleted.add(ns));
    if (newly.length) onDeleted(newly);
    if (present.length === 0 || Date.now() >= deadline) return present;
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
  }
}
