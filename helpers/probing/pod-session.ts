/**
 * One long-lived exec into a pod that runs command after command: a shell
 * reads each command as a line on stdin, runs it and marks its end on stdout
 * and stderr. A truth-table round execs into all 9 model pods at once, and
 * on the 2-core local cluster nine concurrent execs of `true` alone took
 * 0.9–1.5 s (API server → kubelet → runc exec, each time): more than the
 * probing they carried, and CPU taken from the agents being probed. A
 * session pays the exec once per pod and model.
 *
 * What it must not change: a command's output and exit status are what a
 * fresh exec would have given, and an exec the API refuses is the same error
 * (`execFailure`). A session whose exec ends (container restart, connection
 * lost) fails the command in flight with what is known, and the next command
 * opens a new exec.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import type { Kube } from '../access/kube.ts';
import type { ExecResult } from '../access/node-access.ts';
import { execFailure, type Executor } from './agent.ts';

/** `argv` as one sh command line: every argument single-quoted. */
export const shellLine = (argv: string[]) => argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');

interface Pending {
  stdout?: string;
  stderr?: string;
  code?: number;
  resolve(r: ExecResult): void;
  reject(e: Error): void;
}

/**
 * The shell loop a session runs: each stdin line is one command, run with
 * /dev/null as its stdin (it must not read the next commands), its end
 * marked on stdout with its exit status and on stderr.
 */
export const sessionScript = (mark: string) =>
  `while IFS= read -r line; do eval "$line" </dev/null; ` +
  `printf '\\n%s %s\\n' ${mark} $?; printf '\\n%s\\n' ${mark} >&2; done`;

/** One output stream of a session, cut at the marks: the text before each mark is one command's. */
export class MarkedStream {
  private buffer = '';
  constructor(private readonly mark: string) {}

  /** Appends `chunk`; returns each completed command's text and the rest of the mark line. */
  push(chunk: string): Array<{ text: string; rest: string }> {
    this.buffer += chunk;
    const done: Array<{ text: string; rest: string }> = [];
    for (;;) {
      // The shell writes "\n<mark>[ <code>]\n" after each command.
      const at = this.buffer.indexOf(`\n${this.mark}`);
      const end = at < 0 ? -1 : this.buffer.indexOf('\n', at + 1);
      if (end < 0) return done;
      done.push({
        text: this.buffer.slice(0, at),
        rest: this.buffer.slice(at + 1 + this.mark.length, end).trim(),
      });
      this.buffer = this.buffer.slice(end + 1);
    }
  }

  get unread(): string {
    return this.buffer;
  }
}

export class PodSession {
  private readonly mark = `@@sctp-e2e-session-${randomBytes(6).toString('hex')}`;
  private readonly stdin = new PassThrough();
  private readonly out = new MarkedStream(this.mark);
  private readonly err = new MarkedStream(this.mark);
  private pending?: Pending;
  /** Commands wait their turn: one at a time, as one exec each would run. */
  private queue: Promise<unknown> = Promise.resolve();
  private socket?: Promise<{ close(): void }>;
  /** Why the exec ended, once it has. */
  ended?: string;

  constructor(
    private readonly kube: Kube,
    readonly namespace: string,
    readonly pod: string,
    readonly container: string,
  ) {}

  /** Runs `argv` in the pod as an exec of it would, after the commands before it. */
  run(argv: string[]): Promise<ExecResult> {
    const turn = this.queue.then(() => this.runNow(argv));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Ends the exec; commands after this fail. */
  close(): void {
    this.ended ??= 'closed by the suite';
    this.stdin.end();
    void this.socket?.then((ws) => ws.close()).catch(() => undefined);
  }

  private async runNow(argv: string[]): Promise<ExecResult> {
    if (argv.some((a) => a.includes('\n')))
      throw new Error(`a pod session runs one line per command: ${JSON.stringify(argv)}`);
    if (this.ended) throw new Error(`the exec session in pod ${this.where} ended: ${this.ended}`);
    await this.open();
    return new Promise<ExecResult>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.stdin.write(`${shellLine(argv)}\n`);
    });
  }

  private get where(): string {
    return `${this.namespace}/${this.pod} (container ${this.container})`;
  }

  private open(): Promise<unknown> {
    this.socket ??= this.connect();
    return this.socket;
  }

  private async connect(): Promise<{ close(): void }> {
    const script = sessionScript(this.mark);
    const sink = (stream: MarkedStream, take: (p: Pending, text: string, rest: string) => void) =>
      new Writable({
        write: (chunk, _enc, done) => {
          for (const { text, rest } of stream.push(chunk.toString())) {
            if (this.pending) take(this.pending, text, rest);
            this.settle();
          }
          done();
        },
      });
    const stdout = sink(this.out, (p, text, rest) => {
      p.stdout = text;
      p.code = Number(rest);
    });
    const stderr = sink(this.err, (p, text) => (p.stderr = text));
    let status: k8s.V1Status | undefined;
    try {
      const ws = await this.kube.exec.exec(
        this.namespace,
        this.pod,
        this.container,
        ['sh', '-c', script],
        stdout,
        stderr,
        this.stdin,
        false,
        (s) => (status = s),
      );
      ws.on('close', () =>
        this.end(status?.message ?? (status ? `exit status ${status.status}` : 'the connection closed')),
      );
      return ws;
    } catch (err) {
      const why = await execFailure(this.kube, this.namespace, this.pod, this.container, err);
      this.end(why);
      throw new Error(why, { cause: err });
    }
  }

  private settle(): void {
    const p = this.pending;
    if (!p || p.code === undefined || p.stderr === undefined) return;
    this.pending = undefined;
    p.resolve({ stdout: p.stdout ?? '', stderr: p.stderr, code: p.code });
  }

  private end(why: string): void {
    this.ended ??= why;
    const p = this.pending;
    this.pending = undefined;
    const partial = this.out.unread || this.err.unread;
    p?.reject(
      new Error(
        `the exec session in pod ${this.where} ended during a command: ${this.ended}` +
          (partial ? `; its output so far: ${partial}` : ''),
      ),
    );
  }
}

/**
 * Sessions by pod, opened on first use; a session that ended is replaced at
 * the next command. `close` ends them all, and an executor used after it
 * fails instead of opening a session nothing would close.
 */
export class PodSessions {
  private readonly sessions = new Map<string, PodSession>();
  private closed = false;

  constructor(private readonly kube: Kube) {}

  executor(namespace: string, pod: string, container: string): Executor {
    return async (argv) => {
      if (this.closed)
        throw new Error(`the exec sessions of pod ${namespace}/${pod} were closed by the suite`);
      const key = `${namespace}/${pod}/${container}`;
      let session = this.sessions.get(key);
      if (!session || session.ended) {
        session = new PodSession(this.kube, namespace, pod, container);
        this.sessions.set(key, session);
      }
      return session.run(argv);
    };
  }

  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }
}
