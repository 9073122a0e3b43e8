/**
 * `sctp-e2e job`: the suite run where nightly CI runs it, inside the cluster.
 *
 * It creates, all labelled `sctp-e2e.io/run=<run id>`:
 *  - a namespace `sctp-e2e-<run id>-job` with a ServiceAccount;
 *  - a ClusterRole and ClusterRoleBinding `sctp-e2e-<run id>` granting that
 *    ServiceAccount exactly REQUIRED_ACCESS (helpers/access/rbac.ts, the list the
 *    run's own RBAC preflight checks) and nothing more;
 *  - a ConfigMap with the --known profile, when one is given;
 *  - a Job running `sctp-e2e run` in the suite image with in-cluster config,
 *    `--node-access pod` and this run's settings as SCTP_E2E_* variables.
 * It streams the pod's output, copies the reports out of it (tar over exec)
 * into --report-dir, exits with the in-cluster run's exit code, and removes
 * everything on success, failure and Ctrl-C (`--keep` leaves it).
 *
 * The run inside the pod is named `<run id>-in`, so that its namespaces are
 * removed with the job's even when the pod dies before it cleans up.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import { envName, SETTINGS, type Config } from '../framework/config.ts';
import { Cleanup } from '../framework/cleanup.ts';
import { SuiteError, errorText } from '../framework/errors.ts';
import { apiMessage, apiStatus, checkApi, loadKubeConfig, makeKube, type Kube } from '../access/kube.ts';
import { deleteNamespace, listRunNamespaces, namespaceName, RUN_LABEL } from '../access/namespaces.ts';
import { podExec } from '../access/node-access.ts';
import { poll, PollTimeout, StopWaiting } from '../framework/poll.ts';
import { clusterRoleRules } from '../access/rbac.ts';

const CONTAINER = 'suite';
const REPORTS = '/reports';
const KNOWN_DIR = '/etc/sctp-e2e';
/** Printed by the pod when the run is over; the pod then waits for `job` to copy the reports. */
const DONE_MARKER = 'sctp-e2e-job: run exited ';
/** How long the pod waits for the reports to be copied before it ends anyway. */
const COPY_WAIT_SECONDS = 600;

/**
 * Settings that make no sense inside the pod: how to reach the API and the
 * nodes from here, this machine's outside client, and where files go here.
 * The outside tests skip in-cluster, saying no --external-agent is set
 * (--external-ip-range is passed: Services may still declare such an IP).
 */
const NOT_PASSED = new Set<keyof Config>([
  'kubeconfig',
  'context',
  'nodeAccess',
  'sshUser',
  'sshKey',
  'sshPort',
  'sshAddressType',
  'sshJumpHost',
  'externalAgent',
  'reportDir',
  'known',
  'suiteImage',
]);

export interface JobNames {
  runId: string;
  /** The run id of the `sctp-e2e run` inside the pod. */
  innerRunId: string;
  namespace: string;
  serviceAccount: string;
  /** ClusterRole and ClusterRoleBinding (cluster-scoped: named with the run id). */
  clusterRole: string;
  job: string;
}

export function jobNames(runId: string): JobNames {
  return {
    runId,
    innerRunId: `${runId}-in`,
    namespace: namespaceName(runId, 'job'),
    serviceAccount: 'sctp-e2e',
    clusterRole: `sctp-e2e-${runId}`,
    job: 'sctp-e2e',
  };
}

/** The SCTP_E2E_* variables of the run inside the pod. */
export function podEnv(config: Config, names: JobNames): k8s.V1EnvVar[] {
  const env: k8s.V1EnvVar[] = [];
  for (const s of SETTINGS) {
    const value = config[s.name];
    if (NOT_PASSED.has(s.name) || value === undefined) continue;
    env.push({ name: envName(s.name), value: String(value) });
  }
  env.push(
    { name: 'SCTP_E2E_NODE_ACCESS', value: 'pod' },
    { name: 'SCTP_E2E_REPORT_DIR', value: REPORTS },
    { name: 'SCTP_E2E_RUN_ID', value: names.innerRunId },
    { name: 'HOME', value: '/tmp' },
  );
  if (config.known) env.push({ name: 'SCTP_E2E_KNOWN', value: `${KNOWN_DIR}/known.yaml` });
  return env;
}

