/**
 * What `sctp-e2e job` creates, as data: the ClusterRole is the RBAC
 * preflight's list and nothing more, every object carries the run's label,
 * and the pod gets this run's settings but none that only make sense here.
 */
import { writeFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig } from '../../helpers/framework/config.ts';
import { jobNames, jobObjects } from '../../helpers/in-cluster/job.ts';
import { accessName, clusterRoleRules, REQUIRED_ACCESS } from '../../helpers/access/rbac.ts';

const dir = tempDir('sctp-e2e-job-');
const known = join(dir, 'known.yaml');
writeFileSync(known, 'known: []\n');
const key = join(dir, 'id_ed25519');
writeFileSync(key, 'not a key');
const config = loadConfig({
  flags: { focus: 'x', disruptive: true, kubeconfig: '/k', sshKey: key, externalAgent: '/agent', known },
  env: {},
  localEnvFile: join(dir, 'absent'),
  runId: '2611290142-abcd',
});

describe('job objects', () => {
  const names = jobNames(config.runId);
  const objects = jobObjects(config, names);

  it('grants exactly the RBAC preflight list, one rule per resource', () => {
    const granted = objects.clusterRole.rules!.flatMap((r) =>
      r.verbs.map((verb) =>
        accessName({ verb, resource: r.resources![0], group: r.apiGroups![0] || undefined }),
      ),
    );
    expect(granted.sort()).to.deep.equal(REQUIRED_ACCESS.map(accessName).sort());
    for (const r of objects.clusterRole.rules!) {
      expect(r.resources).to.have.length(1);
      expect(r.verbs).to.not.include('*');
      expect(r.resourceNames).to.equal(undefined);
    }
    expect(objects.clusterRole.rules).to.deep.equal(clusterRoleRules());
    expect(objects.binding.subjects).to.deep.equal([
      { kind: 'ServiceAccount', name: 'sctp-e2e', namespace: names.namespace },
    ]);
  });

  it('labels everything for the run and names cluster-scoped objects with the run id', () => {
    for (const o of [
      objects.namespace,
      objects.serviceAccount,
      objects.clusterRole,
      objects.binding,
      objects.job,
    ])
      expect(o.metadata!.labels).to.include({ 'sctp-e2e.io/run': config.runId });
    expect(objects.job.spec!.template.metadata!.labels).to.include({ 'sctp-e2e.io/run': config.runId });
    expect(objects.clusterRole.metadata!.name).to.equal(`sctp-e2e-${config.runId}`);
    expect(objects.binding.metadata!.name).to.equal(`sctp-e2e-${config.runId}`);
    expect(names.namespace).to.equal(`sctp-e2e-${config.runId}-job`);
  });

  it('passes the selection and forces pod node access, in-cluster config and the pod report dir', () => {
    const container = objects.job.spec!.template.spec!.containers[0];
    const env = Object.fromEntries(container.env!.map((e) => [e.name, e.value]));
    expect(env).to.include({
      SCTP_E2E_FOCUS: 'x',
      SCTP_E2E_DISRUPTIVE: 'true',
      SCTP_E2E_NODE_ACCESS: 'pod',
      SCTP_E2E_REPORT_DIR: '/reports',
      SCTP_E2E_RUN_ID: `${config.runId}-in`,
      SCTP_E2E_KNOWN: '/etc/sctp-e2e/known.yaml',
    });
    for (const name of [
      'SCTP_E2E_KUBECONFIG',
      'SCTP_E2E_SSH_KEY',
      'SCTP_E2E_EXTERNAL_AGENT',
      'SCTP_E2E_CONTEXT',
    ])
      expect(env).to.not.have.property(name);
    expect(container.image).to.equal('localhost/sctp-e2e/suite:0.1.0');
    expect(container.securityContext).to.equal(undefined); // the suite's own pod is not privileged
    expect(objects.knownProfile!.data!['known.yaml']).to.equal('known: []\n');
    expect(objects.job.spec!.backoffLimit).to.equal(0);
  });
});
