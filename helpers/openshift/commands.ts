/**
 * OpenShift: `enable-sctp` / `disable-sctp`: apply or remove the MachineConfig and follow
 * the pool's rollout until done, degraded, paused or the deadline.
 */
import { isDeepStrictEqual } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { stringify as stringifyYaml } from 'yaml';
import type { Config } from '../framework/config.ts';
import { SuiteError } from '../framework/errors.ts';
import { checkApi, loadKubeConfig, makeKube } from '../access/kube.ts';
import { poll, PollTimeout, NotYet } from '../framework/poll.ts';
import { OpenShiftApi, isOpenShift } from './api.ts';
import { machineConfigNameFor, renderMachineConfig, roleLabelsFor } from './machine-config.ts';
import { MCO_GROUP, type MachineConfig, type MachineConfigPool, ROLE_LABEL } from './objects.ts';
import { describeSelector, poolSctp } from './pools.ts';
import { type RolloutExpectation, rolloutState } from './rollout.ts';

// enable-sctp / disable-sctp.

export interface SctpCommandOptions {
  pool: string;
  dryRun: boolean;
  waitTimeoutSeconds: number;
}

export interface RawSctpFlags {
  openshift?: boolean;
  pool?: string;
  dryRun?: boolean;
  waitTimeout?: string;
}

/** A rollout drains and reboots the pool's nodes one at a time: allow an hour. */
export const DEFAULT_WAIT_TIMEOUT_SECONDS = 3600;

export function parseSctpCommandFlags(verb: string, flags: RawSctpFlags): SctpCommandOptions {
  if (!flags.openshift) {
    throw new SuiteError(
      `${verb} needs --openshift`,
      `only OpenShift/OKD (MachineConfig) enablement is implemented; elsewhere load sctp on each node as your distribution documents`,
    );
  }
  const pool = flags.pool ?? 'worker';
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(pool))
    throw new SuiteError(`invalid --pool "${pool}"`, 'give the name of a MachineConfigPool, e.g. worker');
  let waitTimeoutSeconds = DEFAULT_WAIT_TIMEOUT_SECONDS;
  if (flags.waitTimeout !== undefined) {
    waitTimeoutSeconds = Number(flags.waitTimeout);
    if (!Number.isFinite(waitTimeoutSeconds) || waitTimeoutSeconds <= 0)
      throw new SuiteError(
        `invalid --wait-timeout "${flags.waitTimeout}": not a positive number of seconds`,
        'give seconds, e.g. --wait-timeout 3600',
      );
  }
  return { pool, dryRun: Boolean(flags.dryRun), waitTimeoutSeconds };
}

type Print = (line: string) => void;
const stdoutPrint: Print = (line) => void process.stdout.write(`${line}\n`);

async function connect(config: Config): Promise<{ kc: k8s.KubeConfig; server: string }> {
  const kube = makeKube(loadKubeConfig(config));
  await checkApi(kube);
  if (!(await isOpenShift(kube.kc))) {
    throw new SuiteError(
      `the cluster at ${kube.server} does not serve ${MCO_GROUP}: it is not OpenShift/OKD`,
      'drop --openshift and load sctp on each node as your distribution documents',
    );
  }
  return { kc: kube.kc, server: kube.server };
}

async function requirePool(os: OpenShiftApi, name: string): Promise<MachineConfigPool> {
  const pool = await os.readPool(name);
  if (pool) return pool;
  const names = (await os.listPools()).map((p) => p.metadata.name);
  throw new SuiteError(
    `MachineConfigPool "${name}" does not exist`,
    `use --pool with one of: ${names.join(', ') || '(none)'}`,
  );
}

function dryRunYaml(mc: MachineConfig, note: string): string {
  return `# ${note}\n# apply with: oc apply -f - (or sctp-e2e enable-sctp without --dry-run)\n${stringifyYaml(mc)}`;
}

