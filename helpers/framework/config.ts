/**
 * One typed, validated configuration from four sources, strongest first:
 * command-line flags, SCTP_E2E_* environment variables, a config file
 * (--config, YAML or JSON) and, when no kubeconfig is given at all, the env
 * file that `sctp-e2e cluster up` writes for the local cluster.
 *
 * Every setting is declared once in SETTINGS; its flag, variable and file key
 * are derived from its name, so the three can never drift apart.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SuiteError, errorText } from './errors.ts';

export const LOCAL_CLUSTER_ENV = process.env.SCTP_E2E_STATE
  ? `${process.env.SCTP_E2E_STATE}/env`
  : '/var/lib/sctp-e2e/cluster/env';

export type NodeAccessKind = 'ssh' | 'pod' | 'none' | 'auto';
export type AgentKind = 'agnhost' | 'usrsctp';
export type AddressType = 'InternalIP' | 'ExternalIP';

export interface Config {
  kubeconfig?: string;
  context?: string;
  focus?: string;
  skip?: string;
  disruptive: boolean;
  nodeAccess: NodeAccessKind;
  sshUser: string;
  sshKey?: string;
  sshPort: number;
  sshAddressType: AddressType;
  sshJumpHost?: string;
  agent?: AgentKind;
  agnhostImage: string;
  agentImage: string;
  hostExecImage?: string;
  suiteImage: string;
  externalAgent?: string;
  externalIpRange?: string;
  reportDir: string;
  quiet: boolean;
  /** Release qualification: a skip or a known failure fails the run (exit 1). */
  strict: boolean;
  known?: string;
  podTimeout: number;
  ruleTimeout: number;
  probeTimeout: number;
  /** How many tests of a tier may run at once (helpers/framework/scheduler.ts). */
  parallel: number;
  /** End without waiting for the run's namespaces to be gone (deleted, not checked). */
  namespacesNoWait: boolean;
  /** Set when the settings came from the local cluster's env file. */
  localCluster?: string;
  runId: string;
}

/**
 * Tests of a tier run this many at a time by default. Measured with
 * bin/benchmark on the 2-core machine of the README (see its Benchmark).
 */
export const PARALLEL_DEFAULT = 3;
/** The suite image the local cluster's `cluster load-suite` builds and imports. */
export const LOCAL_SUITE_IMAGE = 'localhost/sctp-e2e/suite:0.1.0';

type Kind = 'string' | 'boolean' | 'number' | 'count' | { oneOf: readonly string[] };

interface Setting {
  name: keyof Config;
  kind: Kind;
  help: string;
  default?: string | number | boolean;
}

