/**
 * NodeAccess runs a shell command on a node and returns its output and exit
 * code. Three real implementations behind one interface:
 *  - ssh:  node-ssh to the node's InternalIP/ExternalIP, optionally through a
 *          jump host (what the KEP planned and upstream never used);
 *  - pod:  a privileged host-network, host-PID pod per node that nsenters the
 *          node's mount namespace, as upstream's host-exec pods do;
 *  - none: no access; node assertions skip with the reason.
 */
import { PassThrough, Writable } from 'node:stream';
import type * as k8s from '@kubernetes/client-node';
import { NodeSSH } from 'node-ssh';
import type { ClientChannel } from 'ssh2';
import { NodeShells, runIn, ShellSession, started, type NodeLane } from './node-shell.ts';
import type { Config } from '../framework/config.ts';
import { SuiteError, errorText } from '../framework/errors.ts';
import type { Kube } from './kube.ts';
import { startNodePod } from './node-pods.ts';
import type { Cleanup } from '../framework/cleanup.ts';
import { createRunNamespace } from './namespaces.ts';

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface NodeAccess {
  readonly kind: 'ssh' | 'pod' | 'none';
  /** Why node checks cannot run, for kind 'none'. */
  readonly unavailableReason?: string;
  /** Runs `command` on `node`, after the commands before it in the same lane. */
  exec(node: string, command: string, lane?: NodeLane): Promise<ExecResult>;
  close(): Promise<void>;
}

export function nodeAddress(node: k8s.V1Node, type: string): string | undefined {
  return node.status?.addresses?.find((a) => a.type === type)?.address;
}

/** Runs `command` on every node at once; results keyed by node name. */
export async function execOnNodes(
  access: NodeAccess,
  nodes: string[],
  command: string,
): Promise<Map<string, ExecResult>> {
  const results = await Promise.all(nodes.map(async (n) => [n, await access.exec(n, command)] as const));
  return new Map(results);
}

export class NoNodeAccess implements NodeAccess {
  readonly kind = 'none';
  constructor(readonly unavailableReason: string) {}
  exec(): Promise<ExecResult> {
    return Promise.reject(new Error(`no node access: ${this.unavailableReason}`));
  }
  async close(): Promise<void> {}
}

export class SshNodeAccess implements NodeAccess {
  readonly kind = 'ssh';
  private readonly connections = new Map<string, Promise<NodeSSH>>();
  /** One long-lived shell per node (see node-shell.ts). */
  private readonly shells = new NodeShells((node) => this.openShell(node));
  private jump?: Promise<NodeSSH>;

  constructor(
    private readonly config: Pick<
      Config,
      'sshUser' | 'sshKey' | 'sshPort' | 'sshJumpHost' | 'sshAddressType'
    >,
    private readonly addresses: Map<string, string>,
  ) {}

  private connect(node: string): Promise<NodeSSH> {
    let conn = this.connections.get(node);
    if (!conn) {
      conn = this.open(node);
      this.connections.set(node, conn);
    }
    return conn;
  }

  private async open(node: string): Promise<NodeSSH> {
    const host = this.addresses.get(node);
    if (!host)
      throw new SuiteError(
        `node ${node} has no ${this.config.sshAddressType} address to SSH to`,
        'choose another --ssh-address-type',
      );
    const base = { username: this.config.sshUser, privateKeyPath: this.config.sshKey, readyTimeout: 10_000 };
    const ssh = new NodeSSH();
    try {
      if (this.config.sshJumpHost) {
        const jump = await this.openJump();
        const sock = await new Promise<NodeJS.ReadableStream>((resolve, reject) =>
          jump.connection!.forwardOut('127.0.0.1', 0, host, this.config.sshPort, (err, stream) =>
            err ? reject(err) : resolve(stream),
          ),
        );
        await ssh.connect({ ...base, sock: sock as never });
      } else {
        await ssh.connect({ ...base, host, port: this.config.sshPort });
      }
    } catch (err) {
      throw sshError(`${this.config.sshUser}@${host}:${this.config.sshPort} (node ${node})`, err);
    }
    return ssh;
  }

  private openJump(): Promise<NodeSSH> {
    if (!this.jump) {
      const m = /^(?:([^@]+)@)?([^:]+)(?::(\d+))?$/.exec(this.config.sshJumpHost!);
      if (!m)
        throw new SuiteError(`invalid --ssh-jump-host "${this.config.sshJumpHost}"`, 'use user@host[:port]');
      const ssh = new NodeSSH();
      const target = { host: m[2], port: Number(m[3] ?? 22), username: m[1] ?? this.config.sshUser };
      this.jump = ssh
        .connect({ ...target, privateKeyPath: this.config.sshKey, readyTimeout: 10_000 })
        .catch((err: unknown) => {
          throw sshError(`jump host ${target.username}@${target.host}:${target.port}`, err);
        });
    }
    return this.jump;
  }

