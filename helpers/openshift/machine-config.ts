/**
 * OpenShift, pure: the MachineConfig `enable-sctp` applies (the documented
 * load-sctp-module, labelled for the pool).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SuiteError } from '../framework/errors.ts';
import {
  FIXTURE_NAME,
  FIXTURE_PATH,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type MachineConfig,
  type MachineConfigPool,
  ROLE_LABEL,
} from './objects.ts';
import { describeSelector, selectorMatches } from './pools.ts';

/** The labels that make a MachineConfig part of this pool. */
export function roleLabelsFor(pool: MachineConfigPool): Record<string, string> {
  const selector = pool.spec?.machineConfigSelector;
  const labels: Record<string, string> = { ...(selector?.matchLabels ?? {}) };
  for (const e of selector?.matchExpressions ?? []) {
    if (labels[e.key] !== undefined) continue;
    if (e.operator === 'In' && e.values?.length)
      labels[e.key] = e.values.includes(pool.metadata.name) ? pool.metadata.name : e.values[0];
    else if (e.operator === 'Exists') labels[e.key] = pool.metadata.name;
  }
  if (Object.keys(labels).length === 0 || !selectorMatches(selector, labels)) {
    throw new SuiteError(
      `MachineConfigPool ${pool.metadata.name} selects MachineConfigs by ${describeSelector(selector)}, and sctp-e2e cannot derive labels that match it`,
      `label fixtures/openshift/load-sctp-module.yaml to match the pool's machineConfigSelector and apply it yourself`,
    );
  }
  return labels;
}

export function machineConfigNameFor(pool: string): string {
  // The documented name for worker; other pools get their own object, as
  // one MachineConfig can carry only one role.
  return pool === 'worker' ? FIXTURE_NAME : `${FIXTURE_NAME}-${pool}`;
}

export function readFixture(): MachineConfig {
  // YAML 1.1 as oc/kubectl read it: `mode: 0644` is octal (420), not 644.
  return parseYaml(readFileSync(FIXTURE_PATH, 'utf8'), { version: '1.1' }) as MachineConfig;
}

/** The fixture, named and labelled for a pool. */
export function renderMachineConfig(pool: string, roleLabels: Record<string, string>): MachineConfig {
  const fixture = readFixture();
  const labels: Record<string, string> = {
    ...fixture.metadata.labels,
    ...roleLabels,
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
  // The fixture's worker role label must not survive into another role's object.
  if (roleLabels[ROLE_LABEL] === undefined) delete labels[ROLE_LABEL];
  return { ...fixture, metadata: { name: machineConfigNameFor(pool), labels } };
}
