/**
 * The x/y/z model deployed once and reused by every truth-table scenario, as
 * upstream's NetworkPolicy framework does: only policies change between
 * scenarios. Deploying 3 namespaces × 3 pods took 7–15 s of each ~25 s
 * scenario on the 2-core machine.
 *
 * What reuse must not cost:
 *  - a scenario starts from no policy: `use` refuses to hand out a model
 *    whose namespaces still hold a NetworkPolicy it cannot remove, and each
 *    scenario still checks the whole matrix connected (its baseline) before
 *    its own policy, so a leftover rule shows there, not as a false verdict;
 *  - a pod that is gone, restarted elsewhere or no longer Running is not
 *    probed as if it were the one deployed: the model is deployed anew;
 *  - the namespaces are the run's (labelled with the run id): `remove` after
 *    the last scenario, and the run's final sweep catches them on Ctrl-C.
 */
import type * as k8s from '@kubernetes/client-node';
import { pod } from '../../fixtures/objects.ts';
import { Cleanup } from '../framework/cleanup.ts';
import { errorText, TestError } from '../framework/errors.ts';
import { nodeNames } from '../framework/run-context.ts';
import type { TestEnv } from '../framework/sctp-test.ts';
import { createRunNamespace } from '../access/namespaces.ts';
import { PodSessions } from '../probing/pod-session.ts';
import { startPods } from '../probing/workloads.ts';
import { NAMESPACES, PODS, namespaceLabels, podLabels, type ModelNamespace } from './model.ts';
import type { DeployedPod, ExecFor } from './probe.ts';

const CONTAINER = 'agent';

export interface DeployedModel {
  namespaces: Record<ModelNamespace, string>;
  pods: DeployedPod[];
  /** Which scenario deployed it, for the evidence of those that reuse it. */
  deployedBy: string;
  /** Which pods run on which node ("node1: x/a x/c …; node2: x/b …"). */
  placement: string;
  /** Runs commands in a model pod through one exec session per pod, kept while the model lives. */
  exec: ExecFor;
}

export class SharedModel {
  private current?: Promise<DeployedModel>;
  private cleanup = new Cleanup();
  private sessions?: PodSessions;
  private generation = 0;

  /**
   * The model, Running and without policies, for scenario `title`; how it
   * was obtained goes to `note` (deployed, reused, or deployed anew and why).
   */
  async use(t: TestEnv, title: string, note: (line: string) => void): Promise<DeployedModel> {
    const existing = this.current && (await this.current.catch(() => undefined));
    if (existing) {
      t.uses(...Object.values(existing.namespaces));
      const problem = await this.podProblem(t, existing);
      if (!problem) {
        await this.deleteLeftPolicies(t, existing, note);
        note(`reused the model deployed by "${existing.deployedBy}"`);
        return existing;
      }
      note(`deployed the model anew: ${problem}`);
      await this.remove();
    }
    this.current = this.deploy(t, title);
    // A failed deploy is this scenario's failure; the next one tries again.
    this.current.catch(() => (this.current = undefined));
    const model = await this.current;
    if (!existing) note(`deployed the model (namespaces x, y, z and 9 pods; ${model.placement})`);
    return model;
  }

  /** Deletes the model's namespaces without waiting for them to go; never throws (the run's sweep checks). */
  async remove(): Promise<string[]> {
    this.current = undefined;
    this.sessions?.close();
    this.sessions = undefined;
    const done = this.cleanup;
    this.cleanup = new Cleanup();
    return done.run();
  }

