import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { envName, flagName, loadConfig, newRunId } from '../../helpers/config.ts';
import { SuiteError } from '../../helpers/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'sctp-e2e-config-'));
const noLocal = join(dir, 'absent-env');
const load = (flags = {}, env: NodeJS.ProcessEnv = {}, configFile?: string, localEnvFile = noLocal) =>
  loadConfig({ flags, env, configFile, localEnvFile, runId: 'r1' });

describe('config', () => {
  it('derives flag and variable names from the setting name', () => {
    expect(flagName('sshAddressType')).to.equal('ssh-address-type');
    expect(envName('sshAddressType')).to.equal('SCTP_E2E_SSH_ADDRESS_TYPE');
  });

  it('has defaults: not disruptive, auto node access, InternalIP, reports/', () => {
    const c = load();
    expect(c).to.include({
      disruptive: false,
      nodeAccess: 'auto',
      sshAddressType: 'InternalIP',
      reportDir: 'reports',
      sshPort: 22,
      runId: 'r1',
    });
    expect(c.agent).to.equal(undefined);
  });

  it('takes flags over environment over the config file', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'sshUser: fromfile\nsshPort: 2200\nreportDir: file-reports\n');
    const c = load(
      { sshUser: 'fromflag' },
      { SCTP_E2E_SSH_PORT: '2222', SCTP_E2E_SSH_USER: 'fromenv' },
      file,
    );
    expect(c.sshUser).to.equal('fromflag');
    expect(c.sshPort).to.equal(2222);
    expect(c.reportDir).to.equal('file-reports');
  });

  it('parses booleans from the environment', () => {
    expect(load({}, { SCTP_E2E_DISRUPTIVE: 'true' }).disruptive).to.equal(true);
    expect(load({}, { SCTP_E2E_DISRUPTIVE: '0' }).disruptive).to.equal(false);
  });

  for (const [what, flags, message] of [
    [
      'an unknown node access',
      { nodeAccess: 'telnet' },
      /invalid flag nodeAccess: "telnet" — use one of auto, ssh, pod, none/,
    ],
    ['a bad number', { sshPort: 'abc' }, /invalid flag sshPort: "abc" is not a positive number/],
    ['a broken regex', { focus: '[Feature:SCTP' }, /invalid --focus regex/],
    ['ssh without a key', { nodeAccess: 'ssh' }, /--node-access ssh needs an SSH key/],
    ['a missing key file', { sshKey: '/nonexistent/key' }, /SSH key \/nonexistent\/key does not exist/],
    ['an unknown agent', { agent: 'netcat' }, /use one of agnhost, usrsctp/],
  ] as const) {
    it(`refuses ${what} with one line naming the setting and the fix`, () => {
      let err: unknown;
      try {
        load(flags);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(SuiteError);
      const line = (err as SuiteError).oneLine();
      expect(line).to.match(message);
      expect(line).to.not.include('\n');
    });
  }

  it('refuses unknown keys and bad syntax in the config file', () => {
    const unknown = join(dir, 'unknown.yaml');
    writeFileSync(unknown, 'sshUsr: x\n');
    expect(() => load({}, {}, unknown)).to.throw(SuiteError, /unknown setting "sshUsr"/);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'a: [\n');
    expect(() => load({}, {}, broken)).to.throw(SuiteError, /not valid YAML/);
    expect(() => load({}, {}, join(dir, 'missing.yaml'))).to.throw(SuiteError, /cannot read config file/);
  });

  it('uses the local cluster env file only when no kubeconfig is given', () => {
    const envFile = join(dir, 'env');
    const key = join(dir, 'id');
    writeFileSync(key, 'key');
    writeFileSync(
      envFile,
      `SCTP_E2E_KUBECONFIG=/local/kubeconfig\nSCTP_E2E_SSH_KEY=${key}\nSCTP_E2E_AGENT=usrsctp\nSCTP_E2E_LOCAL_CLUSTER=node1\n`,
    );
    const local = load({}, {}, undefined, envFile);
    expect(local).to.include({
      kubeconfig: '/local/kubeconfig',
      sshKey: key,
      agent: 'usrsctp',
      localCluster: 'node1',
    });
    const own = load({ kubeconfig: '/mine' }, {}, undefined, envFile);
    expect(own.kubeconfig).to.equal('/mine');
    expect(own.agent).to.equal(undefined);
    expect(own.localCluster).to.equal(undefined);
    expect(load({}, { KUBECONFIG: '/k' }, undefined, envFile).localCluster).to.equal(undefined);
  });

  it('makes run ids that are valid label values and distinct', () => {
    const a = newRunId(new Date('2026-11-22T10:00:00Z'));
    expect(a).to.match(/^2611221000-[a-z0-9]{1,4}$/);
    expect(newRunId()).to.not.equal(newRunId());
  });
});
