import { writeFileSync } from 'node:fs';
import { tempDir } from '../temp-dir.ts';
import { join } from 'node:path';
import { expect } from 'chai';
import { existsSync, statSync } from 'node:fs';
import {
  attachNegativeValues,
  ensureReportDir,
  envName,
  flagName,
  loadConfig,
  newRunId,
} from '../../helpers/framework/config.ts';
import { SuiteError } from '../../helpers/framework/errors.ts';

const dir = tempDir('sctp-e2e-config-');
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
      /invalid flag --node-access: "telnet" — use one of auto, ssh, pod, none/,
    ],
    ['a bad number', { sshPort: 'abc' }, /invalid flag --ssh-port: "abc" is not a positive number/],
    [
      'a negative number',
      { probeTimeout: '-5' },
      /invalid flag --probe-timeout: "-5" is not a positive number/,
    ],
    ['zero', { podTimeout: '0' }, /invalid flag --pod-timeout: "0" is not a positive number/],
    [
      'a parallelism that is no whole number',
      { parallel: '1.5' },
      /invalid flag --parallel: "1.5" is not a whole number of at least 1/,
    ],
    [
      'a parallelism of 0',
      { parallel: '0' },
      /invalid flag --parallel: "0" is not a whole number of at least 1/,
    ],
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

  it('gives a negative number after a value flag to that flag, as --flag=-5', () => {
    const values = new Set(['probe-timeout', 'focus']);
    expect(attachNegativeValues(['run', '--probe-timeout', '-5'], values)).to.deep.equal([
      'run',
      '--probe-timeout=-5',
    ]);
    expect(attachNegativeValues(['--probe-timeout', '-.5', '--quiet'], values)).to.deep.equal([
      '--probe-timeout=-.5',
      '--quiet',
    ]);
    // Already joined, a flag after a value flag, or a boolean flag: untouched.
    for (const argv of [['--probe-timeout=-5'], ['--focus', '--quiet'], ['--quiet', '-5']])
      expect(attachNegativeValues(argv, values)).to.deep.equal(argv);
  });
});

describe('report dir', () => {
  const fail = (path: string): string => {
    try {
      ensureReportDir(path);
    } catch (err) {
      expect(err).to.be.instanceOf(SuiteError);
      return (err as SuiteError).oneLine();
    }
    throw new Error(`${path} was accepted`);
  };

  it('refuses a directory under /proc at once, in one line (it used to spin forever)', () => {
    const started = Date.now();
    const line = fail('/proc/forbidden');
    expect(Date.now() - started).to.be.below(1000);
    expect(line).to.match(
      /^sctp-e2e: --report-dir \/proc\/forbidden is not a directory this run can write \(ENOENT/,
    );
    expect(line).to.include('— give a directory you can create and write').and.not.include('\n');
  });

  it('refuses a path through a file and a file itself', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    expect(fail(join(file, 'reports'))).to.match(/ENOTDIR/);
    expect(fail(file)).to.match(/ENOTDIR/);
  });

  it('creates missing levels and leaves no probe file behind', () => {
    const nested = join(dir, 'new', 'deeper', 'reports');
    ensureReportDir(nested);
    expect(statSync(nested).isDirectory()).to.equal(true);
    expect(existsSync(join(nested, `.sctp-e2e-write-test-${process.pid}`))).to.equal(false);
    ensureReportDir(nested); // an existing, writable directory is fine
  });
});
