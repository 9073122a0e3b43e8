import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  MODULE_FILES_COMMAND,
  MODULE_LIVE_COMMAND,
  MODULE_STATE_COMMAND,
  combineOutputs,
  parseModuleState,
  wentFromNotLoadedToLoaded,
  type ModuleState,
} from '../../helpers/kernel/module-state.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

describe('SCTP module state', () => {
  describe('MODULE_STATE_COMMAND', () => {
    it('never loads anything: no modprobe, no insmod, no socket', () => {
      expect(MODULE_STATE_COMMAND).to.not.match(
        /modprobe\s|insmod|rmmod|lsmod|socket|nc |ncat|sctp_test|checksctp/,
      );
      expect(MODULE_STATE_COMMAND).to.not.match(/>\s*\/(proc|sys)/); // writes nothing
    });

    it('is one POSIX sh command that exits 0 and prints what the parser reads', function () {
      if (process.platform !== 'linux') this.skip();
      execFileSync('sh', ['-n', '-c', MODULE_STATE_COMMAND]);
      const out = execFileSync('sh', ['-c', MODULE_STATE_COMMAND], { encoding: 'utf8' });
      const kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
      const report = parseModuleState(out);
      expect(report.kernel).to.equal(kernel);
      expect(['loaded', 'not-loaded', 'builtin', 'unavailable']).to.include(report.state);
      expect(out).to.match(/^proc_modules=(yes|no)$/m);
      expect(out).to.match(/^proc_net_sctp=(yes|no)$/m);
    });
  });

  describe('MODULE_LIVE_COMMAND and MODULE_FILES_COMMAND', () => {
    it('are read-only too, and together give what the whole command gives', function () {
      for (const c of [MODULE_LIVE_COMMAND, MODULE_FILES_COMMAND]) {
        expect(c).to.not.match(/modprobe\s|insmod|rmmod|lsmod|socket/);
        expect(c).to.not.match(/>\s*\/(proc|sys)/);
      }
      if (process.platform !== 'linux') this.skip();
      const run = (c: string) => execFileSync('sh', ['-c', c], { encoding: 'utf8' });
      const whole = parseModuleState(run(MODULE_STATE_COMMAND));
      const parts = parseModuleState(combineOutputs(run(MODULE_LIVE_COMMAND), run(MODULE_FILES_COMMAND)));
      expect(parts).to.deep.equal(whole);
    });

    it("the live command (shell builtins only) finds the sctp line of a modules list as grep -E '^sctp ' does", function () {
      if (process.platform !== 'linux') this.skip();
      const dir = mkdtempSync(join(tmpdir(), 'sctp-e2e-modules-'));
      try {
        const list = join(dir, 'modules');
        const run = (c: string) =>
          execFileSync('sh', ['-c', c.replaceAll('/proc/modules', list)], { encoding: 'utf8' })
            .split('\n')
            .filter((l) => l.startsWith('proc_modules'));
        // What the command printed before it used builtins only.
        const grepped = () => [
          'proc_modules=yes',
          `proc_modules_sctp=${execFileSync('sh', ['-c', `grep -E '^sctp ' ${list} || true`], { encoding: 'utf8' }).trim()}`,
        ];
        writeFileSync(
          list,
          'nf_nat 49152 3 xt_nat,xt_MASQUERADE, Live 0x0000000000000000\n' +
            'sctp 434176 4 - Live 0xffffffffc0a00000\n' +
            'udp_tunnel 28672 1 sctp, Live 0x0000000000000000\n',
        );
        expect(run(MODULE_LIVE_COMMAND)).to.deep.equal([
          'proc_modules=yes',
          'proc_modules_sctp=sctp 434176 4 - Live 0xffffffffc0a00000',
        ]);
        expect(run(MODULE_LIVE_COMMAND)).to.deep.equal(grepped());
        writeFileSync(list, 'nf_nat 49152 3 xt_nat, Live 0x0000000000000000\n');
        expect(run(MODULE_LIVE_COMMAND)).to.deep.equal(['proc_modules=yes', 'proc_modules_sctp=']);
        expect(run(MODULE_LIVE_COMMAND)).to.deep.equal(grepped());
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('combineOutputs takes the live keys from the live output and the rest from the files output', () => {
      const live = 'kernel=6.1\nproc_modules=yes\nproc_modules_sctp=sctp 1 0 - Live\nmodule_file=/ignored\n';
      const files = 'kernel=5.0\nmodule_tree=yes\nmodule_file=/lib/modules/6.1/sctp.ko\n';
      expect(combineOutputs(live, files).split('\n')).to.deep.equal([
        'kernel=6.1',
        'proc_modules=yes',
        'proc_modules_sctp=sctp 1 0 - Live',
        'module_tree=yes',
        'module_file=/lib/modules/6.1/sctp.ko',
        '',
      ]);
    });
  });

  describe('parseModuleState', () => {
    it('captured: a kernel without module support and without SCTP is unavailable', () => {
      const r = parseModuleState(fixture('module-state.no-modules-no-sctp.txt'));
      expect(r).to.deep.include({
        state: 'unavailable',
        kernel: '6.18.44-fc-v669',
        blacklisted: false,
        loadAtBoot: false,
      });
      expect(r.evidence).to.include('/proc/modules: absent (kernel without module support)');
      expect(r.evidence).to.include('kernel config: CONFIG_IP_SCTP is not set');
    });

    it('an sctp line in /proc/modules is loaded', () => {
      const r = parseModuleState(fixture('module-state.loaded.txt'));
      expect(r).to.deep.include({
        state: 'loaded',
        kernel: '6.8.0-45-generic',
        blacklisted: false,
        loadAtBoot: false,
      });
      expect(r.evidence[0]).to.equal('/proc/modules: "sctp 434176 4 - Live 0x0000000000000000"');
    });

    it('a module file that is not loaded is not-loaded; blacklist and install-/bin/true count as blacklisted', () => {
      const r = parseModuleState(fixture('module-state.not-loaded-blacklisted.txt'));
      expect(r).to.deep.include({ state: 'not-loaded', blacklisted: true, loadAtBoot: false });
      expect(r.evidence).to.include('config: /etc/modprobe.d/sctp-blacklist.conf:blacklist sctp');
      const installOnly =
        'proc_modules=yes\nproc_modules_sctp=\nmodule_file=/lib/modules/x/kernel/net/sctp/sctp.ko\nconfig=/etc/modprobe.d/CIS.conf:install sctp /bin/true\n';
      expect(parseModuleState(installOnly)).to.deep.include({ state: 'not-loaded', blacklisted: true });
    });

    it('modules-load.d listing sctp is load-at-boot (OpenShift load-sctp-module)', () => {
      expect(parseModuleState(fixture('module-state.loaded-openshift.txt'))).to.deep.include({
        state: 'loaded',
        blacklisted: false,
        loadAtBoot: true,
      });
      expect(parseModuleState('proc_modules=yes\nconfig=/etc/modules:sctp\n').loadAtBoot).to.equal(true);
      // A blacklist line in modules-load.d, or sctp_diag, is not load-at-boot.
      expect(
        parseModuleState('proc_modules=yes\nconfig=/etc/modules-load.d/x.conf:sctp_diag\n').loadAtBoot,
      ).to.equal(false);
    });

    it('present without a /proc/modules line is builtin, with or without module support', () => {
      expect(parseModuleState(fixture('module-state.builtin.txt')).state).to.equal('builtin');
      expect(parseModuleState(fixture('module-state.builtin-no-modules.txt')).state).to.equal('builtin');
      expect(
        parseModuleState('proc_modules=yes\nproc_modules_sctp=\nsys_module_sctp=yes\nproc_net_sctp=no\n')
          .state,
      ).to.equal('builtin');
    });

    it('no module file and not built in is unavailable', () => {
      expect(parseModuleState(fixture('module-state.unavailable-with-modules.txt')).state).to.equal(
        'unavailable',
      );
      expect(
        parseModuleState(
          'proc_modules=yes\nproc_modules_sctp=\nsys_module_sctp=no\nproc_net_sctp=no\nmodule_tree=no\n',
        ).state,
      ).to.equal('unavailable');
    });

    it('does not mistake sctp_diag or xt_sctp for sctp', () => {
      const out =
        'proc_modules=yes\nproc_modules_sctp=\nmodule_file=/lib/modules/x/kernel/net/sctp/sctp.ko.xz\n';
      expect(
        parseModuleState(`${out}config=/etc/modprobe.d/sctp_diag-blacklist.conf:blacklist sctp_diag\n`)
          .blacklisted,
      ).to.equal(false);
      expect(parseModuleState(out).state).to.equal('not-loaded');
    });

    it('reads empty output as unavailable with an empty kernel, not as loaded', () => {
      expect(parseModuleState('')).to.deep.include({ state: 'unavailable', kernel: '' });
    });
  });

  describe('wentFromNotLoadedToLoaded', () => {
    const states: ModuleState[] = ['loaded', 'not-loaded', 'builtin', 'unavailable'];

    it('is true only for not-loaded → loaded', () => {
      for (const before of states) {
        for (const after of states) {
          expect(wentFromNotLoadedToLoaded(before, after), `${before} → ${after}`).to.equal(
            before === 'not-loaded' && after === 'loaded',
          );
        }
      }
    });

    it('takes parsed reports as well as states', () => {
      const before = parseModuleState(fixture('module-state.not-loaded-blacklisted.txt'));
      const after = parseModuleState(fixture('module-state.loaded.txt'));
      expect(wentFromNotLoadedToLoaded(before, after)).to.equal(true);
      expect(wentFromNotLoadedToLoaded(after, after)).to.equal(false);
    });
  });
});