/** The settings users may give; derived values (runId) are not among them. */
export const SETTINGS: readonly Setting[] = [
  {
    name: 'kubeconfig',
    kind: 'string',
    help: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, else the local cluster)',
  },
  { name: 'context', kind: 'string', help: 'kubeconfig context to use' },
  { name: 'focus', kind: 'string', help: 'run only tests whose full title matches this regex' },
  { name: 'skip', kind: 'string', help: 'skip tests whose full title matches this regex' },
  {
    name: 'disruptive',
    kind: 'boolean',
    default: false,
    help: 'also run [Disruptive] tests (excluded by default)',
  },
  {
    name: 'nodeAccess',
    kind: { oneOf: ['auto', 'ssh', 'pod', 'none'] },
    default: 'auto',
    help: 'how to run commands on nodes: ssh, a privileged host-exec pod, none (node checks skip), auto (ssh if a key is set, else pod)',
  },
  { name: 'sshUser', kind: 'string', default: 'root', help: 'SSH user on the nodes' },
  { name: 'sshKey', kind: 'string', help: 'SSH private key file' },
  { name: 'sshPort', kind: 'number', default: 22, help: 'SSH port on the nodes' },
  {
    name: 'sshAddressType',
    kind: { oneOf: ['InternalIP', 'ExternalIP'] },
    default: 'InternalIP',
    help: 'which node address to SSH to',
  },
  { name: 'sshJumpHost', kind: 'string', help: 'SSH jump host, user@host[:port], same key' },
  {
    name: 'agent',
    kind: { oneOf: ['agnhost', 'usrsctp'] },
    help: 'test agent: agnhost (kernel SCTP, default on real clusters) or usrsctp (userspace SCTP, default on the local cluster)',
  },
  {
    name: 'agnhostImage',
    kind: 'string',
    default: 'registry.k8s.io/e2e-test-images/agnhost:2.53',
    help: 'agnhost image (override for a mirrored registry)',
  },
  {
    name: 'agentImage',
    kind: 'string',
    default: 'localhost/sctp-e2e/agent:0.4.1',
    help: 'usrsctp agent image (push images/agent to your registry and name it here)',
  },
  {
    name: 'suiteImage',
    kind: 'string',
    default: LOCAL_SUITE_IMAGE,
    help: 'image of the suite itself, run by `sctp-e2e job` (build images/suite/Dockerfile and push it)',
  },
  {
    name: 'hostExecImage',
    kind: 'string',
    help: 'image of the privileged host-exec pod (needs nsenter; default: the agent image)',
  },
  {
    name: 'externalAgent',
    kind: 'string',
    help: 'usrsctp agent binary (images/agent/build.sh) to probe from this machine as the client outside the cluster (needs root); without it, outside tests skip',
  },
  {
    name: 'externalIpRange',
    kind: 'string',
    help: 'a CIDR this machine routes to the cluster, to pick a Service externalIP from for outside tests (without it, the externalIP test skips)',
  },
  {
    name: 'known',
    kind: 'string',
    help: 'known-limitations profile: tests expected to fail here, with reasons (YAML; see fixtures/known/)',
  },
  {
    name: 'reportDir',
    kind: 'string',
    default: 'reports',
    help: 'where allure-results/, junit.xml and the summary go',
  },
  {
    name: 'strict',
    kind: 'boolean',
    default: false,
    help: 'release qualification: any skipped test or known failure makes the exit code 1',
  },
  {
    name: 'quiet',
    kind: 'boolean',
    default: false,
    help: 'console: failures, known failures and the summary line only (JUnit, allure and summary.md are written as always)',
  },
  { name: 'podTimeout', kind: 'number', default: 120, help: 'seconds to wait for a pod to run' },
  {
    name: 'ruleTimeout',
    kind: 'number',
    default: 30,
    help: 'seconds to wait for node rules to appear or go',
  },
  { name: 'probeTimeout', kind: 'number', default: 3, help: 'seconds one probe may take' },
  {
    name: 'parallel',
    kind: 'count',
    default: PARALLEL_DEFAULT,
    help: 'how many tests of a tier run at once (1: one after the other); truth tables never overlap each other, and the tiers never overlap',
  },
  {
    name: 'namespacesNoWait',
    kind: 'boolean',
    default: false,
    help: "end without waiting for the run's namespaces to be gone (about 6 s): they are deleted, but whether one is left is not checked, and the summary says so",
  },
];

