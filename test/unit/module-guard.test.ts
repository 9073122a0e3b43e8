/**
 * The module guard driven through a fake NodeAccess that answers with the
 * module-state command's real output format (test/fixtures/module-state.*.txt):
 * kernels that have the module (not loaded, loaded mid-test, loaded between
 * tests, built in, blacklisted), this machine's kernel without module
 * support, and nodes whose state cannot be read.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { GuardTracker, judgeGuard, readNodes, type NodeFiles } from '../../helpers/kernel/module-guard.ts';
import {
  MODULE_FILES_COMMAND,
  MODULE_LIVE_COMMAND,
  MODULE_STATE_COMMAND,
} from '../../helpers/kernel/module-state.ts';
import type { ExecResult, NodeAccess } from '../../helpers/access/node-access.ts';
import type { NodeLane } from '../../helpers/access/node-shell.ts';
import { ROOT } from '../../helpers/framework/runner.ts';

const fixture = (name: string) =>
  readFileSync(join(ROOT, 'test', 'fixtures', `module-state.${name}.txt`), 'utf8');

/** A node access whose answer per node is set by the test, like a node whose module state changes. */
class FakeAccess implements NodeAccess {
  readonly kind = 'ssh' as const;
  answers = new Map<string, ExecResult | Error>();
  commands: string[] = [];
  lanes = new Set<NodeLane | undefined>();
  set(node: string, answer: string | ExecResult | Error): void {
    this.answers.set(node, typeof answer === 'string' ? { stdout: answer, stderr: '', code: 0 } : answer);
  }
  async exec(node: string, command: string, lane?: NodeLane): Promise<ExecResult> {
    this.commands.push(command);
    this.lanes.add(lane);
    const a = this.answers.get(node);
    if (!a || a instanceof Error) throw a ?? new Error(`no such node ${node}`);
    return a;
  }
  async close(): Promise<void> {}
}

async function guardOver(
  nodes: Record<string, [before: string | ExecResult | Error, after: string | ExecResult | Error]>,
) {
  const access = new FakeAccess();
  const names = Object.keys(nodes);
  for (const n of names) access.set(n, nodes[n][0]);
  const before = await readNodes(access, names);
  for (const n of names) access.set(n, nodes[n][1]);
  const after = await readNodes(access, names);
  return judgeGuard(before, after);
}

const node = (g: Awaited<ReturnType<typeof guardOver>>, name: string) =>
  g.nodes.find((n) => n.node === name)!;