/**
 * The pod's script: the run, then a wait for `job` to copy the reports, then
 * the run's exit code. The shell is the container's PID 1, which the kernel
 * spares every signal it has no handler for: so it passes the SIGTERM of the
 * pod's deletion on to the run, whose own cleanup then removes its
 * namespaces (without it the pod sat out its whole grace period, and the run
 * never knew). `wait` returns early when the trap runs; the loop waits on
 * until the run has exited, for its exit code. Once it has, a SIGTERM ends
 * the wait for the copy.
 */
const POD_SCRIPT = `/app/bin/sctp-e2e run & run=$!
trap 'kill -TERM $run 2>/dev/null' TERM INT
wait $run; code=$?
while kill -0 $run 2>/dev/null; do wait $run; code=$?; done
trap 'exit $code' TERM INT
echo $code > ${REPORTS}/.exit-code
echo "${DONE_MARKER}$code"
i=0; while [ ! -e ${REPORTS}/.copied ] && [ $i -lt ${COPY_WAIT_SECONDS} ]; do sleep 1; i=$((i+1)); done
exit $code`;

export interface JobObjects {
  namespace: k8s.V1Namespace;
  serviceAccount: k8s.V1ServiceAccount;
  clusterRole: k8s.V1ClusterRole;
  binding: k8s.V1ClusterRoleBinding;
  knownProfile?: k8s.V1ConfigMap;
  job: k8s.V1Job;
}

/** Everything `job` creates, as data; `rules` defaults to exactly REQUIRED_ACCESS. */
export function jobObjects(
  config: Config,
  names: JobNames,
  rules: k8s.V1PolicyRule[] = clusterRoleRules(),
): JobObjects {
  const labels = { [RUN_LABEL]: names.runId, 'sctp-e2e.io/purpose': 'job' };
  const meta = (name: string) => ({ name, namespace: names.namespace, labels });
  const knownProfile: k8s.V1ConfigMap | undefined = config.known
    ? { metadata: meta('known-profile'), data: { 'known.yaml': readFileSync(config.known, 'utf8') } }
    : undefined;
  return {
    namespace: { metadata: { name: names.namespace, labels } },
    serviceAccount: { metadata: meta(names.serviceAccount) },
    clusterRole: { metadata: { name: names.clusterRole, labels }, rules },
    binding: {
      metadata: { name: names.clusterRole, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: names.clusterRole },
      subjects: [{ kind: 'ServiceAccount', name: names.serviceAccount, namespace: names.namespace }],
    },
    knownProfile,
    job: {
      metadata: meta(names.job),
      spec: {
        backoffLimit: 0, // a failed run is a verdict, not something to retry
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: names.serviceAccount,
            restartPolicy: 'Never',
            // Time for the run's own SIGTERM cleanup of its namespaces.
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: CONTAINER,
                image: config.suiteImage,
                imagePullPolicy: 'IfNotPresent',
                command: ['/bin/sh', '-c', POD_SCRIPT],
                env: podEnv(config, names),
                volumeMounts: [
                  { name: 'reports', mountPath: REPORTS },
                  ...(knownProfile ? [{ name: 'known', mountPath: KNOWN_DIR, readOnly: true }] : []),
                ],
              },
            ],
            volumes: [
              { name: 'reports', emptyDir: {} },
              ...(knownProfile ? [{ name: 'known', configMap: { name: 'known-profile' } }] : []),
            ],
          },
        },
      },
    },
  };
}

interface Apis {
  kube: Kube;
  rbac: k8s.RbacAuthorizationV1Api;
  batch: k8s.BatchV1Api;
}

function apis(kube: Kube): Apis {
  return {
    kube,
    rbac: kube.kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    batch: kube.kc.makeApiClient(k8s.BatchV1Api),
  };
}

