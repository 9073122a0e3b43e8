/**
 * OpenShift SCTP enablement, the pure parts: does a MachineConfig (or the
 * set a pool selects) enable SCTP, judged by files and contents only; which
 * pool a node is in and the remedy; the rollout state of a pool.
 */
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { parseSctpCommandFlags } from '../../helpers/openshift/commands.ts';
import { decodeDataUrl, machineConfigEnablesSctp } from '../../helpers/openshift/ignition.ts';
import { readFixture, renderMachineConfig, roleLabelsFor } from '../../helpers/openshift/machine-config.ts';
import { parseNodeSctpFiles } from '../../helpers/openshift/node-files.ts';
import {
  BLACKLIST_FILE,
  MODULES_LOAD_FILE,
  ROLE_LABEL,
  type MachineConfig,
  type MachineConfigPool,
} from '../../helpers/openshift/objects.ts';
import { nodeSctpRemedy, poolForNode, poolSctp, selectorMatches } from '../../helpers/openshift/pools.ts';
import { rolloutState } from '../../helpers/openshift/rollout.ts';
import { SuiteError } from '../../helpers/framework/errors.ts';

type File = Record<string, unknown>;

function mc(name: string, version: string, files: File[], role = 'worker'): MachineConfig {
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfig',
    metadata: { name, labels: { [ROLE_LABEL]: role } },
    spec: { config: { ignition: { version }, storage: { files } } },
  };
}

/** OpenShift 4.6+ docs: Ignition 3.2.0, `data:,` and `data:,sctp`. */
const v3Files = (load = 'data:,sctp', blacklist = 'data:,'): File[] => [
  { path: BLACKLIST_FILE, mode: 0o644, overwrite: true, contents: { source: blacklist } },
  { path: MODULES_LOAD_FILE, mode: 0o644, overwrite: true, contents: { source: load } },
];

/** OpenShift 4.1–4.5 docs: Ignition 2.2.0, filesystem root, text/plain data URL. */
const v2Files = (load = 'data:text/plain;charset=utf-8,sctp'): File[] => [
  { contents: { source: 'data:,' }, verification: {}, filesystem: 'root', mode: 420, path: BLACKLIST_FILE },
  { contents: { source: load }, filesystem: 'root', mode: 420, path: MODULES_LOAD_FILE },
];

