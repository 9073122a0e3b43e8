/**
 * `sctp-e2e preflight`: one table of what the suite sees before judging
 * anything. Read-only on every node: no modprobe, no SCTP socket.
 */
import { DETECT_PROXY_MODE_COMMAND, parseProxyMode } from './dataplane/index.ts';
import { MODULE_STATE_COMMAND, parseModuleState } from './module-state.ts';
import { execOnNodes } from './node-access.ts';
import { openShiftPreflightSection } from './openshift.ts';
import { nodeNames, type RunContext } from './run-context.ts';

/** CNI plugin types named in the node's CNI configuration, if readable. */
export const CNI_COMMAND = `cat /etc/cni/net.d/*.conflist /etc/cni/net.d/*.conf 2>/dev/null | grep -o '"type" *: *"[^"]*"' | sed 's/.*"\\([^"]*\\)"$/\\1/' | sort -u | tr '\\n' ' '`;

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export async function preflightTable(ctx: RunContext): Promise<string> {
  const names = nodeNames(ctx);
  const head = [
    `API server      ${ctx.kube.server} (${ctx.serverVersion})`,
    `RBAC            enough for a run`,
    `nodes           ${names.length}`,
    `node access     ${ctx.access.kind}${ctx.access.unavailableReason ? ` (${ctx.access.unavailableReason})` : ''}`,
    `agent           ${ctx.agent.kind} (${ctx.agent.image})`,
    '',
  ].join('\n');
  const rows = [
    ['NODE', 'ACCESS', 'KERNEL', 'SCTP MODULE', 'BLACKLISTED', 'LOAD AT BOOT', 'KUBE-PROXY', 'CNI'],
  ];
  if (ctx.access.kind === 'none') {
    for (const n of names) rows.push([n, 'none', '?', '?', '?', '?', '?', '?']);
    return head + table(rows) + (await openShiftPreflightSection(ctx));
  }
  const [modules, modes, cni] = await Promise.all([
    execOnNodes(ctx.access, names, MODULE_STATE_COMMAND),
    execOnNodes(ctx.access, names, DETECT_PROXY_MODE_COMMAND),
    execOnNodes(ctx.access, names, CNI_COMMAND),
  ]);
  for (const n of names) {
    const m = parseModuleState(modules.get(n)!.stdout);
    rows.push([
      n,
      `${ctx.access.kind} ok`,
      m.kernel || '?',
      m.state,
      m.blacklisted ? 'yes' : 'no',
      m.loadAtBoot ? 'yes' : 'no',
      parseProxyMode(modes.get(n)!.stdout),
      cni.get(n)!.stdout.trim() || 'unknown',
    ]);
  }
  // OpenShift only (empty elsewhere): SCTP per MachineConfigPool and node.
  return head + table(rows) + (await openShiftPreflightSection(ctx));
}