/** Creates the objects, pushing how to remove each; a refusal is exit 2 naming it. */
export async function createJobObjects(a: Apis, objects: JobObjects, cleanup: Cleanup): Promise<void> {
  const { namespace, serviceAccount, clusterRole, binding, knownProfile, job } = objects;
  const ns = namespace.metadata!.name!;
  const create = async (what: string, call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (err) {
      throw new SuiteError(
        `cannot create ${what}: ${apiMessage(err).split('\n')[0]}`,
        'the kubeconfig user needs to create namespaces, ServiceAccounts, Jobs, ClusterRoles and ClusterRoleBindings (cluster-admin works)',
      );
    }
  };
  // Cluster-scoped first in the undo stack, so they go last: the pod's run
  // keeps its permissions while it removes its own namespaces on SIGTERM.
  await create(`ClusterRole ${clusterRole.metadata!.name}`, () =>
    a.rbac.createClusterRole({ body: clusterRole }),
  );
  cleanup.push(`ClusterRole ${clusterRole.metadata!.name}`, () =>
    ignore404(a.rbac.deleteClusterRole({ name: clusterRole.metadata!.name! })),
  );
  await create(`ClusterRoleBinding ${binding.metadata!.name}`, () =>
    a.rbac.createClusterRoleBinding({ body: binding }),
  );
  cleanup.push(`ClusterRoleBinding ${binding.metadata!.name}`, () =>
    ignore404(a.rbac.deleteClusterRoleBinding({ name: binding.metadata!.name! })),
  );
  await create(`namespace ${ns}`, () => a.kube.core.createNamespace({ body: namespace }));
  cleanup.push(`namespace ${ns} and its Job`, async () => {
    await stopJobPod(a, ns, job.metadata!.name!);
    await removeNamespaces(a.kube, ns);
  });
  await create(`ServiceAccount ${serviceAccount.metadata!.name}`, () =>
    a.kube.core.createNamespacedServiceAccount({ namespace: ns, body: serviceAccount }),
  );
  if (knownProfile)
    await create('the known-profile ConfigMap', () =>
      a.kube.core.createNamespacedConfigMap({ namespace: ns, body: knownProfile }),
    );
  await create(`Job ${job.metadata!.name}`, () => a.batch.createNamespacedJob({ namespace: ns, body: job }));
}

async function ignore404(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (err) {
    if (apiStatus(err) !== 404) throw err;
  }
}

/**
 * Stops the Job's pod while it still runs, and waits (at most 40 s) until it
 * has ended, before its namespace goes: the SIGTERM lets the pod's run remove
 * its namespaces, which takes a few seconds. Left to the namespace's
 * deletion, a running pod's grace period (30 s) is also how long the
 * namespace controller waits before it looks again, however soon the pod
 * ended (a Ctrl-C took 33 s). A pod that has ended costs the namespace
 * nothing and is left to it; the Job goes first (its pods orphaned), so
 * that nothing starts another pod.
 */
async function stopJobPod(a: Apis, ns: string, jobName: string): Promise<void> {
  await ignore404(a.batch.deleteNamespacedJob({ namespace: ns, name: jobName, propagationPolicy: 'Orphan' }));
  await poll(
    `the suite pod of Job ${ns}/${jobName} to end`,
    { timeoutMs: 40_000, intervalMs: 500 },
    async () => {
      const pods = await a.kube.core.listNamespacedPod({
        namespace: ns,
        labelSelector: `job-name=${jobName}`,
      });
      const running = pods.items.filter((p) => !['Succeeded', 'Failed'].includes(p.status?.phase ?? ''));
      for (const p of running)
        if (!p.metadata?.deletionTimestamp)
          await ignore404(a.kube.core.deleteNamespacedPod({ namespace: ns, name: p.metadata!.name! }));
      if (running.length === 0) return true;
      throw new Error(running.map((p) => `${p.metadata!.name} ${p.status?.phase}`).join(', '));
    },
  ).catch((err) => {
    if (!(err instanceof PollTimeout)) throw err;
  });
}

/**
 * Deletes the job's namespace and then the inner run's, and waits (at most
 * 45 s) until the API lists none: the pod's SIGTERM lets the inner run remove
 * its namespaces itself first, and whatever it leaves is removed here.
 */
async function removeNamespaces(kube: Kube, jobNamespace: string): Promise<void> {
  const runId = jobNamespace.replace(/^sctp-e2e-/, '').replace(/-job$/, '');
  await deleteNamespace(kube, jobNamespace);
  const mine = async () => [
    ...(await listRunNamespaces(kube, runId)),
    ...(await listRunNamespaces(kube, `${runId}-in`)),
  ];
  await poll(
    `the namespaces of run ${runId} to be gone`,
    { timeoutMs: 45_000, intervalMs: 1000 },
    async () => {
      const left = await mine();
      // The job's own namespace goes first; once it is gone the pod is too,
      // so whatever the inner run left can be deleted without racing it.
      if (!left.includes(jobNamespace)) for (const ns of left) await deleteNamespace(kube, ns);
      if (left.length === 0) return true;
      throw new Error(`still there: ${left.join(' ')}`);
    },
  );
}

