/**
 * One long-lived `sh` per node, fed commands one at a time.
 *
 * Why: an SSH exec channel runs the login user's shell with `-c`, and bash
 * sources ~/.bashrc for it. On the machines this suite meets that costs from
 * a few milliseconds to most of a second per command (pyenv, conda, nvm…):
 * measured 0.7 s for `true` on this project's machine (root's .bashrc, which
 * the local cluster's sshd now has bash skip: cluster/up.sh), paid twice per
 * test by the module guard alone. One channel that runs `exec /bin/sh` pays
 * it once; each command after that costs a fork of `sh -c`.
 *
 * Each command runs as `sh -c '<command>' </dev/null` (its own shell: a
 * syntax error or an `exit` cannot end the session, and it cannot read the
 * next command from stdin; the module guard's own commands run in the
 * session's shell instead, see RunIn), followed by a marker line on stdout
 * carrying its exit status and one on stderr, so both streams are cut
 * exactly where the command's output ends. The output is trimmed, as
 * node-ssh's execCommand does, so callers see the same text either way.
 */
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import type { ExecResult } from './node-access.ts';

/** The ends of a running `sh` (an SSH channel, or a child process in the tests). */
export interface ShellStreams {
  write(text: string): void;
  onStdout(listener: (chunk: Buffer) => void): void;
  onStderr(listener: (chunk: Buffer) => void): void;
  /** Called once when the shell or its transport is gone. */
  onClose(listener: (why: string) => void): void;
  end(): void;
}

/** `text` as one single-quoted sh word. */
export const shQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

interface Pending {
  marker: string;
  resolve: (r: ExecResult) => void;
  reject: (err: Error) => void;
}

export class ShellSession {
  private readonly nonce = randomBytes(6).toString('hex');
  private count = 0;
  private stdout = '';
  private stderr = '';
  private closed?: string;
  private readonly queue: Pending[] = [];
  /** Settles once whatever the login shell printed before `sh` started has been read and dropped. */
  readonly ready: Promise<void>;

  constructor(private readonly streams: ShellStreams) {
    const out = new StringDecoder('utf8');
    const err = new StringDecoder('utf8');
    streams.onStdout((c) => {
      this.stdout += out.write(c);
      this.settle();
    });
    streams.onStderr((c) => {
      this.stderr += err.write(c);
      this.settle();
    });
    streams.onClose((why) => this.fail(why));
    this.ready = this.send('true').then(() => undefined);
  }

  /** Whether commands can still be sent. */
  get open(): boolean {
    return this.closed === undefined;
  }

  /** Runs `command` after every command sent before it, in its own shell unless told (see RunIn). */
  async exec(command: string, where: RunIn = 'own shell'): Promise<ExecResult> {
    await this.ready;
    return this.send(command, where);
  }

  close(): void {
    this.fail('the session was closed');
    this.streams.end();
  }

  private send(command: string, where: RunIn = 'own shell'): Promise<ExecResult> {
    if (this.closed !== undefined) return Promise.reject(new Error(`shell session ended: ${this.closed}`));
    const marker = `__sctp_e2e_${this.nonce}_${++this.count}`;
    // The newline ends a trailing comment before the group's closing brace.
    const run = where === 'own shell' ? `sh -c ${shQuote(command)}` : `{ ${command}\n}`;
    return new Promise<ExecResult>((resolve, reject) => {
      this.queue.push({ marker, resolve, reject });
      this.streams.write(
        `${run} </dev/null; printf '\\n%s %d\\n' ${marker} $?; printf '\\n%s\\n' ${marker} >&2\n`,
      );
    });
  }

  /** Resolves the oldest command once both of its markers have arrived. */
  private settle(): void {
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const out = new RegExp(`\\n${head.marker} (\\d+)\\n`).exec(this.stdout);
      const errAt = this.stderr.indexOf(`\n${head.marker}\n`);
      if (!out || errAt < 0) return;
      const result: ExecResult = {
        stdout: this.stdout.slice(0, out.index).trim(),
        stderr: this.stderr.slice(0, errAt).trim(),
        code: Number(out[1]),
      };
      this.stdout = this.stdout.slice(out.index + out[0].length);
      this.stderr = this.stderr.slice(errAt + head.marker.length + 2);
      this.queue.shift();
      head.resolve(result);
    }
  }

  private fail(why: string): void {
    if (this.closed !== undefined) return;
    this.closed = why;
    for (const p of this.queue.splice(0)) p.reject(new Error(`shell session ended: ${why}`));
  }
}

/**
 * Which of a node's sessions runs a command. A session runs one command at a
 * time, so the module guard's reads, taken around every test, have a lane of
 * their own: on the shared one they waited behind other tests' rule dumps
 * and conntrack reads under --parallel, and the guard's read time grew with
 * the work on the node rather than with the number of nodes.
 */
export type NodeLane = 'work' | 'guard';

/**
 * Where a session runs a command. `own shell`: `sh -c '<command>'`, a fork
 * and an exec per command, so that nothing the command does (an exit, a
 * syntax error, its variables) reaches the session. `session shell`: in the
 * session's shell itself, no fork and no exec, for the suite's own constant
 * commands that never exit: the module guard's (module-state.ts), read on
 * every node before and after every test. The exec of `sh` was most of a
 * reading: on the idle two-node local cluster one node's reading took 0.9 ms
 * in its own shell and 0.3 ms in the session's, both nodes' at once 1.2 and
 * 0.35 ms; and it was the part that grew with the nodes on two cores.
 */
export type RunIn = 'own shell' | 'session shell';

/** The guard lane runs its commands in the session's shell, the work lane each in its own. */
export const runIn = (lane: NodeLane = 'work'): RunIn => (lane === 'guard' ? 'session shell' : 'own shell');

/**
 * One session per node and lane, opened on first use and again after one
 * ends. A node where `open` gives undefined (its login shell cannot run
 * `exec /bin/sh`: a restricted shell, a forced command) keeps undefined,
 * and its access runs one exec per command instead.
 */
export class NodeShells {
  private readonly sessions = new Map<string, Promise<ShellSession | undefined>>();

  constructor(private readonly open: (node: string) => Promise<ShellSession | undefined>) {}

  get(node: string, lane: NodeLane = 'work'): Promise<ShellSession | undefined> {
    const key = `${lane}\0${node}`;
    const previous = this.sessions.get(key);
    const current = previous
      ? previous.then((s) => (s === undefined || s.open ? s : this.open(node)))
      : this.open(node);
    this.sessions.set(key, current);
    return current;
  }

  async closeAll(): Promise<void> {
    for (const s of this.sessions.values()) (await s.catch(() => undefined))?.close();
    this.sessions.clear();
  }
}

/** A session once `sh` answered its first command; undefined if it never did. */
export const started = (session: ShellSession): Promise<ShellSession | undefined> =>
  session.ready.then(
    () => session,
    () => undefined,
  );
