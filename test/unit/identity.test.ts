/**
 * Error messages name who the suite acts as: a kubeconfig user from outside,
 * the pod's service account inside the cluster (client-node's in-cluster
 * config, as `sctp-e2e job` and the Sonobuoy plugin run it).
 */
import * as k8s from '@kubernetes/client-node';
import { expect } from 'chai';
import { identityOf } from '../../helpers/access/kube.ts';

function configWithUser(user: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://198.18.0.2:6443', skipTLSVerify: true }],
    users: [{ name: user, token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user }],
    currentContext: 'x',
  });
  return kc;
}

describe('who the suite acts as, in error messages', () => {
  it('outside the cluster: the kubeconfig user', () => {
    expect(identityOf(configWithUser('admin'))).to.equal('the kubeconfig user');
  });
  it("inside the cluster (client-node's in-cluster user): the pod's service account", () => {
    expect(identityOf(configWithUser('inClusterUser'))).to.equal("the pod's service account");
  });
});