/** The job's pod once it runs; exit 2 when it cannot start (image, admission, quota). */
async function waitForPod(a: Apis, names: JobNames, timeoutMs: number): Promise<string> {
  const ns = names.namespace;
  let last = 'no pod yet';
  try {
    return await poll(
      `the suite pod of Job ${ns}/${names.job} to start`,
      { timeoutMs, intervalMs: 500 },
      async () => {
        const pods = await a.kube.core.listNamespacedPod({
          namespace: ns,
          labelSelector: `job-name=${names.job}`,
        });
        const pod = pods.items[0];
        if (!pod) {
          const job = await a.batch.readNamespacedJob({ namespace: ns, name: names.job });
          const failed = job.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
          if (failed)
            throw new StopWaiting(new JobCannotStart(`the Job failed: ${failed.reason}: ${failed.message}`));
          const events = await a.kube.core.listNamespacedEvent({ namespace: ns });
          const warning = events.items.filter((e) => e.type === 'Warning').pop();
          last = warning ? `${warning.reason}: ${warning.message}` : 'no pod yet';
          throw new Error(last);
        }
        const state = pod.status?.containerStatuses?.[0]?.state;
        if (state?.running || state?.terminated) return pod.metadata!.name!;
        const reason = state?.waiting?.reason ?? pod.status?.phase ?? 'Pending';
        last = `${reason}${state?.waiting?.message ? `: ${state.waiting.message}` : ''}`;
        if (
          /ErrImagePull|ImagePullBackOff|InvalidImageName|ErrImageNeverPull|CreateContainerConfigError/.test(
            reason,
          )
        )
          throw new StopWaiting(new JobCannotStart(last));
        throw new Error(last);
      },
    );
  } catch (err) {
    const why = err instanceof JobCannotStart ? err.message : last;
    throw new SuiteError(
      `the suite pod of the Job in ${ns} cannot start: ${why.split('\n')[0]}`,
      'check the cluster can pull --suite-image (build images/suite/Dockerfile and push it to its registry)',
    );
  }
}

class JobCannotStart extends Error {}

/**
 * Copies the pod's output to `out` as it comes, line by line, until the run
 * is over (the done marker) or the container ends; returns the marker's code.
 * The API may close a followed log early, so it is reopened from the last
 * line's timestamp.
 */
async function streamLogs(
  a: Apis,
  ns: string,
  pod: string,
  out: (line: string) => void,
): Promise<number | undefined> {
  const log = new k8s.Log(a.kube.kc);
  let since: string | undefined;
  for (;;) {
    const stream = new PassThrough();
    let buffered = '';
    let code: number | undefined;
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) {
          const sp = line.indexOf(' ');
          const ts = timeKey(line.slice(0, sp));
          if (since && ts <= since) continue; // seen before the reopen
          since = ts;
          const text = line.slice(sp + 1);
          if (text.startsWith(DONE_MARKER)) code = Number(text.slice(DONE_MARKER.length));
          else out(text);
        }
      });
      stream.on('end', resolve);
      stream.on('error', () => resolve());
    });
    const controller = await log.log(ns, pod, CONTAINER, stream, {
      follow: true,
      timestamps: true,
      ...(since ? { sinceTime: since.replace(/\.\d+Z$/, 'Z') } : {}),
    });
    // Stop following once the marker is seen: the pod then waits for the copy.
    const marker = setInterval(() => {
      if (code !== undefined) {
        controller.abort();
        stream.end();
      }
    }, 200);
    await ended;
    clearInterval(marker);
    if (code !== undefined) return code;
    const pod_ = await a.kube.core.readNamespacedPod({ namespace: ns, name: pod });
    const terminated = pod_.status?.containerStatuses?.[0]?.state?.terminated;
    if (terminated) return undefined;
  }
}

