// Before anything starts on the nodes, one row per check and node: CRIU present and the same
// version on both, `criu check`, the destination accepting the source's CPU, a PID namespace of
// its own, free disk, the payload's interpreter and requirements, and what the strategy and the
// workload need (soft-dirty, userfaultfd, a free port, TCP repair). A failing row names what to change.
import { setMaxListeners } from 'node:events';
import { dirname } from 'node:path/posix';
import { UsageError } from '../core/errors.js';
import { cpuinfoRow, criuRows, diskRow, pidNamespaceRow, row, sameVersionRow, sudoRow, tcpRepairRow, type PreflightRow } from './criu/checks.js';
import type { RemoteNode } from '../core/node.js';
import { ms, type RunContext } from './run-context.js';
import type { Strategy } from './strategies/strategy.js';
import type { TransferSession } from './transfers/transfer.js';
import { workloadPreflight } from '../workloads/requirements.js';

export type { PreflightRow } from './criu/checks.js';

export interface PreflightReport {
  readonly strategy: string;
  readonly rows: readonly PreflightRow[];
  readonly ok: boolean;
  /** What a run records: CRIU, both kernels, Node. */
  readonly versions: Record<string, string>;
}

interface NodeFacts {
  readonly criu: string | undefined;
  readonly kernel: string;
  readonly rows: PreflightRow[];
}

async function inspect(node: RemoteNode, ctx: RunContext, imageDir: string): Promise<NodeFacts> {
  const run = (argv: string[]) => node.run(argv, { check: false, timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal, step: 'preflight' });
  const [criu, kernel, python, disk] = await Promise.all([
    criuRows(node, ctx),
    run(['uname', '-r']),
    run(['test', '-x', '/usr/bin/python3']),
    diskRow(node, ctx, imageDir),
  ]);
  const rows = [
    ...criu.rows,
    row(
      node.name,
      'python3',
      python.exitCode === 0,
      python.exitCode === 0 ? '/usr/bin/python3 present (payloads run with it)' : '/usr/bin/python3 is missing (payloads need it)',
      `run scripts/setup-host.sh on ${node.name}`,
    ),
    disk,
  ];
  return { criu: criu.version, kernel: kernel.stdout.trim(), rows };
}

/** A requirement problem of the workload ("n1: the redis workload needs ...; install it: ...") as a row. */
function requirementRow(problem: string, nodes: readonly string[]): PreflightRow {
  const node = nodes.find((name) => problem.startsWith(`${name}: `));
  const text = node ? problem.slice(node.length + 2) : problem;
  const fixAt = text.lastIndexOf('; ');
  return row(
    node ?? 'workload',
    'workload requirements',
    false,
    fixAt > 0 ? text.slice(0, fixAt) : text,
    fixAt > 0 ? text.slice(fixAt + 2) : 'install what it names',
  );
}

/** Every check on both nodes, as rows; nothing is started and nothing throws for a failing check. */
export async function inspectNodes(ctx: RunContext, strategy: Strategy, transfer: TransferSession): Promise<PreflightReport> {
  const { source, destination } = ctx;
  // Some twenty probes run at once, each listening on the run's abort signal.
  setMaxListeners(64, ctx.signal);
  // Without root through sudo every other check would fail for that one reason: it alone is reported.
  if (ctx.plan.nodes.sshUser !== 'root') {
    const sudo = await Promise.all([sudoRow(source, ctx), sudoRow(destination, ctx)]);
    if (sudo.some((r) => !r.ok)) return { strategy: strategy.name, rows: sudo, ok: false, versions: { node: process.version } };
  }
  const tcp = ctx.workload.criuFlags.dump.includes('--tcp-established');
  const [onSource, onDestination, cpuinfo, pidNamespace, strategyRows, requirements, tcpRows] = await Promise.all([
    inspect(source, ctx, dirname(ctx.paths.sourceImageDir)),
    inspect(destination, ctx, dirname(ctx.paths.destImageDir)),
    cpuinfoRow(source, destination, ctx),
    pidNamespaceRow(source, destination, ctx),
    strategy.preflight(ctx, transfer),
    workloadPreflight([source, destination], ctx.workload, { timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal }),
    tcp ? Promise.all([tcpRepairRow(source, ctx), tcpRepairRow(destination, ctx)]) : Promise.resolve([]),
  ]);
  const nodes = [source.name, destination.name];
  const rows = [
    ...onSource.rows,
    ...onDestination.rows,
    sameVersionRow(source, destination, [onSource.criu, onDestination.criu]),
    cpuinfo,
    pidNamespace,
    ...strategyRows,
    ...tcpRows,
    ...(requirements.length > 0
      ? requirements.map((p) => requirementRow(p, nodes))
      : [row(`${source.name} → ${destination.name}`, 'workload requirements', true, `what the ${ctx.workload.name} workload needs is on both`, '')]),
  ];
  return {
    strategy: strategy.name,
    rows,
    ok: rows.every((r) => r.ok),
    versions: { criu: onSource.criu ?? 'none', kernelSource: onSource.kernel, kernelDestination: onDestination.kernel, node: process.version },
  };
}

/** The table: one block per node (and one for the checks across both), a fix under each failing row. */
export function formatPreflight(report: PreflightReport, ctx: Pick<RunContext, 'source' | 'destination' | 'workload'>): string {
  const width = Math.max(...report.rows.map((r) => r.check.length));
  const roles = new Map([
    [ctx.source.name, `${ctx.source.name} (source)`],
    [ctx.destination.name, `${ctx.destination.name} (destination)`],
  ]);
  const lines = [`preflight: strategy ${report.strategy}, workload ${ctx.workload.name}, ${ctx.source.name} → ${ctx.destination.name}`];
  for (const node of [...new Set(report.rows.map((r) => r.node))]) {
    lines.push('', roles.get(node) ?? node);
    for (const r of report.rows.filter((candidate) => candidate.node === node)) {
      lines.push(`  ${r.ok ? '✓' : '✗'} ${r.check.padEnd(width)}  ${r.detail}`);
      if (!r.ok && r.fix) lines.push(`    ${' '.repeat(width)}  fix: ${r.fix}`);
    }
  }
  const failed = report.rows.filter((r) => !r.ok).length;
  lines.push(
    '',
    failed === 0 ? `preflight: all ${report.rows.length} checks passed` : `preflight: ${failed} of ${report.rows.length} checks failed; nothing was started`,
  );
  return lines.join('\n');
}

/** Before every run: returns the versions to record; throws a usage error (exit 2) naming every failing row and its fix. */
export async function preflight(ctx: RunContext, strategy: Strategy, transfer: TransferSession): Promise<Record<string, string>> {
  const report = await inspectNodes(ctx, strategy, transfer);
  const failing = report.rows.filter((r) => !r.ok);
  if (failing.length > 0)
    throw new UsageError(
      `preflight found ${failing.length} problem${failing.length === 1 ? '' : 's'} for strategy ${strategy.name}; nothing was started`,
      failing.map((r) => `${r.node}: ${r.check}: ${r.detail}${r.fix ? `; fix: ${r.fix}` : ''}`),
    );
  return report.versions;
}