export const flagName = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
export const envName = (name: string): string =>
  `SCTP_E2E_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

export type RawSettings = Partial<Record<keyof Config, string | number | boolean>>;

/** Where settings come from, and how a setting is spelled there (for errors). */
interface Layer {
  source: string;
  keyOf: (name: string) => string;
  values: RawSettings;
}
const asFlag = (name: string) => `--${flagName(name)}`;
const asKey = (name: string) => name;

/** Converts one raw value to its setting's type, or names the problem as the user wrote it. */
function coerce(setting: Setting, raw: string | number | boolean, layer: Layer): string | number | boolean {
  const key = layer.keyOf(setting.name);
  const where = `${layer.source} ${key}`;
  const kind = setting.kind;
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (/^(1|true|yes)$/i.test(String(raw))) return true;
    if (/^(0|false|no|)$/i.test(String(raw))) return false;
    throw new SuiteError(`invalid ${where}: "${raw}" is not a boolean`, 'use true or false');
  }
  if (kind === 'number') {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0)
      throw new SuiteError(
        `invalid ${where}: "${raw}" is not a positive number`,
        `give ${key} a number greater than 0`,
      );
    return n;
  }
  if (kind === 'count') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1)
      throw new SuiteError(
        `invalid ${where}: "${raw}" is not a whole number of at least 1`,
        `give ${key} 1, 2, 3…`,
      );
    return n;
  }
  const value = String(raw);
  if (typeof kind === 'object' && !kind.oneOf.includes(value)) {
    throw new SuiteError(`invalid ${where}: "${value}"`, `use one of ${kind.oneOf.join(', ')}`);
  }
  return value;
}

function fromEnv(env: NodeJS.ProcessEnv): RawSettings {
  const out: RawSettings = {};
  for (const s of SETTINGS) {
    const v = env[envName(s.name)];
    if (v !== undefined && v !== '') out[s.name] = v;
  }
  return out;
}

function fromFile(path: string): RawSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new SuiteError(`cannot read config file ${path}`, 'check the --config path');
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new SuiteError(
      `config file ${path} is not valid YAML/JSON (${(err as Error).message.split('\n')[0]})`,
      'fix its syntax',
    );
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new SuiteError(
      `config file ${path} must be a mapping of setting: value`,
      'see the README for the keys',
    );
  }
  const known = new Set(SETTINGS.map((s) => s.name as string));
  for (const key of Object.keys(data)) {
    if (!known.has(key))
      throw new SuiteError(
        `unknown setting "${key}" in config file ${path}`,
        `known settings: ${[...known].join(', ')}`,
      );
  }
  return data as RawSettings;
}

/** Reads the KEY=VALUE env file written by `cluster up`. */
export function readEnvFile(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

export interface LoadInput {
  flags: RawSettings;
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Path of the local cluster's env file; tests point it elsewhere. */
  localEnvFile?: string;
  runId?: string;
}

export function loadConfig(input: LoadInput): Config {
  const env = input.env ?? process.env;
  const file = input.configFile ?? env.SCTP_E2E_CONFIG;
  const layers: Layer[] = [
    { source: 'flag', keyOf: asFlag, values: input.flags },
    { source: 'environment', keyOf: envName, values: fromEnv(env) },
  ];
  if (file) layers.push({ source: `config file ${file}`, keyOf: asKey, values: fromFile(file) });

  // No kubeconfig anywhere: fall back to the local cluster when it is up.
  const givenKubeconfig = layers.some((l) => l.values.kubeconfig !== undefined) || env.KUBECONFIG;
  const localEnvFile = input.localEnvFile ?? LOCAL_CLUSTER_ENV;
  let localCluster: string | undefined;
  if (!givenKubeconfig && existsSync(localEnvFile)) {
    const localEnv = readEnvFile(localEnvFile);
    localCluster = localEnv.SCTP_E2E_LOCAL_CLUSTER;
    layers.push({ source: `local cluster env ${localEnvFile}`, keyOf: envName, values: fromEnv(localEnv) });
  }

  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const layer = layers.find((l) => l.values[s.name] !== undefined);
    if (layer) config[s.name] = coerce(s, layer.values[s.name]!, layer);
    else if (s.default !== undefined) config[s.name] = s.default;
  }
  for (const key of ['focus', 'skip'] as const) {
    const value = config[key];
    if (typeof value === 'string') {
      try {
        new RegExp(value);
      } catch {
        throw new SuiteError(
          `invalid --${key} regex: ${value}`,
          'escape brackets in tags, e.g. "\\[Feature:SCTP\\]"',
        );
      }
    }
  }
  if (config.nodeAccess === 'ssh' && !config.sshKey) {
    throw new SuiteError('--node-access ssh needs an SSH key', 'give --ssh-key FILE (or SCTP_E2E_SSH_KEY)');
  }
  if (typeof config.sshKey === 'string' && !existsSync(config.sshKey)) {
    throw new SuiteError(
      `SSH key ${config.sshKey} does not exist`,
      'give the path of a readable private key with --ssh-key',
    );
  }
  config.localCluster = localCluster;
  // `sctp-e2e job` names the run inside its pod, so that it can remove that
  // run's namespaces too if the pod dies before it cleans up.
  config.runId = input.runId ?? runIdFromEnv(env) ?? newRunId();
  return config as unknown as Config;
}

function runIdFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  const id = env.SCTP_E2E_RUN_ID;
  if (!id) return undefined;
  if (!/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/.test(id))
    throw new SuiteError(
      `invalid SCTP_E2E_RUN_ID "${id}"`,
      'use lower-case letters, digits and dashes (at most 32)',
    );
  return id;
}

/** Short, sortable, DNS-label-safe: it ends up in namespace names and labels. */
export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(2, 12);
  return `${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * node's parseArgs reads `--probe-timeout -5` as a flag without its value
 * followed by an unknown flag `-5` ("argument is ambiguous"). A value-taking
 * flag followed by something shaped like a negative number takes it as its
 * value (`--probe-timeout=-5`), so the setting's own check answers, with the
 * same message as for any other bad number.
 */
export function attachNegativeValues(argv: string[], valueFlags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = argv[i + 1];
    if (arg.startsWith('--') && valueFlags.has(arg.slice(2)) && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * Makes sure the run can write its reports into `dir` (creating it and its
 * missing parents), or stops the run before it touches the cluster.
 *
 * Not mkdirSync(..., { recursive: true }): on Node 20 that spins forever on a
 * path under /proc (one CPU busy, and signals are never handled because the
 * event loop never turns) — how `--report-dir /proc/forbidden` used to hang.
 * One plain mkdir per missing level fails at once instead.
 */
export function ensureReportDir(dir: string): void {
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  try {
    for (const level of missing) mkdirSync(level);
    const probe = join(dir, `.sctp-e2e-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (err) {
    throw new SuiteError(
      `--report-dir ${dir} is not a directory this run can write (${errorText(err).split('\n')[0]})`,
      'give a directory you can create and write, e.g. --report-dir reports (or SCTP_E2E_REPORT_DIR)',
    );
  }
}