  async exec(node: string, command: string, lane?: NodeLane): Promise<ExecResult> {
    const shell = await this.shells.get(node, lane);
    if (shell) return shell.exec(command, runIn(lane));
    const ssh = await this.connect(node);
    const r = await ssh.execCommand(command);
    return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? -1 };
  }

  private async openShell(node: string): Promise<ShellSession | undefined> {
    const ssh = await this.connect(node);
    const channel = await new Promise<ClientChannel | undefined>((resolve) =>
      ssh.connection!.exec('exec /bin/sh', (err, ch) => resolve(err ? undefined : ch)),
    );
    if (!channel) return undefined;
    const session = new ShellSession({
      write: (text) => void channel.write(text),
      onStdout: (l) => void channel.on('data', l),
      onStderr: (l) => void channel.stderr.on('data', l),
      onClose: (l) => {
        channel.on('close', () => l('the SSH channel closed'));
        channel.on('error', (err: Error) => l(`the SSH channel failed: ${err.message}`));
      },
      end: () => void channel.end(),
    });
    return started(session);
  }

  async close(): Promise<void> {
    await this.shells.closeAll();
    for (const conn of this.connections.values()) (await conn.catch(() => undefined))?.dispose();
    (await this.jump?.catch(() => undefined))?.dispose();
  }
}

function sshError(target: string, err: unknown): SuiteError {
  const text = errorText(err);
  if (/authentication/i.test(text))
    return new SuiteError(
      `SSH authentication to ${target} failed`,
      'check --ssh-user and --ssh-key, or use --node-access pod',
    );
  return new SuiteError(
    `cannot SSH to ${target}: ${text.split('\n')[0]}`,
    'check the node is reachable on that address and port, or use --node-access pod',
  );
}

/** Privileged host-exec pods, one per node, created on first use. */
export class PodNodeAccess implements NodeAccess {
  readonly kind = 'pod';
  private namespace?: Promise<string>;
  private readonly pods = new Map<string, Promise<string>>();

  constructor(
    private readonly kube: Kube,
    private readonly image: string,
    private readonly runId: string,
    private readonly cleanup: Cleanup,
    private readonly timeoutMs: number,
  ) {}

  private pod(node: string): Promise<string> {
    let pod = this.pods.get(node);
    if (!pod) {
      pod = this.create(node);
      this.pods.set(node, pod);
    }
    return pod;
  }

  private async create(node: string): Promise<string> {
    this.namespace ??= createRunNamespace(this.kube, this.runId, 'hostexec', this.cleanup, {
      privileged: true,
    });
    const namespace = await this.namespace;
    // sleep keeps it alive; every command is an exec that nsenters the node.
    const container = {
      name: 'hostexec',
      image: this.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['sleep', '86400'],
    };
    return startNodePod(this.kube, namespace, node, 'hostexec', container, {
      hostPID: true,
      timeoutMs: this.timeoutMs,
      what: `host-exec pod on ${node}`,
      imageFlag: '--host-exec-image',
    });
  }

  /** One long-lived shell per node through one exec stream (see node-shell.ts). */
  private readonly shells = new NodeShells((node) => this.openShell(node));

  async exec(node: string, command: string, lane?: NodeLane): Promise<ExecResult> {
    const shell = await this.shells.get(node, lane);
    if (shell) return shell.exec(command, runIn(lane));
    const name = await this.pod(node);
    const namespace = await this.namespace!;
    return podExec(this.kube, namespace, name, 'hostexec', ['sh', '-c', ENTER_NODE, 'hostexec', command]);
  }

  private async openShell(node: string): Promise<ShellSession | undefined> {
    const name = await this.pod(node);
    const namespace = await this.namespace!;
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let closed: ((why: string) => void) | undefined;
    const ws = await this.kube.exec
      .exec(
        namespace,
        name,
        'hostexec',
        ['sh', '-c', ENTER_NODE, 'hostexec', 'exec /bin/sh'],
        stdout,
        stderr,
        stdin,
        false,
        (status) => closed?.(`the host-exec shell ended: ${status.message ?? status.status ?? 'no status'}`),
      )
      .catch(() => undefined);
    if (!ws) return undefined;
    const session = new ShellSession({
      write: (text) => void stdin.write(text),
      onStdout: (l) => void stdout.on('data', l),
      onStderr: (l) => void stderr.on('data', l),
      onClose: (l) => {
        closed = l;
        ws.on('close', () => l('the exec stream closed'));
        ws.on('error', (err: Error) => l(`the exec stream failed: ${err.message}`));
      },
      end: () => {
        stdin.end();
        ws.close();
      },
    });
    return started(session);
  }

  async close(): Promise<void> {
    await this.shells.closeAll();
  }
}

/**
 * Runs "$1" in the node's mount namespace, so its own binaries
 * and files are used; the network namespace is already the node's
 * (hostNetwork). Upstream enters PID 1's; kubelet's is the same on an
 * ordinary node and also right where the node is itself a container or a
 * namespace (kind, the local cluster), or where PID 1 refuses to be entered.
 */
const ENTER_NODE =
  't=$(pidof kubelet | cut -d" " -f1); exec nsenter --mount=/proc/${t:-1}/ns/mnt -- sh -c "$1"';

/** Runs a command in a container through the API and collects its output. */
export async function podExec(
  kube: Kube,
  namespace: string,
  pod: string,
  container: string,
  command: string[],
): Promise<ExecResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, done) {
        append(chunk.toString());
        done();
      },
    });
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    kube.exec
      .exec(
        namespace,
        pod,
        container,
        command,
        sink((s) => (stdout += s)),
        sink((s) => (stderr += s)),
        null,
        false,
        resolve,
      )
      .catch(reject);
  });
  let code = 0;
  if (status.status !== 'Success') {
    const exit = status.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
    code = exit ? Number(exit) : -1;
    if (code === -1) stderr += status.message ?? '';
  }
  return { stdout, stderr, code };
}
