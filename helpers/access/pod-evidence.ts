/**
 * On a failed test, the pods of its namespaces (state, the tail of each
 * container's log) and the namespaces' events, read before cleanup removes
 * them: often the only trace of an image that did not pull, a container that
 * crashed or a probe that the agent itself logged as refused.
 */
import type * as k8s from '@kubernetes/client-node';
import { errorText } from '../framework/errors.ts';
import { apiMessage, type Kube } from './kube.ts';

const LOG_LINES = 40;
const LINE_CHARS = 300;
/** The API may be what is broken: evidence must not hold up the verdict for long. */
const DEADLINE_MS = 20_000;

const clip = (line: string) => (line.length > LINE_CHARS ? `${line.slice(0, LINE_CHARS)}…` : line);

function podLine(p: k8s.V1Pod): string {
  const statuses = (p.status?.containerStatuses ?? []).map((c) => {
    const state =
      c.state?.waiting?.reason ?? c.state?.terminated?.reason ?? (c.state?.running ? 'running' : '?');
    return `${c.name}=${state}${c.ready ? ' ready' : ''}${c.restartCount ? ` restarts ${c.restartCount}` : ''}`;
  });
  return `pod ${p.metadata?.name} on ${p.spec?.nodeName ?? '(not scheduled)'}: ${p.status?.phase ?? '?'}, IP ${p.status?.podIP ?? '-'}${statuses.length ? `, ${statuses.join(', ')}` : ''}`;
}

async function podLogs(kube: Kube, namespace: string, pod: k8s.V1Pod): Promise<string> {
  const name = pod.metadata!.name!;
  const parts: string[] = [];
  for (const c of pod.spec?.containers ?? []) {
    let text: string;
    try {
      text =
        (await kube.core.readNamespacedPodLog({
          namespace,
          name,
          container: c.name,
          tailLines: LOG_LINES,
        })) || '(empty)';
    } catch (err) {
      text = `(no log: ${apiMessage(err)})`;
    }
    parts.push(
      `--- log of ${name}/${c.name} (last ${LOG_LINES} lines)\n${text.trimEnd().split('\n').map(clip).join('\n')}`,
    );
  }
  return parts.join('\n');
}

const eventTime = (e: k8s.CoreV1Event) =>
  new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata?.creationTimestamp ?? 0);

function eventLine(e: k8s.CoreV1Event): string {
  const t = eventTime(e).toISOString().slice(11, 19);
  const what = `${e.involvedObject?.kind ?? '?'}/${e.involvedObject?.name ?? '?'}`;
  return clip(
    `${t} ${e.type ?? ''} ${e.reason ?? ''} ${what}${e.count && e.count > 1 ? ` (x${e.count})` : ''}: ${(e.message ?? '').trim()}`,
  );
}

async function namespaceEvidence(kube: Kube, namespace: string): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = [];
  try {
    const pods = (await kube.core.listNamespacedPod({ namespace })).items;
    const logs = await Promise.all(pods.map((p) => podLogs(kube, namespace, p)));
    out.push([
      `pods and logs in ${namespace}`,
      pods.length ? [...pods.map(podLine), '', ...logs].join('\n') : 'no pods',
    ]);
  } catch (err) {
    out.push([`pods and logs in ${namespace}`, `cannot list pods: ${apiMessage(err)}`]);
  }
  try {
    const events = (await kube.core.listNamespacedEvent({ namespace })).items.sort(
      (a, b) => eventTime(a).getTime() - eventTime(b).getTime(),
    );
    out.push([`events in ${namespace}`, events.length ? events.map(eventLine).join('\n') : 'no events']);
  } catch (err) {
    out.push([`events in ${namespace}`, `cannot list events: ${apiMessage(err)}`]);
  }
  return out;
}

/** Evidence entries (name, text) for each namespace; never throws. */
export async function podsAndEvents(
  kube: Kube,
  namespaces: readonly string[],
): Promise<Array<[string, string]>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Array<[string, string]>>((resolve) => {
    timer = setTimeout(
      () =>
        resolve([
          ['pods and events', `not collected: the API did not answer within ${DEADLINE_MS / 1000} s`],
        ]),
      DEADLINE_MS,
    );
  });
  try {
    const collected = Promise.all(namespaces.map((ns) => namespaceEvidence(kube, ns))).then((r) => r.flat());
    return await Promise.race([collected, deadline]);
  } catch (err) {
    return [['pods and events', `not collected: ${errorText(err)}`]];
  } finally {
    clearTimeout(timer);
  }
}