  private async deploy(t: TestEnv, title: string): Promise<DeployedModel> {
    const { kube, config, agent } = t.ctx;
    const generation = ++this.generation;
    const names = await Promise.all(
      NAMESPACES.map((ns) =>
        createRunNamespace(kube, config.runId, `np${generation}-${ns}`, this.cleanup, {
          labels: namespaceLabels(ns),
        }),
      ),
    );
    t.uses(...names);
    const namespaces = Object.fromEntries(NAMESPACES.map((ns, i) => [ns, names[i]])) as Record<
      ModelNamespace,
      string
    >;
    // Each namespace's pods spread over the nodes in turn, so on a cluster
    // of several nodes every policy is judged on flows within a node and
    // between nodes (the scheduler alone may put them all on one).
    const nodes = nodeNames(t.ctx);
    const nodeOf = (i: number, j: number): string => nodes[(i * PODS.length + j) % nodes.length];
    const started = await Promise.all(
      NAMESPACES.map((ns, i) =>
        startPods(
          t,
          namespaces[ns],
          PODS.map((p, j) =>
            pod(p, [agent.server(CONTAINER, { sctp: [80, 81] })], {
              labels: podLabels(p),
              node: nodeOf(i, j),
            }),
          ),
        ),
      ),
    );
    const byNode = nodes.map(
      (n) =>
        `${n}: ${NAMESPACES.flatMap((ns, i) => PODS.filter((_, j) => nodeOf(i, j) === n).map((p) => `${ns}/${p}`)).join(' ')}`,
    );
    const pods = NAMESPACES.flatMap((ns, i) =>
      PODS.map((p, j): DeployedPod => {
        const ip = started[i][j].status?.podIP;
        if (!ip) throw new Error(`pod ${namespaces[ns]}/${p} is Running without a pod IP`);
        return { ns, pod: p, namespace: namespaces[ns], name: p, container: CONTAINER, ip };
      }),
    );
    const sessions = (this.sessions = new PodSessions(kube));
    const exec: ExecFor = (p) => sessions.executor(p.namespace, p.name, p.container);
    // Every pod's exec session opens now, with the model, rather than in the
    // first scenario's baseline round (nine execs at once take about a second
    // on the 2-core machine), so each scenario's probing costs the same. One
    // that cannot open is left to the first probe, which opens it again and
    // reports why as that scenario's error.
    await Promise.all(pods.map((p) => exec(p)(['true']).catch(() => undefined)));
    return { namespaces, pods, deployedBy: title, placement: byNode.join('; '), exec };
  }

  /** Why `model`'s pods cannot serve the next scenario: one not Running, without restarts, at the IP it was probed at. */
  private async podProblem(t: TestEnv, model: DeployedModel): Promise<string | undefined> {
    const lists = await Promise.all(
      Object.values(model.namespaces).map((namespace) => t.ctx.kube.core.listNamespacedPod({ namespace })),
    );
    const live = new Map<string, k8s.V1Pod>(
      lists.flatMap((l) => l.items.map((p) => [`${p.metadata?.namespace}/${p.metadata?.name}`, p] as const)),
    );
    for (const p of model.pods) {
      const now = live.get(`${p.namespace}/${p.name}`);
      if (!now) return `pod ${p.namespace}/${p.name} is gone`;
      if (now.metadata?.deletionTimestamp) return `pod ${p.namespace}/${p.name} is being deleted`;
      if (now.status?.phase !== 'Running' || now.status.podIP !== p.ip)
        return `pod ${p.namespace}/${p.name} is ${now.status?.phase ?? 'in no phase'} with IP ${now.status?.podIP ?? 'none'} (was Running with ${p.ip})`;
      const restarts = (now.status.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
      if (restarts > 0) return `pod ${p.namespace}/${p.name} restarted ${restarts} time(s)`;
    }
    return undefined;
  }

  /**
   * Deletes the NetworkPolicies an earlier scenario left in the model (its
   * cleanup failed). One that cannot be deleted is a suite problem: the
   * scenario would judge another's policy.
   */
  private async deleteLeftPolicies(
    t: TestEnv,
    model: DeployedModel,
    note: (line: string) => void,
  ): Promise<void> {
    const { kube } = t.ctx;
    const lists = await Promise.all(
      Object.values(model.namespaces).map((namespace) =>
        kube.networking.listNamespacedNetworkPolicy({ namespace }),
      ),
    );
    const left = lists.flatMap((l) =>
      l.items.map((p) => [p.metadata!.namespace!, p.metadata!.name!] as const),
    );
    if (left.length === 0) return;
    const named = left.map(([ns, n]) => `${ns}/${n}`).join(', ');
    note(`deleted NetworkPolicies an earlier scenario left: ${named}`);
    try {
      await Promise.all(
        left.map(([namespace, name]) => kube.networking.deleteNamespacedNetworkPolicy({ namespace, name })),
      );
    } catch (err) {
      throw new TestError(
        `the shared truth-table model still holds NetworkPolicies of an earlier scenario and they cannot be deleted: ${named}`,
        errorText(err),
      );
    }
  }
}
