/**
 * Progress notices: one line on stdout when a wait lasts long enough to be
 * noticed ("waiting for host-exec pod on node1 (phase Pending, 3 s)…"), so a
 * person always sees what the run is waiting for. `--quiet` turns them off.
 *
 * The setting lives on globalThis: mocha may load the tests' copy of this
 * module apart from the CLI's (see run-context.ts), and both must obey it.
 */
interface NoticeSink {
  quiet: boolean;
  write(line: string): void;
}

const KEY = Symbol.for('sctp-e2e.notices');
const holder = globalThis as { [KEY]?: NoticeSink };

const toStdout: NoticeSink = { quiet: false, write: (line) => void process.stdout.write(`${line}\n`) };

/** Sets where notices go and whether they are printed at all; returns the previous setting. */
export function setNotices(sink: Partial<NoticeSink>): NoticeSink {
  const previous = holder[KEY] ?? toStdout;
  holder[KEY] = { ...previous, ...sink };
  return previous;
}

export function notice(line: string): void {
  const sink = holder[KEY] ?? toStdout;
  if (!sink.quiet) sink.write(line);
}
