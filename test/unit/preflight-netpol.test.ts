/**
 * The preflight names a node's NetworkPolicy engine by the programs it runs:
 * the command is run here, by a real sh, while a program named like an
 * engine (a copy of sleep) runs from a directory of its own. Engines the
 * local cluster never runs (antrea-agent, cilium-agent), so a cluster up on
 * this machine does not change the answer.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { expect } from 'chai';
import { NETPOL_ENGINE_COMMAND } from '../../helpers/access/preflight.ts';

describe('preflight: the NetworkPolicy engine of a node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sctp-e2e-engine-'));
  let engine: ResultPromise | undefined;
  after(() => {
    engine?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const found = async () => (await execa('sh', ['-c', NETPOL_ENGINE_COMMAND])).stdout.trim();

  it('names an engine the node runs, by its program name, and nothing else', async () => {
    const before = await found();
    expect(before.split(' ')).to.not.include('antrea-agent');
    const program = join(dir, 'antrea-agent');
    copyFileSync('/bin/sleep', program);
    engine = execa(program, ['30'], { reject: false });
    await new Promise((r) => setTimeout(r, 200));
    expect((await found()).split(' ')).to.include('antrea-agent');
  });

  it('does not take an argument for a program (an engine name as a parameter)', async () => {
    const other = execa('sleep', ['30', 'cilium-agent'], { reject: false });
    await new Promise((r) => setTimeout(r, 200));
    try {
      expect((await found()).split(' ')).to.not.include('cilium-agent');
    } finally {
      other.kill('SIGKILL');
    }
  });
});
