/**
 * The parts of "runs always end clean" that need no cluster: the CLI refuses
 * an unusable report dir and negative numbers at once with one line; waits
 * say what they wait for (once, and not with --quiet); an image that cannot
 * be pulled ends a pod wait at once; a stopping run creates no namespace.
 * The signal rows themselves run on the local cluster
 * (test/integration/lifecycle.test.ts).
 */
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { expect } from 'chai';
import { execa } from 'execa';
import { Cleanup } from '../../helpers/framework/cleanup.ts';
import { SuiteError } from '../../helpers/framework/errors.ts';
import { podProgress, type Kube } from '../../helpers/access/kube.ts';
import {
  allowCreatingNamespaces,
  createRunNamespace,
  RunStopping,
  stopCreatingNamespaces,
} from '../../helpers/access/namespaces.ts';
import { setNotices } from '../../helpers/framework/notices.ts';
import { poll, PollTimeout, StopWaiting } from '../../helpers/framework/poll.ts';
import { ROOT } from '../../helpers/framework/runner.ts';

const CLI = join(ROOT, 'bin', 'sctp-e2e');
// The CLI must not read a user's settings or reach a cluster here.
const ENV = { SCTP_E2E_STATE: '/nonexistent', KUBECONFIG: '/nonexistent/kubeconfig' };

async function cli(args: string[]) {
  const started = Date.now();
  const r = await execa(CLI, args, { reject: false, env: ENV, extendEnv: true, timeout: 40_000 });
  return { code: r.exitCode ?? -1, stderr: r.stderr, seconds: (Date.now() - started) / 1000 };
}

describe('lifecycle: the CLI refuses what it cannot run with, at once', () => {
  it('--report-dir under /proc: exit 2 with one line, before any cluster contact', async () => {
    const r = await cli(['run', '--report-dir', '/proc/forbidden']);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/--report-dir \/proc\/forbidden is not a directory this run can write/);
    // It used to spin forever. The 5 s bound is the integration row's: here the
    // CLI's start-up alone depends on the machine's load.
    expect(r.seconds).to.be.below(30);
  });

  for (const args of [['--probe-timeout', '-5'], ['--probe-timeout=-5'], ['--probe-timeout', 'abc']])
    it(`run ${args.join(' ')}: the same clear one-line message as any bad number`, async () => {
      const r = await cli(['run', ...args]);
      expect(r.code).to.equal(2);
      expect(r.stderr.trim()).to.match(
        /^sctp-e2e: invalid flag --probe-timeout: "(-5|abc)" is not a positive number — give --probe-timeout a number greater than 0$/,
      );
    });
});

describe('lifecycle: waits say what they wait for', () => {
  let lines: string[];
  let previous: ReturnType<typeof setNotices>;
  beforeEach(() => {
    lines = [];
    previous = setNotices({ quiet: false, write: (l) => void lines.push(l) });
  });
  afterEach(() => void setNotices(previous));

  it('one line, once the wait is long enough, with what was last seen', async () => {
    let calls = 0;
    const value = await poll(
      'pod x to run',
      { timeoutMs: 2000, intervalMs: 20, announceAfterMs: 100 },
      async () => {
        calls++;
        if (calls < 15) throw new Error('phase Pending, ContainerCreating');
        return 'up';
      },
    );
    expect(value).to.equal('up');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^waiting for pod x to run \(phase Pending, ContainerCreating, 0 s\)…$/);
  });

  it('nothing for a short wait, and nothing with --quiet', async () => {
    await poll('quick', { timeoutMs: 1000, announceAfterMs: 500 }, async () => true);
    setNotices({ quiet: true });
    await poll('slow', { timeoutMs: 200, intervalMs: 20, announceAfterMs: 0 }, async () => {
      throw new Error('not yet');
    }).catch((err: unknown) => expect(err).to.be.instanceOf(PollTimeout));
    expect(lines).to.deep.equal([]);
  });

  it('StopWaiting ends the wait at once with its reason', async () => {
    const started = Date.now();
    const reason = new SuiteError('cannot pull', 'fix it');
    const err = await poll('never', { timeoutMs: 5000 }, async () => {
      throw new StopWaiting(reason);
    }).catch((e: unknown) => e);
    expect(err).to.equal(reason);
    expect(Date.now() - started).to.be.below(500);
  });
});

/** Pod statuses as the API returns them (trimmed), from the local cluster. */
const pending = (waiting: k8s.V1ContainerStateWaiting): k8s.V1Pod => ({
  status: {
    phase: 'Pending',
    conditions: [{ type: 'Ready', status: 'False' }],
    containerStatuses: [
      {
        name: 'hostexec',
        image: 'localhost/none:0',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { waiting },
      },
    ],
  },
});

describe('lifecycle: pod progress', () => {
  it('an image that cannot be pulled is named, with the reason', () => {
    for (const reason of ['ErrImagePull', 'ImagePullBackOff']) {
      const p = podProgress(
        pending({
          reason,
          message:
            'failed to pull and unpack image "localhost/none:0": failed to resolve reference "localhost/none:0": failed to do request: Head "https://localhost/v2/none/manifests/0": dial tcp 127.0.0.1:443: connect: connection refused',
        }),
      );
      expect(p.ready).to.equal(false);
      expect(p.pullFailure).to.include({ container: 'hostexec', image: 'localhost/none:0', reason });
      expect(p.pullFailure!.message).to.match(/^failed to pull and unpack image/);
    }
  });

  it('ContainerCreating is progress, not a failure; Running and Ready with an IP is ready', () => {
    const creating = podProgress(pending({ reason: 'ContainerCreating' }));
    expect(creating).to.deep.include({ ready: false, seen: 'Pending, ContainerCreating' });
    expect(creating.pullFailure).to.equal(undefined);
    expect(podProgress({ status: { phase: 'Pending' } }).seen).to.equal('Pending');
    const running: k8s.V1Pod = {
      status: { phase: 'Running', podIP: '198.19.0.7', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    expect(podProgress(running).ready).to.equal(true);
  });
});

describe('lifecycle: a stopping run creates no namespace', () => {
  after(() => allowCreatingNamespaces());

  it('refuses before any API call once the run stops', async () => {
    await stopCreatingNamespaces();
    // No API is reachable here: the refusal must come before any request.
    const kube = { core: {} } as unknown as Kube;
    const err = await createRunNamespace(kube, 'r1', 'decl-pod', new Cleanup()).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(RunStopping);
    expect((err as Error).message).to.equal(
      'not creating namespace sctp-e2e-r1-decl-pod: the run is stopping',
    );
  });
});