const pool = (name: string, extra: Partial<MachineConfigPool> = {}): MachineConfigPool => ({
  apiVersion: 'machineconfiguration.openshift.io/v1',
  kind: 'MachineConfigPool',
  metadata: { name },
  spec: {
    machineConfigSelector: { matchLabels: { [ROLE_LABEL]: name } },
    nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${name}`]: '' } },
  },
  ...extra,
});

describe('OpenShift: does a MachineConfig enable SCTP', () => {
  it('decodes data URLs in both documented forms, percent-encoded and base64', () => {
    expect(decodeDataUrl('data:,sctp')?.toString()).to.equal('sctp');
    expect(decodeDataUrl('data:text/plain;charset=utf-8,sctp')?.toString()).to.equal('sctp');
    expect(decodeDataUrl('data:,')?.toString()).to.equal('');
    expect(decodeDataUrl('data:,sctp%0A')?.toString()).to.equal('sctp\n');
    expect(decodeDataUrl('data:text/plain;charset=utf-8;base64,c2N0cAo=')?.toString()).to.equal('sctp\n');
    expect(decodeDataUrl('https://example.com/sctp')).to.equal(undefined);
    expect(decodeDataUrl('data:,%zz')).to.equal(undefined);
  });

  it('the fixture, as the docs print it (Ignition 3.2.0), enables SCTP', () => {
    const fixture = readFixture();
    expect(fixture.metadata.name).to.equal('load-sctp-module');
    expect((fixture.spec!.config as { ignition: { version: string } }).ignition.version).to.equal('3.2.0');
    // `mode: 0644` is octal in YAML 1.1, as oc reads it.
    expect(JSON.stringify(fixture.spec!.config)).to.include('"mode":420');
    const v = machineConfigEnablesSctp(fixture);
    expect(v.enabled, v.reason).to.equal(true);
    expect(v.by).to.deep.equal(['load-sctp-module']);
  });

  it('Ignition 3.x with data:,sctp enables SCTP', () => {
    expect(machineConfigEnablesSctp(mc('load-sctp-module', '3.2.0', v3Files())).enabled).to.equal(true);
    expect(
      machineConfigEnablesSctp(mc('x', '3.4.0', v3Files('data:text/plain;charset=utf-8,sctp'))).enabled,
    ).to.equal(true);
  });

  it('Ignition 2.2 with filesystem root and data:text/plain;charset=utf-8,sctp enables SCTP', () => {
    const v = machineConfigEnablesSctp(mc('load-sctp-module', '2.2.0', v2Files()));
    expect(v.enabled, v.reason).to.equal(true);
    expect(machineConfigEnablesSctp(mc('y', '2.2.0', v2Files('data:,sctp'))).enabled).to.equal(true);
  });

  it('Ignition 2.2 files on a filesystem other than root do not count', () => {
    const files = v2Files().map((f) => ({ ...f, filesystem: 'data' }));
    expect(machineConfigEnablesSctp(mc('z', '2.2.0', files)).enabled).to.equal(false);
  });

  it('another name with the same files counts as enabled: judged by files, not by name', () => {
    const v = machineConfigEnablesSctp(mc('99-worker-my-own-sctp', '3.2.0', v3Files()));
    expect(v.enabled).to.equal(true);
    expect(v.by).to.deep.equal(['99-worker-my-own-sctp']);
  });

  it('only the blacklist file (no modules-load entry) is not enabled', () => {
    const v = machineConfigEnablesSctp(mc('load-sctp-module', '3.2.0', [v3Files()[0]]));
    expect(v.enabled).to.equal(false);
    expect(v.blacklist).to.equal('empty');
    expect(v.reason).to.include('no /etc/modules-load.d/*.conf lists sctp');
  });

  it('only the modules-load entry (blacklist left in place) is not enabled', () => {
    const v = machineConfigEnablesSctp(mc('load-sctp-module', '3.2.0', [v3Files()[1]]));
    expect(v.enabled).to.equal(false);
    expect(v.blacklist).to.equal('not written');
    expect(v.reason).to.include(BLACKLIST_FILE);
  });

  it('wrong modules-load contents are not enabled', () => {
    for (const source of ['data:,sctp_diag', 'data:,', 'data:,%23sctp', 'data:,dummy']) {
      const v = machineConfigEnablesSctp(mc('m', '3.2.0', v3Files(source)));
      expect(v.enabled, source).to.equal(false);
      expect(v.reason, source).to.include('does not list sctp');
    }
  });

  it('a non-empty blacklist file is not enabled; a comment-only one counts as empty', () => {
    const still = machineConfigEnablesSctp(
      mc('m', '3.2.0', v3Files('data:,sctp', 'data:,blacklist%20sctp%0A')),
    );
    expect(still.enabled).to.equal(false);
    expect(still.blacklist).to.equal('non-empty');
    expect(
      machineConfigEnablesSctp(mc('m', '3.2.0', v3Files('data:,sctp', 'data:,options%20sctp%20x%3D1')))
        .enabled,
    ).to.equal(false);
    // Red Hat's advice is to comment the line out; modprobe ignores comments.
    expect(
      machineConfigEnablesSctp(mc('m', '3.2.0', v3Files('data:,sctp', 'data:,%23%20blacklist%20sctp%0A')))
        .enabled,
    ).to.equal(true);
  });

  it('a file with no contents is written empty (Ignition), so it unblacklists', () => {
    const files = [{ path: BLACKLIST_FILE, mode: 420 }, v3Files()[1]];
    expect(machineConfigEnablesSctp(mc('m', '3.2.0', files)).enabled).to.equal(true);
  });

  it('modules-load entry in another modules-load.d file, with comments and blank lines, counts', () => {
    const files = [
      v3Files()[0],
      {
        path: '/etc/modules-load.d/telco.conf',
        contents: { source: 'data:,%23%20telco%0A%0Abonding%0A%20sctp%20%0A' },
      },
    ];
    const v = machineConfigEnablesSctp(mc('m', '3.2.0', files));
    expect(v.enabled, v.reason).to.equal(true);
    expect(v.loadFiles).to.deep.equal(['/etc/modules-load.d/telco.conf']);
  });

  it('gzip-compressed 3.x contents are read', () => {
    const gz = `data:;base64,${gzipSync('sctp\n').toString('base64')}`;
    const files = [v3Files()[0], { path: MODULES_LOAD_FILE, contents: { source: gz, compression: 'gzip' } }];
    expect(machineConfigEnablesSctp(mc('m', '3.2.0', files)).enabled).to.equal(true);
  });

  it('contents that cannot be judged (remote source, append, unknown Ignition) are not enabled, with the reason', () => {
    const remote = machineConfigEnablesSctp(mc('m', '3.2.0', v3Files('https://example.com/sctp-load.conf')));
    expect(remote.enabled).to.equal(false);
    expect(remote.reason).to.include(`${MODULES_LOAD_FILE} cannot be read`).and.include('not a data URL');
    const append = machineConfigEnablesSctp(
      mc('m', '3.2.0', [v3Files()[0], { path: MODULES_LOAD_FILE, append: [{ source: 'data:,sctp' }] }]),
    );
    expect(append.enabled).to.equal(false);
    expect(append.reason).to.include('append');
    const unknown = machineConfigEnablesSctp(mc('m', '1.0.0', v3Files()));
    expect(unknown.enabled).to.equal(false);
    expect(unknown.reason).to.include('Ignition version 1.0.0');
  });

  it('a MachineConfig without files (kernel arguments only) is not enabled', () => {
    const v = machineConfigEnablesSctp({
      apiVersion: 'v1',
      kind: 'MachineConfig',
      metadata: { name: '05-worker-kernelarg' },
      spec: { kernelArguments: ['x'] },
    });
    expect(v.enabled).to.equal(false);
  });
});

describe('OpenShift: pools, nodes and remedies', () => {
  const worker = pool('worker');
  const base = mc('00-worker', '3.2.0', [
    { path: '/etc/kubernetes/kubelet.conf', contents: { source: 'data:,x' } },
  ]);

  it('label selectors: matchLabels, matchExpressions, nil and empty', () => {
    expect(selectorMatches(undefined, { a: 'b' })).to.equal(false);
    expect(selectorMatches({}, {})).to.equal(true);
    expect(selectorMatches({ matchLabels: { a: 'b' } }, { a: 'b', c: 'd' })).to.equal(true);
    expect(selectorMatches({ matchLabels: { a: 'b' } }, { a: 'c' })).to.equal(false);
    const expr = { matchExpressions: [{ key: ROLE_LABEL, operator: 'In', values: ['worker', 'infra'] }] };
    expect(selectorMatches(expr, { [ROLE_LABEL]: 'infra' })).to.equal(true);
    expect(selectorMatches(expr, { [ROLE_LABEL]: 'master' })).to.equal(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'x', operator: 'DoesNotExist' }] }, {})).to.equal(
      true,
    );
    expect(
      selectorMatches({ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['1'] }] }, { x: '1' }),
    ).to.equal(false);
  });

  it('a pool is enabled by any MachineConfig it selects, whatever its name; others do not count', () => {
    expect(poolSctp(worker, [base]).enabled).to.equal(false);
    const other = mc('50-worker-sctp', '3.2.0', v3Files());
    const v = poolSctp(worker, [base, other]);
    expect(v.enabled).to.equal(true);
    expect(v.by).to.deep.equal(['50-worker-sctp']);
    expect(
      poolSctp(pool('master'), [base, other]).enabled,
      'a worker MachineConfig does not enable master',
    ).to.equal(false);
  });

  it('files merge in name order across MachineConfigs: a later one can undo SCTP', () => {
    const black = mc('10-worker-unblacklist', '3.2.0', [v3Files()[0]]);
    const load = mc('20-worker-load', '2.2.0', [v2Files()[1]]);
    const split = poolSctp(worker, [load, black, base]);
    expect(split.enabled, split.reason).to.equal(true);
    expect(split.by).to.deep.equal(['10-worker-unblacklist', '20-worker-load']);
    const undo = mc('99-worker-reblacklist', '3.2.0', [
      { path: BLACKLIST_FILE, contents: { source: 'data:,blacklist%20sctp' } },
    ]);
    expect(poolSctp(worker, [load, black, undo]).enabled).to.equal(false);
  });

  it('rendered configs are outputs, not inputs of a pool', () => {
    const rendered: MachineConfig = {
      ...mc('rendered-worker-abc', '3.2.0', v3Files()),
      metadata: { name: 'rendered-worker-abc' },
    };
    expect(poolSctp({ ...worker, spec: { machineConfigSelector: {} } }, [rendered]).enabled).to.equal(false);
  });

  it('a node belongs to master, else its one custom pool, else worker (as the MCO decides)', () => {
    const pools = [pool('master'), pool('worker'), pool('infra')];
    expect(poolForNode({ 'node-role.kubernetes.io/worker': '' }, pools).pool?.metadata.name).to.equal(
      'worker',
    );
    expect(
      poolForNode({ 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/infra': '' }, pools).pool
        ?.metadata.name,
    ).to.equal('infra');
    expect(
      poolForNode({ 'node-role.kubernetes.io/worker': '', 'node-role.kubernetes.io/master': '' }, pools).pool
        ?.metadata.name,
    ).to.equal('master');
    expect(poolForNode({}, pools).pool).to.equal(undefined);
  });

  it("the remedy names the exact command for the node's pool, and is undefined when enabled", () => {
    const node = { name: 'w1', labels: { 'node-role.kubernetes.io/worker': '' } };
    expect(nodeSctpRemedy(node, [worker], [base])).to.match(
      /SCTP is not enabled on node w1 .*run `sctp-e2e enable-sctp --openshift --pool worker`$/,
    );
    expect(nodeSctpRemedy(node, [worker], [base, mc('load-sctp-module', '3.2.0', v3Files())])).to.equal(
      undefined,
    );
    expect(nodeSctpRemedy({ name: 'x', labels: {} }, [worker], [base]), 'not managed by the MCO').to.equal(
      undefined,
    );
  });

  it("the node's current rendered config decides: enabled pool but old config on the node means wait for the rollout", () => {
    const old = {
      ...mc('rendered-worker-old', '3.2.0', [base.spec!.config as File]),
      metadata: { name: 'rendered-worker-old' },
    };
    const renderedOld: MachineConfig = {
      ...old,
      spec: { config: { ignition: { version: '3.2.0' }, storage: { files: [] } } },
    };
    const renderedNew: MachineConfig = {
      ...mc('rendered-worker-new', '3.2.0', v3Files()),
      metadata: { name: 'rendered-worker-new' },
    };
    const enabling = mc('load-sctp-module', '3.2.0', v3Files());
    const at = (config: string) => ({
      name: 'w1',
      labels: { 'node-role.kubernetes.io/worker': '' },
      annotations: { 'machineconfiguration.openshift.io/currentConfig': config },
    });
    expect(
      nodeSctpRemedy(at('rendered-worker-old'), [worker], [base, enabling, renderedOld, renderedNew]),
    ).to.include('wait for the rollout with `sctp-e2e enable-sctp --openshift --pool worker`');
    expect(
      nodeSctpRemedy(at('rendered-worker-new'), [worker], [base, enabling, renderedOld, renderedNew]),
    ).to.equal(undefined);
  });

  it('reads the node-file check output', () => {
    expect(
      parseNodeSctpFiles('blacklist=blacklists\nloadfile=absent\nloadentries=\nloaded=no\n'),
    ).to.deep.equal({
      blacklistFile: 'blacklists sctp',
      modulesLoadFile: 'absent',
      loadEntries: [],
      loaded: 'no',
    });
    expect(
      parseNodeSctpFiles(
        `blacklist=empty\nloadfile=present\nloadentries=${MODULES_LOAD_FILE} \nloaded=yes\n`,
      ),
    ).to.deep.equal({
      blacklistFile: 'empty',
      modulesLoadFile: 'present',
      loadEntries: [MODULES_LOAD_FILE],
      loaded: 'yes',
    });
    expect(parseNodeSctpFiles('').loaded).to.equal('unknown');
  });
});

describe('OpenShift: enable-sctp building blocks', () => {
  it('renders the fixture for other pools by name and role label', () => {
    const infra = renderMachineConfig('infra', roleLabelsFor(pool('infra')));
    expect(infra.metadata.name).to.equal('load-sctp-module-infra');
    expect(infra.metadata.labels).to.deep.equal({
      [ROLE_LABEL]: 'infra',
      'app.kubernetes.io/managed-by': 'sctp-e2e',
    });
    expect(machineConfigEnablesSctp(infra).enabled).to.equal(true);
    expect(renderMachineConfig('worker', roleLabelsFor(pool('worker'))).metadata.name).to.equal(
      'load-sctp-module',
    );
  });

  it('derives labels from matchExpressions, and refuses what it cannot satisfy', () => {
    const custom = pool('infra', {
      spec: {
        machineConfigSelector: {
          matchExpressions: [{ key: ROLE_LABEL, operator: 'In', values: ['worker', 'infra'] }],
        },
      },
    });
    expect(roleLabelsFor(custom)).to.deep.equal({ [ROLE_LABEL]: 'infra' });
    const odd = pool('odd', {
      spec: {
        machineConfigSelector: {
          matchExpressions: [{ key: ROLE_LABEL, operator: 'NotIn', values: ['master'] }],
        },
      },
    });
    expect(() => roleLabelsFor(odd)).to.throw(SuiteError, /cannot derive labels/);
  });

  it('parses its flags: --openshift required, --pool default worker, --wait-timeout positive seconds', () => {
    expect(parseSctpCommandFlags('enable-sctp', { openshift: true })).to.deep.equal({
      pool: 'worker',
      dryRun: false,
      waitTimeoutSeconds: 3600,
    });
    expect(
      parseSctpCommandFlags('enable-sctp', {
        openshift: true,
        pool: 'infra',
        dryRun: true,
        waitTimeout: '90',
      }),
    ).to.deep.equal({ pool: 'infra', dryRun: true, waitTimeoutSeconds: 90 });
    expect(() => parseSctpCommandFlags('enable-sctp', {})).to.throw(SuiteError, /needs --openshift/);
    expect(() => parseSctpCommandFlags('enable-sctp', { openshift: true, waitTimeout: 'soon' })).to.throw(
      SuiteError,
      /--wait-timeout/,
    );
    expect(() => parseSctpCommandFlags('enable-sctp', { openshift: true, pool: 'Bad Pool' })).to.throw(
      SuiteError,
      /--pool/,
    );
  });

  describe('rollout state follows the pool status', () => {
    const status = (
      s: NonNullable<MachineConfigPool['status']>,
      spec?: MachineConfigPool['spec'],
    ): MachineConfigPool => ({ ...pool('worker'), ...(spec ? { spec } : {}), status: s });
    const cond = (updated: string, updating: string, degraded = 'False', message = '') => [
      { type: 'Updated', status: updated },
      { type: 'Updating', status: updating, message },
      {
        type: 'Degraded',
        status: degraded,
        message: degraded === 'True' ? 'Node w1 is reporting: "unexpected on-disk state"' : '',
      },
    ];
    const expectSctp = { include: ['load-sctp-module'], exclude: [] };
    const src = (...names: string[]) => ({
      name: 'rendered-worker-1',
      source: names.map((name) => ({ name })),
    });

    it('Updated for the old config (before the MCO rendered ours) is not done', () => {
      const s = rolloutState(
        status({
          machineCount: 2,
          updatedMachineCount: 2,
          readyMachineCount: 2,
          degradedMachineCount: 0,
          conditions: cond('True', 'False'),
          configuration: src('00-worker'),
        }),
        expectSctp,
      );
      expect(s.done).to.equal(false);
      expect(s.summary).to.include('without load-sctp-module');
    });

    it('halfway is not done and says how far', () => {
      const s = rolloutState(
        status({
          machineCount: 3,
          updatedMachineCount: 1,
          readyMachineCount: 2,
          degradedMachineCount: 0,
          conditions: cond('False', 'True', 'False', 'All nodes are updating to rendered-worker-2'),
          configuration: src('00-worker'),
        }),
        expectSctp,
      );
      expect(s.done).to.equal(false);
      expect(s.failure).to.equal(undefined);
      expect(s.summary)
        .to.include('1/3 machines updated')
        .and.include('Updating=True')
        .and.include('rendered-worker-2');
    });

    it('Updated with all machines on a config from our MachineConfig is done', () => {
      const s = rolloutState(
        status({
          machineCount: 3,
          updatedMachineCount: 3,
          readyMachineCount: 3,
          degradedMachineCount: 0,
          conditions: cond('True', 'False'),
          configuration: src('00-worker', 'load-sctp-module'),
        }),
        expectSctp,
      );
      expect(s.done, s.summary).to.equal(true);
    });

    it('degraded or paused fails at once; no status waits', () => {
      const degraded = rolloutState(
        status({
          machineCount: 3,
          updatedMachineCount: 1,
          degradedMachineCount: 1,
          conditions: cond('False', 'True', 'True'),
          configuration: src('00-worker'),
        }),
        expectSctp,
      );
      expect(degraded.failure).to.include('degraded').and.include('unexpected on-disk state');
      const paused = rolloutState(
        status(
          {
            machineCount: 3,
            updatedMachineCount: 0,
            conditions: cond('False', 'False'),
            configuration: src('00-worker'),
          },
          { ...pool('worker').spec, paused: true },
        ),
        expectSctp,
      );
      expect(paused.failure).to.include('paused');
      const none = rolloutState(pool('worker'), expectSctp);
      expect([none.done, none.failure, none.summary]).to.deep.equal([
        false,
        undefined,
        'no status yet (is the Machine Config Operator running?)',
      ]);
    });

    it('disable waits until the config no longer has it', () => {
      const removing = { include: [], exclude: ['load-sctp-module'] };
      const full = {
        machineCount: 1,
        updatedMachineCount: 1,
        readyMachineCount: 1,
        degradedMachineCount: 0,
        conditions: cond('True', 'False'),
      };
      expect(
        rolloutState(status({ ...full, configuration: src('00-worker', 'load-sctp-module') }), removing).done,
      ).to.equal(false);
      expect(rolloutState(status({ ...full, configuration: src('00-worker') }), removing).done).to.equal(
        true,
      );
    });
  });
});
