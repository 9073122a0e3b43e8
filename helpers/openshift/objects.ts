/**
 * OpenShift: SCTP enablement checked and applied the documented way.
 *
 * On RHCOS (and FCOS on OKD) /etc/modprobe.d/sctp-blacklist.conf blacklists
 * sctp, so a pod's SCTP socket fails with "Socket type not supported". The
 * documented remedy is a MachineConfig that writes that file empty and lists
 * sctp in /etc/modules-load.d/sctp-load.conf; the Machine Config Operator
 * (MCO) renders it into the pool's config and reboots the pool's nodes into
 * it one at a time.
 *
 * The modules of helpers/openshift/ answer, through the Kubernetes API alone (no `oc`):
 *  - is this OpenShift? (API discovery of machineconfiguration.openshift.io)
 *  - does a MachineConfig, or the set of them a pool selects, enable SCTP?
 *    Judged by file paths and decoded contents, never by name;
 *  - which pool a node belongs to, and the remedy when its pool lacks SCTP;
 *  - what the node's own files say (read-only: cat/test/grep, never
 *    modprobe, never a socket);
 * and implements `enable-sctp` / `disable-sctp` with a rollout wait that
 * follows the pool's status.
 */
import { fileURLToPath } from 'node:url';

export const MCO_GROUP = 'machineconfiguration.openshift.io';
export const MCO_VERSION = 'v1';
export const ROLE_LABEL = `${MCO_GROUP}/role`;
/** Node annotation: the rendered MachineConfig the node currently runs. */
export const CURRENT_CONFIG_ANNOTATION = `${MCO_GROUP}/currentConfig`;
export const BLACKLIST_FILE = '/etc/modprobe.d/sctp-blacklist.conf';
export const MODULES_LOAD_FILE = '/etc/modules-load.d/sctp-load.conf';
/** Marks the MachineConfigs enable-sctp creates. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'sctp-e2e';
export const FIXTURE_PATH = fileURLToPath(
  new URL('../../fixtures/openshift/load-sctp-module.yaml', import.meta.url),
);
export const FIXTURE_NAME = 'load-sctp-module';

// The objects, as far as the suite reads and writes them.

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface ObjectMeta {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  ownerReferences?: Array<{ kind?: string; name?: string }>;
}

export interface MachineConfig {
  apiVersion: string;
  kind: 'MachineConfig';
  metadata: ObjectMeta;
  /** `config` is an Ignition config of any version: read defensively. */
  spec?: { config?: unknown; [field: string]: unknown };
}

export interface PoolCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface MachineConfigPool {
  apiVersion: string;
  kind: 'MachineConfigPool';
  metadata: ObjectMeta;
  spec?: { machineConfigSelector?: LabelSelector; nodeSelector?: LabelSelector; paused?: boolean };
  status?: {
    machineCount?: number;
    updatedMachineCount?: number;
    readyMachineCount?: number;
    unavailableMachineCount?: number;
    degradedMachineCount?: number;
    conditions?: PoolCondition[];
    configuration?: { name?: string; source?: Array<{ name?: string }> };
  };
}