export async function enableSctpCommand(
  config: Config,
  options: SctpCommandOptions,
  print: Print = stdoutPrint,
): Promise<number> {
  if (options.dryRun) return enableDryRun(config, options, print);
  const { kc } = await connect(config);
  const os = new OpenShiftApi(kc);
  const pool = await requirePool(os, options.pool);
  const desired = renderMachineConfig(pool.metadata.name, roleLabelsFor(pool));
  const name = desired.metadata.name;

  const before = poolSctp(pool, await os.listMachineConfigs());
  let include: string[];
  if (before.enabled && !before.by.includes(name)) {
    // Someone enabled it their own way (another name, same files): a second
    // MachineConfig would only cost another reboot of every node.
    print(
      `MachineConfigPool ${pool.metadata.name} already enables SCTP by MachineConfig ${before.by.join(', ')}: nothing to create`,
    );
    include = before.by;
  } else {
    const existing = await os.readMachineConfig(name);
    const labelsOf = (mc: MachineConfig) => mc.metadata.labels ?? {};
    if (!existing) {
      await os.createMachineConfig(desired);
      print(
        `created MachineConfig ${name} (${describeSelector({ matchLabels: roleLabelsFor(pool) })}) for MachineConfigPool ${pool.metadata.name}`,
      );
    } else if (
      isDeepStrictEqual(existing.spec?.config, desired.spec?.config) &&
      Object.entries(labelsOf(desired)).every(([k, v]) => labelsOf(existing)[k] === v)
    ) {
      print(
        `MachineConfig ${name} for MachineConfigPool ${pool.metadata.name} is already as it should be: unchanged`,
      );
    } else {
      await os.replaceMachineConfig({
        ...existing,
        metadata: { ...existing.metadata, labels: { ...labelsOf(existing), ...labelsOf(desired) } },
        spec: { ...existing.spec, config: desired.spec?.config },
      });
      print(
        `updated MachineConfig ${name} for MachineConfigPool ${pool.metadata.name} to the documented files`,
      );
    }
    const after = poolSctp(pool, await os.listMachineConfigs());
    if (!after.enabled) {
      // A MachineConfig later in name order can overwrite ours.
      throw new SuiteError(
        `MachineConfig ${name} is applied, but MachineConfigPool ${pool.metadata.name} still does not enable SCTP: ${after.reason}`,
        'remove or fix the MachineConfig named there, then rerun',
      );
    }
    include = after.by;
  }
  const done = await waitForRollout(
    os,
    pool.metadata.name,
    { include, exclude: [] },
    options.waitTimeoutSeconds,
    print,
  );
  print(
    `SCTP is enabled on MachineConfigPool ${pool.metadata.name}: ${done.status?.updatedMachineCount ?? 0}/${done.status?.machineCount ?? 0} machines run ${done.status?.configuration?.name ?? 'the new config'} (from ${include.join(', ')}); check with \`sctp-e2e preflight\``,
  );
  return 0;
}

async function enableDryRun(config: Config, options: SctpCommandOptions, print: Print): Promise<number> {
  // Labels come from the pool when the cluster can say; otherwise the
  // documented role label, so the YAML can be produced offline too.
  let labels: Record<string, string> = { [ROLE_LABEL]: options.pool };
  let note = `MachineConfig for MachineConfigPool ${options.pool}`;
  try {
    const { kc, server } = await connect(config);
    const pool = await requirePool(new OpenShiftApi(kc), options.pool);
    labels = roleLabelsFor(pool);
    note += ` on ${server} (labels from its machineConfigSelector)`;
  } catch (err) {
    if (!(err instanceof SuiteError)) throw err;
    note += ` — not checked against a cluster (${err.message}); labelled ${ROLE_LABEL}=${options.pool}`;
  }
  print(dryRunYaml(renderMachineConfig(options.pool, labels), note).trimEnd());
  return 0;
}

