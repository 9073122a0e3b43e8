/**
 * Progress notices: one line on stdout when a wait lasts long enough to be
 * noticed ("waiting for host-exec pod on node1 (phase Pending, 3 s)…"), so a
 * person always sees what the run is waiting for. `--quiet` turns them off.
 *
 * The setting is one per process (per-process.ts): mocha may load the tests'
 * copy of this module apart from the CLI's, and both must obey it.
 */
import { perProcess } from './per-process.ts';

interface NoticeSink {
  quiet: boolean;
  write(line: string): void;
}

const toStdout: NoticeSink = { quiet: false, write: (line) => void process.stdout.write(`${line}\n`) };
const holder = perProcess<{ sink: NoticeSink }>('notices', () => ({ sink: toStdout }));

/** Sets where notices go and whether they are printed at all; returns the previous setting. */
export function setNotices(sink: Partial<NoticeSink>): NoticeSink {
  const previous = holder.sink;
  holder.sink = { ...previous, ...sink };
  return previous;
}

export function notice(line: string): void {
  if (!holder.sink.quiet) holder.sink.write(line);
}
