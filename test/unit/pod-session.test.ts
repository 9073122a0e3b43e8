/**
 * The exec session's framing, against a real sh running the session's own
 * loop: each command's stdout, stderr and exit status come back as a fresh
 * exec of it would give them, whatever its arguments hold.
 */
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import type { Kube } from '../../helpers/access/kube.ts';
import { MarkedStream, PodSessions, sessionScript, shellLine } from '../../helpers/probing/pod-session.ts';

const MARK = '@@sctp-e2e-session-test';

/** Runs `commands` through one sh session; returns each command's [stdout, stderr, code]. */
async function session(commands: string[][]): Promise<Array<[string, string, number]>> {
  const sh = spawn('sh', ['-c', sessionScript(MARK)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new MarkedStream(MARK);
  const err = new MarkedStream(MARK);
  const outs: Array<{ text: string; rest: string }> = [];
  const errs: string[] = [];
  sh.stdout.on('data', (c: Buffer) => outs.push(...out.push(c.toString())));
  sh.stderr.on('data', (c: Buffer) => errs.push(...err.push(c.toString()).map((d) => d.text)));
  for (const c of commands) sh.stdin.write(`${shellLine(c)}\n`);
  sh.stdin.end();
  await new Promise((resolve) => sh.on('close', resolve));
  return outs.map((o, i) => [o.text, errs[i], Number(o.rest)]);
}

describe('pod exec session', () => {
  it('gives each command its own stdout, stderr and exit status, as separate execs would', async () => {
    const results = await session([
      ['sh', '-c', "echo out; echo err >&2; printf 'no newline'; exit 3"],
      // A command that reads stdin must not eat the commands after it.
      ['sh', '-c', 'cat; echo read-nothing'],
      ['true'],
      ['echo', "it's", 'a "quoted" $HOME `x` \\ arg'],
    ]);
    expect(results).to.deep.equal([
      ['out\nno newline', 'err\n', 3],
      ['read-nothing\n', '', 0],
      ['', '', 0],
      ['it\'s a "quoted" $HOME `x` \\ arg\n', '', 0],
    ]);
  });

  it('cuts output at marks however the stream is chunked', () => {
    const whole = `a\nb\n${MARK} 0\n\n${MARK} 1\nc`;
    for (let size = 1; size <= whole.length; size++) {
      const s = new MarkedStream(MARK);
      const done = [];
      for (let i = 0; i < whole.length; i += size) done.push(...s.push(whole.slice(i, i + size)));
      expect(done).to.deep.equal([
        { text: 'a\nb', rest: '0' },
        { text: '', rest: '1' },
      ]);
      expect(s.unread).to.equal('c');
    }
  });

  it('refuses a command after close instead of opening a session nothing would close', async () => {
    // The API is never reached: a closed set of sessions must not open one.
    const sessions = new PodSessions({} as Kube);
    const exec = sessions.executor('ns', 'pod', 'agent');
    sessions.close();
    let error: unknown;
    await exec(['true']).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/exec sessions of pod ns\/pod were closed by the suite/);
  });
});