export async function disableSctpCommand(
  config: Config,
  options: SctpCommandOptions,
  print: Print = stdoutPrint,
): Promise<number> {
  const name = machineConfigNameFor(options.pool);
  if (options.dryRun) {
    print(
      `would delete MachineConfig ${name} (MachineConfigPool ${options.pool}) and wait for the pool to roll out without it`,
    );
    return 0;
  }
  const { kc } = await connect(config);
  const os = new OpenShiftApi(kc);
  const pool = await requirePool(os, options.pool);
  const existed = await os.deleteMachineConfig(name);
  print(
    existed
      ? `deleted MachineConfig ${name} from MachineConfigPool ${pool.metadata.name}`
      : `MachineConfig ${name} does not exist: nothing to delete`,
  );
  if (existed)
    await waitForRollout(
      os,
      pool.metadata.name,
      { include: [], exclude: [name] },
      options.waitTimeoutSeconds,
      print,
    );
  const left = poolSctp(pool, await os.listMachineConfigs());
  if (left.enabled) {
    print(
      `note: SCTP stays enabled on MachineConfigPool ${pool.metadata.name} by MachineConfig ${left.by.join(', ')}, which sctp-e2e did not create; delete it yourself if you mean to`,
    );
  } else {
    print(`SCTP is not enabled by any MachineConfig of MachineConfigPool ${pool.metadata.name}`);
  }
  return 0;
}

/**
 * Follows the pool's status until the rollout is done, printing each change
 * of state. Exit 2 (SuiteError) on the deadline or when the pool degrades or
 * is paused: the suite cannot judge SCTP on nodes halfway through.
 */
export async function waitForRollout(
  os: OpenShiftApi,
  poolName: string,
  expect: RolloutExpectation,
  timeoutSeconds: number,
  print: Print,
  intervalMs = 2000,
): Promise<MachineConfigPool> {
  const deadline = new Date(Date.now() + timeoutSeconds * 1000);
  const what = expect.include.length
    ? `a config with ${expect.include.join(', ')}`
    : `a config without ${expect.exclude.join(', ')}`;
  print(
    `waiting up to ${timeoutSeconds} s (until ${deadline.toISOString()}) for MachineConfigPool ${poolName} to roll out ${what} to all machines; nodes drain and reboot one at a time`,
  );
  let lastSummary = '';
  let failure: string | undefined;
  let finalPool: MachineConfigPool;
  try {
    finalPool = await poll(
      `MachineConfigPool ${poolName} to roll out ${what}`,
      { timeoutMs: timeoutSeconds * 1000, intervalMs },
      async () => {
        const pool = await os.readPool(poolName);
        if (!pool) throw new NotYet('the pool is gone');
        const state = rolloutState(pool, expect);
        if (state.summary !== lastSummary) {
          print(`  ${new Date().toISOString().slice(11, 19)} ${poolName}: ${state.summary}`);
          lastSummary = state.summary;
        }
        if (state.done) return pool;
        if (state.failure) {
          failure = state.failure;
          return pool;
        }
        throw new NotYet(state.summary);
      },
    );
  } catch (err) {
    if (err instanceof PollTimeout) {
      throw new SuiteError(
        `MachineConfigPool ${poolName} did not roll out ${what} to all machines by the deadline ${deadline.toISOString()} (--wait-timeout ${timeoutSeconds} s); last seen: ${lastSummary || 'nothing'}`,
        `see \`oc get mcp ${poolName}\` and \`oc describe mcp ${poolName}\`; the command is idempotent, rerun it with a longer --wait-timeout`,
      );
    }
    throw err;
  }
  if (failure) {
    throw new SuiteError(
      `MachineConfigPool ${poolName} cannot roll out ${what}: ${failure}; last seen: ${lastSummary}`,
      `see \`oc describe mcp ${poolName}\`; fix the pool, then rerun`,
    );
  }
  return finalPool;
}
