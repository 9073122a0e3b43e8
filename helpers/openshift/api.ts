/**
 * OpenShift: The Machine Config Operator's API through @kubernetes/client-node (no `oc`).
 */
import * as k8s from '@kubernetes/client-node';
import { SuiteError } from '../framework/errors.ts';
import { apiMessage, apiStatus } from '../access/kube.ts';
import { MCO_GROUP, MCO_VERSION, type MachineConfig, type MachineConfigPool } from './objects.ts';
import { oneLine } from './rollout.ts';

const MC = { group: MCO_GROUP, version: MCO_VERSION, plural: 'machineconfigs' };
const MCP = { group: MCO_GROUP, version: MCO_VERSION, plural: 'machineconfigpools' };

/** OpenShift (or OKD) is where the Machine Config Operator's API group is served. */
export async function isOpenShift(kc: k8s.KubeConfig): Promise<boolean> {
  const groups = await kc.makeApiClient(k8s.ApisApi).getAPIVersions();
  return groups.groups.some((g) => g.name === MCO_GROUP);
}

const RBAC_FIX = `the kubeconfig user needs RBAC for ${MCO_GROUP} machineconfigs and machineconfigpools (cluster-admin works)`;

async function api<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof SuiteError) throw err;
    throw new SuiteError(`cannot ${what}: ${oneLine(apiMessage(err))}`, RBAC_FIX);
  }
}

export class OpenShiftApi {
  private readonly custom: k8s.CustomObjectsApi;
  constructor(kc: k8s.KubeConfig) {
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
  }

  async listMachineConfigs(): Promise<MachineConfig[]> {
    const list = (await api('list MachineConfigs', () => this.custom.listClusterCustomObject(MC))) as {
      items: MachineConfig[];
    };
    return list.items;
  }

  async listPools(): Promise<MachineConfigPool[]> {
    const list = (await api('list MachineConfigPools', () => this.custom.listClusterCustomObject(MCP))) as {
      items: MachineConfigPool[];
    };
    return list.items;
  }

  async readPool(name: string): Promise<MachineConfigPool | undefined> {
    return this.readOrUndefined(`read MachineConfigPool ${name}`, () =>
      this.custom.getClusterCustomObject({ ...MCP, name }),
    );
  }

  async readMachineConfig(name: string): Promise<MachineConfig | undefined> {
    return this.readOrUndefined(`read MachineConfig ${name}`, () =>
      this.custom.getClusterCustomObject({ ...MC, name }),
    );
  }

  private async readOrUndefined<T>(what: string, call: () => Promise<unknown>): Promise<T | undefined> {
    try {
      return (await call()) as T;
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw new SuiteError(`cannot ${what}: ${oneLine(apiMessage(err))}`, RBAC_FIX);
    }
  }

  async createMachineConfig(mc: MachineConfig): Promise<void> {
    await api(`create MachineConfig ${mc.metadata.name}`, () =>
      this.custom.createClusterCustomObject({ ...MC, body: mc }),
    );
  }

  async replaceMachineConfig(mc: MachineConfig): Promise<void> {
    await api(`update MachineConfig ${mc.metadata.name}`, () =>
      this.custom.replaceClusterCustomObject({ ...MC, name: mc.metadata.name, body: mc }),
    );
  }

  /** True when it existed. */
  async deleteMachineConfig(name: string): Promise<boolean> {
    try {
      await this.custom.deleteClusterCustomObject({ ...MC, name });
      return true;
    } catch (err) {
      if (apiStatus(err) === 404) return false;
      throw new SuiteError(`cannot delete MachineConfig ${name}: ${oneLine(apiMessage(err))}`, RBAC_FIX);
    }
  }
}
