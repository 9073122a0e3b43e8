/**
 * The RBAC a run needs, in one place: the preflight checks each entry with a
 * SelfSubjectAccessReview before any test starts, and `sctp-e2e job` grants
 * exactly these to the suite's ServiceAccount (one ClusterRole rule per
 * resource), so the two can never drift apart.
 *
 * Every API call the suite makes is here (grep helpers/ and suites/ for
 * `kube.core.`, `kube.discovery.`, `kube.networking.`): objects live in the
 * run's namespaces, which it creates and deletes, so the verbs are
 * cluster-wide. Not listed, because every authenticated user has them:
 * /version and discovery (system:public-info-viewer, system:discovery) and
 * SelfSubjectAccessReviews (system:basic-user). Not listed either: the
 * OpenShift MachineConfig reads of the preflight, which only OpenShift
 * serves and which skip their section when refused.
 */
import type * as k8s from '@kubernetes/client-node';
import type { Kube } from './kube.ts';

export interface Access {
  verb: string;
  /** `resource` or `resource/subresource`. */
  resource: string;
  /** API group; absent for the core group. */
  group?: string;
}

export const REQUIRED_ACCESS: readonly Access[] = [
  // The run's namespaces: created, found again by label, removed.
  { verb: 'create', resource: 'namespaces' },
  { verb: 'list', resource: 'namespaces' },
  { verb: 'delete', resource: 'namespaces' },
  // Pods accept only once the namespace's default ServiceAccount exists.
  { verb: 'get', resource: 'serviceaccounts' },
  { verb: 'list', resource: 'nodes' },
  { verb: 'get', resource: 'nodes' },
  // Agents, backends, host-exec pods; their logs and events are evidence.
  { verb: 'create', resource: 'pods' },
  { verb: 'get', resource: 'pods' },
  { verb: 'list', resource: 'pods' },
  { verb: 'delete', resource: 'pods' },
  // Exec is a WebSocket upgrade, a GET: the API server checks `get` and, since
  // v1.30 (AuthorizePodWebsocketUpgradeCreatePermission), `create` as well.
  // cluster-admin hides this; the in-cluster ServiceAccount showed it.
  { verb: 'create', resource: 'pods/exec' },
  { verb: 'get', resource: 'pods/exec' },
  { verb: 'get', resource: 'pods/log' },
  { verb: 'list', resource: 'events' },
  { verb: 'create', resource: 'services' },
  { verb: 'create', resource: 'endpointslices', group: 'discovery.k8s.io' },
  { verb: 'get', resource: 'endpointslices', group: 'discovery.k8s.io' },
  { verb: 'list', resource: 'endpointslices', group: 'discovery.k8s.io' },
  { verb: 'create', resource: 'networkpolicies', group: 'networking.k8s.io' },
  { verb: 'get', resource: 'networkpolicies', group: 'networking.k8s.io' },
];

/** How a missing permission is named, e.g. `create pods/exec`, `get discovery.k8s.io/endpointslices`. */
export function accessName({ verb, resource, group }: Access): string {
  return `${verb} ${group ? `${group}/` : ''}${resource}`;
}

/** The ClusterRole rules granting REQUIRED_ACCESS and nothing more: one rule per group and resource. */
export function clusterRoleRules(access: readonly Access[] = REQUIRED_ACCESS): k8s.V1PolicyRule[] {
  const rules = new Map<string, k8s.V1PolicyRule>();
  for (const a of access) {
    const key = `${a.group ?? ''}/${a.resource}`;
    const rule = rules.get(key) ?? { apiGroups: [a.group ?? ''], resources: [a.resource], verbs: [] };
    rule.verbs!.push(a.verb);
    rules.set(key, rule);
  }
  return [...rules.values()];
}

/** The entries of REQUIRED_ACCESS the current user lacks, by name, sorted. */
export async function missingAccess(kube: Kube): Promise<string[]> {
  const missing: string[] = [];
  await Promise.all(
    REQUIRED_ACCESS.map(async (a) => {
      const [resource, subresource] = a.resource.split('/');
      const review = await kube.authz.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { verb: a.verb, resource, subresource, group: a.group ?? '' } } },
      });
      if (!review.status?.allowed) missing.push(accessName(a));
    }),
  );
  return missing.sort();
}
