/**
 * A schedulable node that is not Ready stops the run before any test (exit
 * 2), named with what its Ready condition says; the conditions below are the
 * ones a kubelet and the node lifecycle controller write.
 */
import type * as k8s from '@kubernetes/client-node';
import { expect } from 'chai';
import { notReadyNodes, readinessText } from '../../helpers/access/node-readiness.ts';

function node(name: string, ready?: Partial<k8s.V1NodeCondition>): k8s.V1Node {
  const conditions = [{ type: 'MemoryPressure', status: 'False' }];
  if (ready) conditions.push({ type: 'Ready', status: 'True', ...ready });
  return { metadata: { name }, status: { conditions } };
}

describe('nodes that are not Ready', () => {
  const ready = node('node1', { reason: 'KubeletReady', message: 'kubelet is posting ready status' });
  const stopped = node('node2', {
    status: 'Unknown',
    reason: 'NodeStatusUnknown',
    message: 'Kubelet stopped posting node status.',
  });
  const noCni = node('node3', {
    status: 'False',
    reason: 'KubeletNotReady',
    message: 'container runtime network not ready',
  });
  const fresh = node('node4');

  it('are those whose Ready condition is not True, or missing', () => {
    expect(notReadyNodes([ready, stopped, noCni, fresh]).map((n) => n.metadata!.name)).to.deep.equal([
      'node2',
      'node3',
      'node4',
    ]);
    expect(notReadyNodes([ready])).to.deep.equal([]);
  });

  it('are named with the status, reason and message of their Ready condition', () => {
    expect(readinessText(stopped)).to.equal(
      'node2 (Ready=Unknown: NodeStatusUnknown, Kubelet stopped posting node status.)',
    );
    expect(readinessText(noCni)).to.equal(
      'node3 (Ready=False: KubeletNotReady, container runtime network not ready)',
    );
    expect(readinessText(fresh)).to.equal('node4 (no Ready condition)');
    expect(readinessText(node('node5', { status: 'False' }))).to.equal('node5 (Ready=False)');
  });
});
