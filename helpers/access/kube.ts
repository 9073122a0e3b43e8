/**
 * API access: loading the kubeconfig with errors a person can act on, the
 * typed clients, and the few API waits every test needs.
 */
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { Config } from '../framework/config.ts';
import { SuiteError, errorText } from '../framework/errors.ts';
import { poll, StopWaiting } from '../framework/poll.ts';

export interface Kube {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  discovery: k8s.DiscoveryV1Api;
  networking: k8s.NetworkingV1Api;
  authz: k8s.AuthorizationV1Api;
  exec: k8s.Exec;
  server: string;
}

export function loadKubeConfig(config: Pick<Config, 'kubeconfig' | 'context'>): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const file = config.kubeconfig;
  try {
    if (file) {
      if (!existsSync(file))
        throw new SuiteError(`kubeconfig ${file} does not exist`, 'give a readable file with --kubeconfig');
      kc.loadFromFile(file);
    } else {
      kc.loadFromDefault();
    }
  } catch (err) {
    if (err instanceof SuiteError) throw err;
    throw new SuiteError(
      `cannot load kubeconfig${file ? ` ${file}` : ''}: ${errorText(err).split('\n')[0]}`,
      'check the file is a valid kubeconfig',
    );
  }
  if (config.context) {
    if (!kc.getContexts().some((c) => c.name === config.context)) {
      throw new SuiteError(
        `context "${config.context}" is not in the kubeconfig`,
        `use one of: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(', ') || '(none)'
        }`,
      );
    }
    kc.setCurrentContext(config.context);
  }
  const cluster = kc.getCurrentCluster();
  // loadFromDefault() silently falls back to http://localhost:8080 when it
  // finds no configuration at all; that is never a cluster the user meant.
  if (
    !cluster ||
    (!file &&
      !process.env.KUBECONFIG &&
      cluster.server === 'http://localhost:8080' &&
      kc.getContexts().length <= 1 &&
      cluster.name === 'cluster')
  ) {
    throw new SuiteError(
      'no kubeconfig found (the client would silently fall back to http://localhost:8080)',
      'give --kubeconfig, set KUBECONFIG, or start the local cluster with `sctp-e2e cluster up`',
    );
  }
  return kc;
}

export function makeKube(kc: k8s.KubeConfig): Kube {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    discovery: kc.makeApiClient(k8s.DiscoveryV1Api),
    networking: kc.makeApiClient(k8s.NetworkingV1Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    exec: new k8s.Exec(kc),
    server: kc.getCurrentCluster()?.server ?? '?',
  };
}

/**
 * Who the suite acts as, for error messages: in a pod (`sctp-e2e job`, the
 * Sonobuoy plugin) client-node's in-cluster config names its user
 * "inClusterUser" and the credentials are the pod's service account.
 */
export function identityOf(kc: k8s.KubeConfig): string {
  return kc.getCurrentUser()?.name === 'inClusterUser' ? "the pod's service account" : 'the kubeconfig user';
}

/** HTTP status of an API error, or undefined when it is not one. */
export function apiStatus(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? err.code : undefined;
}

/** The API's own message from an ApiException body, else the error text. */
export function apiMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    try {
      const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
      if (body?.message) return `${body.message} (HTTP ${err.code})`;
    } catch {
      /* not JSON: fall through */
    }
    return `HTTP ${err.code}`;
  }
  return errorText(err);
}

/** First contact with the API, turned into one clear line when it fails. */
export async function checkApi(kube: Kube): Promise<string> {
  try {
    const version = await kube.kc.makeApiClient(k8s.VersionApi).getCode();
    return version.gitVersion;
  } catch (err) {
    const status = apiStatus(err);
    if (status === 401)
      throw new SuiteError(
        `the API server at ${kube.server} rejected the credentials (401)`,
        `check ${identityOf(kube.kc)}`,
      );
    if (status === 403)
      throw new SuiteError(
        `the API server at ${kube.server} refused access (403)`,
        `${identityOf(kube.kc)} needs RBAC to read /version`,
      );
    const text = errorText(err);
    const cause =
      (err as { cause?: { code?: string } }).cause?.code ??
      /(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|certificate|self.signed)/i.exec(text)?.[0] ??
      text.split('\n')[0];
    throw new SuiteError(
      `cannot reach the API server at ${kube.server}: ${cause}`,
      'check the cluster is up and the kubeconfig points at it',
    );
  }
}

/** Waiting reasons that mean the node cannot get the image: waiting longer does not help. */
const PULL_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);

/** Where a pod stands on its way to Running, read from its status alone. */
export interface PodProgress {
  ready: boolean;
  /** What the pod is doing, for "waiting for …" lines: "Pending, ContainerCreating". */
  seen: string;
  /** A container whose image cannot be pulled, if any. */
  pullFailure?: { container: string; image: string; reason: string; message: string };
}

export function podProgress(pod: k8s.V1Pod): PodProgress {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const failing = statuses.find((c) => PULL_FAILURES.has(c.state?.waiting?.reason ?? ''));
  const reasons = statuses
    .map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason)
    .filter(Boolean);
  return {
    ready: pod.status?.phase === 'Running' && ready && Boolean(pod.status.podIP),
    seen: [pod.status?.phase ?? 'no status yet', ...reasons].join(', '),
    pullFailure: failing && {
      container: failing.name,
      image: failing.image,
      reason: failing.state!.waiting!.reason!,
      message: (failing.state!.waiting!.message ?? '').split('\n')[0].slice(0, 200),
    },
  };
}

export interface PodWait {
  /** How the console names the pod: "host-exec pod on node1" (default: namespace/name). */
  what?: string;
  /** The flag that chooses this pod's image, for the fix when it cannot be pulled. */
  imageFlag?: string;
}

/**
 * Waits until the pod runs and is ready. Says what it waits for once the
 * wait is long enough to notice; an image the node cannot pull ends the wait
 * at once (a SuiteError naming the image and the flag that changes it) instead
 * of after the whole pod timeout.
 */
export async function waitForPodRunning(
  kube: Kube,
  namespace: string,
  name: string,
  timeoutMs: number,
  wait: PodWait = {},
): Promise<k8s.V1Pod> {
  return poll(
    `${wait.what ?? `pod ${namespace}/${name}`} to be Running and Ready`,
    { timeoutMs, intervalMs: 300, announceAfterMs: 3000 },
    async () => {
      const pod = await kube.core.readNamespacedPod({ namespace, name });
      const progress = podProgress(pod);
      if (progress.ready) return pod;
      const pull = progress.pullFailure;
      if (pull)
        throw new StopWaiting(
          new SuiteError(
            `${wait.what ?? `pod ${namespace}/${name}`}: the node cannot pull image ${pull.image} (${pull.reason}${pull.message ? `: ${pull.message}` : ''})`,
            `give an image the nodes can pull with ${wait.imageFlag ?? '--agent-image (the usrsctp agent), --agnhost-image or --host-exec-image'}`,
          ),
        );
      throw new Error(`phase ${progress.seen}`);
    },
  );
}
