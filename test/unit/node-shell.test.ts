/**
 * ShellSession against a real /bin/sh (a child process standing in for the
 * SSH channel): every command's stdout, stderr and exit status cut exactly,
 * in order, whatever the command does to its own shell.
 */
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { NodeShells, runIn, ShellSession, shQuote, started } from '../../helpers/access/node-shell.ts';
import { MODULE_FILES_COMMAND, MODULE_LIVE_COMMAND } from '../../helpers/kernel/module-state.ts';

/** `sh` behind a login shell that prints a banner first, as a noisy ~/.bashrc does. */
function startShell(): { session: ShellSession; kill: () => void } {
  const child = spawn('/bin/sh', ['-c', 'echo banner from rc; echo rc noise >&2; exec /bin/sh'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // A command written as the shell dies fails with EPIPE; the session learns of it from 'close'.
  child.stdin.on('error', () => {});
  const session = new ShellSession({
    write: (t) => void child.stdin.write(t),
    onStdout: (l) => void child.stdout.on('data', l),
    onStderr: (l) => void child.stderr.on('data', l),
    onClose: (l) => void child.on('close', (code) => l(`sh exited ${code}`)),
    end: () => void child.stdin.end(),
  });
  return { session, kill: () => child.kill('SIGKILL') };
}

describe('ShellSession (one long-lived sh per node)', function () {
  // A cut in the wrong place shows as a command that never returns.
  this.timeout(5000);
  let shell: ReturnType<typeof startShell>;
  beforeEach(() => (shell = startShell()));
  afterEach(() => shell.session.close());

  it('drops what the login shell printed and returns each command’s own output, trimmed', async () => {
    const r = await shell.session.exec('echo out; echo err >&2');
    expect(r).to.deep.equal({ stdout: 'out', stderr: 'err', code: 0 });
  });

  it('returns the exit status, and a syntax error or exit does not end the session', async () => {
    expect((await shell.session.exec('exit 3')).code).to.equal(3);
    const bad = await shell.session.exec('if then fi');
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.match(/syntax|unexpected/i);
    expect(await shell.session.exec('echo still here')).to.include({ stdout: 'still here', code: 0 });
  });

  it('keeps quotes, newlines and output without a final newline intact', async () => {
    const command = `printf '%s' "it's"; printf 'a\\nb'`;
    expect(shQuote("it's")).to.equal(`'it'\\''s'`);
    expect((await shell.session.exec(command)).stdout).to.equal("it'sa\nb");
  });

  it('answers concurrent callers in order, each with its own output', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => shell.session.exec(`echo ${i}; echo e${i} >&2; exit ${i % 4}`)),
    );
    results.forEach((r, i) => expect(r).to.deep.equal({ stdout: String(i), stderr: `e${i}`, code: i % 4 }));
  });

  it('a command cannot read the commands after it from the session’s stdin', async () => {
    const [read, next] = await Promise.all([
      shell.session.exec('cat; echo read-done'),
      shell.session.exec('echo next'),
    ]);
    expect(read.stdout).to.equal('read-done');
    expect(next.stdout).to.equal('next');
  });

  it('runs a session-shell command in the session’s shell itself: no new process, stdin still empty', async () => {
    const own = await shell.session.exec('echo $$');
    const inSession = await shell.session.exec('echo $$', 'session shell');
    expect(inSession.stdout).to.not.equal(own.stdout); // `sh -c` is a process of its own
    expect((await shell.session.exec('echo $$', 'session shell')).stdout).to.equal(inSession.stdout);
    await shell.session.exec('v=kept', 'session shell');
    expect((await shell.session.exec('echo "$v"', 'session shell')).stdout).to.equal('kept');
    const [read, next] = await Promise.all([
      shell.session.exec('cat; echo read-done # a trailing comment', 'session shell'),
      shell.session.exec('echo next', 'session shell'),
    ]);
    expect(read).to.deep.equal({ stdout: 'read-done', stderr: '', code: 0 });
    expect(next.stdout).to.equal('next');
    expect((await shell.session.exec('false', 'session shell')).code).to.equal(1);
  });

  it('gives the module guard’s commands the same output in the session’s shell as in their own', async () => {
    for (const command of [MODULE_LIVE_COMMAND, MODULE_FILES_COMMAND]) {
      const own = await shell.session.exec(command);
      for (let i = 0; i < 2; i++)
        expect(await shell.session.exec(command, 'session shell')).to.deep.equal(own);
    }
    expect(runIn('guard')).to.equal('session shell');
    expect(runIn('work')).to.equal('own shell');
    expect(runIn()).to.equal('own shell');
  });

  it('rejects pending and later commands once the shell is gone, and says so', async () => {
    await shell.session.ready;
    const pending = shell.session.exec('sleep 5');
    shell.kill();
    let error: unknown;
    await pending.catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/shell session ended: sh exited/);
    expect(shell.session.open).to.equal(false);
    await shell.session.exec('true').then(
      () => expect.fail('a closed session ran a command'),
      (e: unknown) => expect(String(e)).to.match(/shell session ended/),
    );
  });
});

describe('NodeShells (one session per node, reopened when it ends)', function () {
  this.timeout(5000);

  it('opens once for concurrent callers, reopens after the session ends, and keeps a refusal', async () => {
    const opened: string[] = [];
    const kills: Array<() => void> = [];
    const shells = new NodeShells(async (node) => {
      opened.push(node);
      if (node === 'restricted') return undefined;
      const s = startShell();
      kills.push(s.kill);
      return started(s.session);
    });
    const [a, b] = await Promise.all([shells.get('n1'), shells.get('n1')]);
    expect(a).to.equal(b);
    expect((await a!.exec('echo hi')).stdout).to.equal('hi');
    kills[0]();
    await new Promise((r) => setTimeout(r, 100));
    const c = await shells.get('n1');
    expect(c).to.not.equal(a);
    expect((await c!.exec('echo again')).stdout).to.equal('again');
    expect(await shells.get('restricted')).to.equal(undefined);
    expect(await shells.get('restricted')).to.equal(undefined);
    expect(opened).to.deep.equal(['n1', 'n1', 'restricted']);
    await shells.closeAll();
    expect(c!.open).to.equal(false);
  });

  it('a shell that dies before answering is not a session', async () => {
    const child = spawn('/bin/sh', ['-c', 'exit 1'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const session = new ShellSession({
      write: (t) => void child.stdin.write(t, () => {}),
      onStdout: (l) => void child.stdout.on('data', l),
      onStderr: (l) => void child.stderr.on('data', l),
      onClose: (l) => void child.on('close', (code) => l(`sh exited ${code}`)),
      end: () => void child.stdin.end(),
    });
    child.stdin.on('error', () => {});
    expect(await started(session)).to.equal(undefined);
  });

  it('gives each lane of a node its own session: a guard read does not wait behind a slow command', async () => {
    const shells = new NodeShells(async () => started(startShell().session));
    const work = (await shells.get('n1'))!;
    const guard = (await shells.get('n1', 'guard'))!;
    expect(guard).to.not.equal(work);
    expect(await shells.get('n1', 'work')).to.equal(work);
    const slow = work.exec('sleep 1; echo slow');
    const t0 = Date.now();
    expect((await guard.exec('echo guard')).stdout).to.equal('guard');
    expect(Date.now() - t0).to.be.lessThan(500);
    expect((await slow).stdout).to.equal('slow');
    await shells.closeAll();
  });
});