/** RFC 3339 with nanoseconds trimmed of zeros, padded back so that text order is time order. */
function timeKey(ts: string): string {
  const m = /^([^.Z]*)(?:\.(\d+))?Z$/.exec(ts);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z` : ts;
}

/** Copies the pod's report dir into `dir` (tar over exec), then lets the pod end. */
async function copyReports(a: Apis, ns: string, pod: string, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'allure-results'), { recursive: true, force: true });
  const untar = spawn('tar', ['-x', '-C', dir], { stdio: ['pipe', 'inherit', 'pipe'] });
  let untarErr = '';
  untar.stderr.on('data', (d: Buffer) => (untarErr += d.toString()));
  const untarDone = new Promise<number>((resolve) => untar.on('close', (c) => resolve(c ?? -1)));
  let execErr = '';
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    a.kube.exec
      .exec(
        ns,
        pod,
        CONTAINER,
        ['tar', '-c', '-C', REPORTS, '.'],
        untar.stdin,
        new Writable({
          write(chunk, _enc, done) {
            execErr += chunk.toString();
            done();
          },
        }),
        null,
        false,
        resolve,
      )
      .catch(reject);
  });
  untar.stdin.end();
  const code = await untarDone;
  if (status.status !== 'Success' || code !== 0)
    throw new Error(`copying the reports failed: ${status.message ?? ''} ${execErr} ${untarErr}`.trim());
  rmSync(join(dir, '.exit-code'), { force: true }); // the pod's, not a report
  await podExec(a.kube, ns, pod, CONTAINER, ['touch', `${REPORTS}/.copied`]);
}

// The job being run, for Ctrl-C: its undo steps and whether to keep them.
let active: { cleanup: Cleanup; keep: boolean; names: JobNames } | undefined;

/** On a signal: removes what the running job created (unless --keep); no-op without one. */
export async function stopJob(say: (line: string) => void): Promise<void> {
  const job = active;
  active = undefined;
  if (!job) return;
  if (job.keep) {
    say(`--keep: left namespace ${job.names.namespace} and ClusterRole(Binding) ${job.names.clusterRole}`);
    return;
  }
  say(
    `removing the job's namespace ${job.names.namespace} and ClusterRole(Binding) ${job.names.clusterRole}`,
  );
  for (const f of await job.cleanup.run()) say(`cleanup: ${f}`);
}

export interface JobOptions {
  keep: boolean;
  /** Where the one line of an exit 2 inside goes (default: stderr). */
  err?: (line: string) => void;
  /** The ClusterRole's rules; only tests change them (to prove each one is needed). */
  rules?: k8s.V1PolicyRule[];
  /** Where the pod's output goes (default: stdout). */
  out?: (line: string) => void;
}

/** `sctp-e2e job`: the exit code of the in-cluster run (0/1/2), or a SuiteError. */
export async function jobCommand(config: Config, options: JobOptions): Promise<number> {
  const out = options.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const kube = makeKube(loadKubeConfig(config));
  await checkApi(kube);
  const a = apis(kube);
  const names = jobNames(config.runId);
  const objects = jobObjects(config, names, options.rules);
  const cleanup = new Cleanup();
  active = { cleanup, keep: options.keep, names };
  try {
    await createJobObjects(a, objects, cleanup);
    out(`sctp-e2e job ${names.runId}: Job ${names.namespace}/${names.job}, image ${config.suiteImage}`);
    const pod = await waitForPod(a, names, config.podTimeout * 1000);
    let lastError: string | undefined;
    const code = await streamLogs(a, names.namespace, pod, (line) => {
      if (line.startsWith('sctp-e2e: ')) lastError = line;
      out(line);
    });
    if (code === undefined)
      throw new SuiteError(
        `the suite pod ${names.namespace}/${pod} ended before its run finished`,
        `rerun with --keep and read \`kubectl -n ${names.namespace} describe pod ${pod}\``,
      );
    try {
      await copyReports(a, names.namespace, pod, config.reportDir);
      out(`reports copied to ${config.reportDir}`);
    } catch (err) {
      throw new SuiteError(
        errorText(err).split('\n')[0],
        'the run itself ended; rerun with --keep to inspect the pod',
      );
    }
    // Exit 2 inside: its one line is the job's one line too.
    if (code === 2 && lastError) err(lastError.replace(/^sctp-e2e: /, 'sctp-e2e: in-cluster run: '));
    return code;
  } finally {
    // After a signal, stopJob has taken the undo steps (the stack is empty).
    if (active?.cleanup === cleanup) active = undefined;
    if (options.keep)
      out(
        `--keep: left namespace ${names.namespace}, ClusterRole and ClusterRoleBinding ${names.clusterRole}`,
      );
    else for (const f of await cleanup.run()) err(`sctp-e2e: cleanup: ${f}`);
  }
}
