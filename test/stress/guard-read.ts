/**
 * The module guard's reading on the idle cluster: one node alone, then every
 * node at once, each `--reads` times, through the same node access and
 * readings a run uses (its shells, the files read once). bin/benchmark prints
 * it beside the runs' own readings, which also carry whatever the tests beside
 * them make the 2 cores do: this one shows what reading more nodes at once
 * costs by itself. Not a test (its figures depend on the machine):
 *
 *   node --import ./bin/loader.mjs test/stress/guard-read.ts [--reads 200]
 *
 * Prints "figure <TAB> median ms" lines, the form bin/benchmark's tables read.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../../helpers/framework/config.ts';
import { nodeNames, openRun } from '../../helpers/framework/run-context.ts';
import { readNodes, type NodeFiles } from '../../helpers/kernel/module-guard.ts';

const { values } = parseArgs({ options: { reads: { type: 'string', default: '200' } } });
const reads = Number(values.reads);

const ctx = await openRun(loadConfig({ flags: {} }));
try {
  const nodes = nodeNames(ctx);
  const files: NodeFiles = new Map();
  await readNodes(ctx.access, nodes, files); // each node's files, read once per run as in a run
  for (const group of nodes.length > 1 ? [nodes.slice(0, 1), nodes] : [nodes]) {
    const ms: number[] = [];
    for (let i = 0; i < reads; i++) {
      const started = performance.now();
      const readings = await readNodes(ctx.access, group, files);
      ms.push(performance.now() - started);
      const bad = [...readings].find(([, r]) => r.kind !== 'read');
      if (bad) throw new Error(`node ${bad[0]} could not be read: ${JSON.stringify(bad[1])}`);
    }
    ms.sort((a, b) => a - b);
    const what = group.length === 1 ? '1 node' : `${group.length} nodes at once`;
    console.log(`module guard read idle, ${what} (ms)\t${ms[Math.floor(ms.length / 2)].toFixed(2)}`);
  }
} finally {
  await ctx.access.close();
  await ctx.cleanup.run();
}