describe('module guard', () => {
  it('holds on a node whose loadable module stays unloaded', async () => {
    const g = await guardOver({ n1: [fixture('not-loaded'), fixture('not-loaded')] });
    expect(node(g, 'n1')).to.include({ before: 'not-loaded', after: 'not-loaded', judgement: 'held' });
  });

  it('breaks on a module loaded during the test', async () => {
    const g = await guardOver({
      n1: [fixture('not-loaded'), fixture('loaded')],
      n2: [fixture('not-loaded'), fixture('not-loaded')],
    });
    expect(node(g, 'n1')).to.include({ judgement: 'broken', why: 'sctp.ko went from not-loaded to loaded' });
    expect(node(g, 'n2').judgement).to.equal('held');
  });

  it('breaks on any transition into loaded from a state other than loaded or builtin', async () => {
    const g = await guardOver({
      unavailable: [fixture('unavailable-with-modules'), fixture('loaded')],
      blacklisted: [fixture('not-loaded-blacklisted'), fixture('loaded')],
    });
    expect(node(g, 'unavailable').judgement).to.equal('broken');
    expect(node(g, 'blacklisted').judgement).to.equal('broken');
  });

  it('does not judge built in, already loaded, blacklisted or absent modules, and says why', async () => {
    const g = await guardOver({
      builtin: [fixture('builtin'), fixture('builtin')],
      loaded: [fixture('loaded'), fixture('loaded')],
      blacklisted: [fixture('not-loaded-blacklisted'), fixture('not-loaded-blacklisted')],
      thisMachine: [fixture('no-modules-no-sctp'), fixture('no-modules-no-sctp')],
    });
    expect(g.nodes.every((n) => n.judgement === 'not judged')).to.equal(true);
    expect(node(g, 'builtin').why).to.match(/built into the kernel/);
    expect(node(g, 'loaded').why).to.match(/already loaded/);
    expect(node(g, 'blacklisted').why).to.match(/blacklisted/);
    expect(node(g, 'thisMachine').why).to.equal('no loadable sctp module: kernel without module support');
  });

  it('never passes an unreadable node: exec failure, non-zero exit, empty or foreign output keep the raw output', async () => {
    const g = await guardOver({
      refused: [
        fixture('not-loaded'),
        new Error('ssh: connect to host 10.0.0.2 port 22: Connection refused'),
      ],
      exit: [fixture('not-loaded'), { stdout: '', stderr: 'sh: 1: nsenter: not found', code: 127 }],
      empty: [{ stdout: '', stderr: '', code: 0 }, fixture('not-loaded')],
      garbage: [fixture('not-loaded'), '<html>502 Bad Gateway</html>'],
    });
    for (const n of g.nodes) {
      expect(n.judgement, n.node).to.equal('not judged');
      expect(n.raw, n.node).to.be.a('string');
    }
    expect(node(g, 'refused').raw).to.include('Connection refused');
    expect(node(g, 'exit').why).to.match(/after the test: the state command exited 127/);
    expect(node(g, 'exit').raw).to.include('nsenter: not found');
    expect(node(g, 'empty').why).to.match(/before the test: the state command printed nothing/);
    expect(node(g, 'garbage').raw).to.include('502 Bad Gateway');
  });

  it('without node access says so on every node', async () => {
    const access: NodeAccess = {
      kind: 'none',
      unavailableReason: '--node-access none',
      exec: () => Promise.reject(new Error('no')),
      close: async () => {},
    };
    const r = await readNodes(access, ['n1']);
    const g = judgeGuard(r, r);
    expect(g.nodes[0]).to.include({ judgement: 'not judged', why: 'no node access: --node-access none' });
  });

  describe("with the run's copy of the files facts (NodeFiles)", () => {
    it('reads the files once per node, then only the live state, and still sees a load', async () => {
      const access = new FakeAccess();
      const files: NodeFiles = new Map();
      access.set('n1', fixture('not-loaded'));
      const first = await readNodes(access, ['n1'], files);
      expect(access.commands).to.deep.equal([MODULE_LIVE_COMMAND, MODULE_FILES_COMMAND]);
      access.commands = [];
      access.set('n1', fixture('loaded'));
      const second = await readNodes(access, ['n1'], files);
      expect(access.commands).to.deep.equal([MODULE_LIVE_COMMAND]);
      expect(judgeGuard(first, second).nodes[0]).to.include({ judgement: 'broken' });
      // Its own lane: a guard read never waits behind another test's node command.
      expect([...access.lanes]).to.deep.equal(['guard']);
    });

    it('keeps the facts of the files from the first reading, not the live output', async () => {
      const access = new FakeAccess();
      const files: NodeFiles = new Map();
      access.set('n1', fixture('not-loaded-blacklisted'));
      await readNodes(access, ['n1'], files);
      // The same kernel; its files lines (were the files read again) would say nothing of a blacklist.
      access.set('n1', fixture('not-loaded-blacklisted').replace(/^config=.*$/gm, ''));
      const r = (await readNodes(access, ['n1'], files)).get('n1')!;
      expect(r).to.deep.include({ kind: 'read' });
      expect(r.kind === 'read' && r.report).to.include({ state: 'not-loaded', blacklisted: true });
    });

    it('reads the files again under another kernel', async () => {
      const access = new FakeAccess();
      const files: NodeFiles = new Map();
      access.set('n1', fixture('not-loaded'));
      await readNodes(access, ['n1'], files);
      access.commands = [];
      access.set('n1', fixture('not-loaded').replace(/^kernel=.*$/m, 'kernel=9.9.9-other'));
      await readNodes(access, ['n1'], files);
      expect(access.commands).to.deep.equal([MODULE_LIVE_COMMAND, MODULE_FILES_COMMAND]);
      expect(files.get('n1')?.kernel).to.equal('9.9.9-other');
    });

    it('a files command that fails is an unreadable node with its output', async () => {
      const access = new FakeAccess();
      access.exec = async (_node: string, command: string) =>
        command === MODULE_FILES_COMMAND
          ? { stdout: '', stderr: 'sh: zcat: Permission denied', code: 1 }
          : { stdout: fixture('not-loaded'), stderr: '', code: 0 };
      const r = (await readNodes(access, ['n1'], new Map())).get('n1')!;
      expect(r).to.deep.include({ kind: 'unreadable', why: 'the files command exited 1' });
      expect(r.kind === 'unreadable' && r.raw).to.include('Permission denied');
    });

    it('without a copy, each reading runs the whole state command', async () => {
      const access = new FakeAccess();
      access.set('n1', fixture('not-loaded'));
      await readNodes(access, ['n1']);
      await readNodes(access, ['n1']);
      expect(access.commands).to.deep.equal([MODULE_STATE_COMMAND, MODULE_STATE_COMMAND]);
    });
  });

  describe('between tests (GuardTracker)', () => {
    function tracked(): { access: FakeAccess; tracker: GuardTracker } {
      const access = new FakeAccess();
      access.set('n1', fixture('not-loaded'));
      return { access, tracker: new GuardTracker(() => readNodes(access, ['n1'])) };
    }

    it('catches a load between two tests and names both', async () => {
      const { access, tracker } = tracked();
      await tracker.start();
      await tracker.before('test A');
      await tracker.after('test A');
      access.set('n1', fixture('loaded')); // e.g. the suite itself, between the tests
      await tracker.before('test B');
      expect(tracker.findings).to.have.length(1);
      expect(tracker.findings[0]).to.match(
        /^n1: sctp.ko went from not-loaded to loaded between after "test A" and before "test B"/,
      );
    });

    it('catches a load before the first test and after the last one', async () => {
      const { access, tracker } = tracked();
      await tracker.start();
      access.set('n1', fixture('loaded'));
      await tracker.before('test A');
      await tracker.after('test A');
      expect(tracker.findings[0]).to.match(/between the run start and before "test A"/);
      access.set('n1', fixture('not-loaded'));
      await tracker.before('test B');
      await tracker.after('test B');
      access.set('n1', fixture('loaded'));
      const end = await tracker.end();
      expect(end.findings).to.have.length(2);
      expect(end.findings[1]).to.match(/between after "test B" and at the run end/);
      expect(end.start).to.deep.equal([{ node: 'n1', state: 'not-loaded' }]);
      expect(end.end).to.deep.equal([{ node: 'n1', state: 'loaded' }]);
      // Every reading timed: start, two befores, two afters, end.
      expect(end.reads).to.include({ count: 6, nodes: 1 });
      expect(end.reads.maxMs).to.be.at.least(end.reads.medianMs);
    });

    it('with tests side by side, a load in a shared window is no gap: each test sees it, with whom it shared', async () => {
      const { access, tracker } = tracked();
      await tracker.start();
      const beforeA = await tracker.before('test A');
      const beforeB = await tracker.before('test B');
      access.set('n1', fixture('loaded')); // while both windows are open
      const afterA = await tracker.after('test A');
      await tracker.before('test C'); // B still open: not a gap
      const afterB = await tracker.after('test B');
      const afterC = await tracker.after('test C');
      expect(tracker.findings).to.deep.equal([]);
      expect(judgeGuard(beforeA, afterA.readings).nodes[0].judgement).to.equal('broken');
      expect(judgeGuard(beforeB, afterB.readings).nodes[0].judgement).to.equal('broken');
      expect(afterA.sharedWith).to.deep.equal(['test B']);
      expect(afterB.sharedWith.sort()).to.deep.equal(['test A', 'test C']);
      expect(afterC.sharedWith).to.deep.equal(['test B']);
    });

    it('with tests side by side, a load once every window closed is a gap after the latest reading', async () => {
      const { access, tracker } = tracked();
      await tracker.start();
      await tracker.before('test A');
      await tracker.before('test B');
      await tracker.after('test B');
      await tracker.after('test A');
      access.set('n1', fixture('loaded'));
      await tracker.before('test C');
      expect(tracker.findings).to.have.length(1);
      expect(tracker.findings[0]).to.match(/between after "test A" and before "test C"/);
    });

    it('does not blame a gap on the guard when a kernel-SCTP test ran in it', async () => {
      const { access, tracker } = tracked();
      await tracker.start();
      tracker.unguarded('connectivity test with agnhost');
      access.set('n1', fixture('loaded'));
      await tracker.end();
      expect(tracker.findings).to.deep.equal([]);
    });
  });
});
