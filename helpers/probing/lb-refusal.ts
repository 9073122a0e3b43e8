/**
 * Telling a provider's refusal of SCTP load balancers (a documented limit:
 * the LoadBalancer declaration test skips) from any other failure to create
 * the Service (the test fails).
 */
import { apiMessage, apiStatus } from '../access/kube.ts';

/** HTTP codes of an API that judged the object and said no (not one that could not answer). */
const REFUSALS = new Set([400, 403, 422]);

/**
 * Why the API refused an SCTP LoadBalancer Service, when the refusal is
 * about the LoadBalancer type or SCTP on it; undefined for any other error
 * (unreachable API, server error, a refusal about something else).
 * "SCTP" is matched in capitals only, so a lowercase object name such as
 * "sctp-lb" quoted in the message does not count.
 */
export function loadBalancerRefusal(err: unknown): string | undefined {
  const code = apiStatus(err);
  if (code === undefined || !REFUSALS.has(code)) return undefined;
  const message = apiMessage(err);
  return /\bSCTP\b|LoadBalancer|load ?balancer/i.test(message.replace(/sctp/g, '')) ? message : undefined;
}

/**
 * What a test does when creating its SCTP LoadBalancer Service failed: skip
 * on the provider's refusal (its documented limit), fail on anything else
 * (API unreachable, a refusal about something else).
 */
export function loadBalancerCreateFailed(err: unknown, skip: (reason: string) => never): never {
  const refusal = loadBalancerRefusal(err);
  if (refusal) skip(`the cluster refused an SCTP LoadBalancer Service: ${refusal}`);
  throw new Error(
    `creating an SCTP LoadBalancer Service failed, and not because the cluster refuses SCTP ` +
      `load balancers: ${apiMessage(err)}`,
  );
}
