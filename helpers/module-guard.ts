/**
 * The module guard (KEP-614): a test of the basic tier must not load sctp.ko.
 * It reads every node's SCTP module state at once, before and after a test;
 * only a node that went from not loaded to loaded fails the test. Nodes where
 * the module is built in or cannot exist are reported, not failed, and
 * without node access the guard says so instead of pretending.
 */
import { execOnNodes } from './node-access.ts';
import {
  MODULE_STATE_COMMAND,
  parseModuleState,
  wentFromNotLoadedToLoaded,
  type ModuleState,
} from './module-state.ts';
import { nodeNames, type RunContext } from './run-context.ts';

export type NodeModuleStates = Map<string, ModuleState | 'unknown'>;

export async function readModuleStates(ctx: RunContext): Promise<NodeModuleStates> {
  const names = nodeNames(ctx);
  if (ctx.access.kind === 'none') return new Map(names.map((n) => [n, 'unknown' as const]));
  const results = await execOnNodes(ctx.access, names, MODULE_STATE_COMMAND);
  return new Map(
    [...results].map(([node, r]) => [
      node,
      r.code === 0 ? parseModuleState(r.stdout).state : ('unknown' as const),
    ]),
  );
}

export function moduleGuardVerdict(
  before: NodeModuleStates,
  after: NodeModuleStates,
): { loadedByTest: string[]; table: string } {
  const loadedByTest: string[] = [];
  const rows: string[] = [];
  for (const [node, was] of before) {
    const now = after.get(node) ?? 'unknown';
    if (was !== 'unknown' && now !== 'unknown' && wentFromNotLoadedToLoaded(was, now))
      loadedByTest.push(node);
    rows.push(`${node}: ${was} → ${now}`);
  }
  return { loadedByTest, table: rows.join('\n') };
}
