// `criu-lab sweep <file>`: runs (or resumes) a sweep and says what it skipped, redid and left.
// The sweep's code loads in the action, so other commands do not pay for it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { cellsOf, runsOf } from './expand.js';
import type { SweepSpec } from './spec.js';
import { SWEEP_FILE, type SweepState } from './state.js';

interface SweepFlags {
  readonly resultsDir?: string;
  readonly servers?: string;
  readonly retryFailed?: boolean;
  readonly dryRun?: boolean;
  readonly parallel?: number;
  readonly estimate?: boolean;
  readonly budget?: string;
}

function describePlan(spec: SweepSpec): string[] {
  const path = join(spec.dir, SWEEP_FILE);
  const known = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SweepState) : undefined;
  const statusOf = (key: string) => known?.runs.find((r) => r.key === key)?.status ?? 'pending';
  const lines = [
    `sweep ${spec.name}: backend ${spec.infra.backend}, fresh ${spec.fresh}, ${spec.repetitions} repetition(s)${spec.parallel > 1 ? `, ${spec.parallel} node pairs at once` : ''}, results in ${spec.dir}`,
  ];
  if (spec.deadline) {
    const d = spec.deadline;
    lines.push(`deadline search on ${d.sizePath} in [${d.low}, ${d.high}] by ${d.resolution}, deadlines ${d.deadlinesS.join(' s, ')} s, for each cell:`);
    for (const cell of cellsOf(spec)) lines.push(`  ${cell.key.padEnd(32)} ${cell.label}`);
    return lines;
  }
  for (const run of runsOf(spec))
    lines.push(`  ${statusOf(run.key).padEnd(8)} ${run.key.padEnd(36)} ${run.settings.map((s) => `${s.path}=${String(s.value)}`).join(' ')}`);
  return lines;
}

export function registerSweepCommands(program: Command): Command {
  return program
    .command('sweep')
    .description('run a sweep of migrations (config/sweeps/<name>.yaml); rerunning the same command resumes it')
    .argument('<file>', 'the sweep file')
    .option('--results-dir <dir>', 'where the sweep folder goes (default: results_dir of the file, results/sweeps)')
    .option('--servers <file>', 'servers.yaml for infra.backend none')
    .option('--retry-failed', 'run again the runs an earlier session recorded as failed')
    .option('--dry-run', 'list the runs and their status; run nothing')
    .option('--parallel <n>', 'runs at once, each on its own node pair (overrides parallel: of the file)', (value: string) => {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 16) throw new InvalidArgumentError('must be a whole number from 1 to 16');
      return n;
    })
    .option('--estimate', 'print the instance-hours, dollars (config/prices.yaml) and wall time of the sweep, with and without parallel pairs; start nothing')
    .option('--budget <USD>', "the whole sweep's budget: refuse a sweep whose estimate exceeds it; stop launching runs when the running cost reaches it")
    .action(async (file: string, flags: SweepFlags) => {
      const { loadSweepSpec } = await import('./spec.js');
      const spec = loadSweepSpec(file, { resultsDir: flags.resultsDir, servers: flags.servers, parallel: flags.parallel });
      if (flags.dryRun) {
        process.stdout.write(`${describePlan(spec).join('\n')}\n`);
        return;
      }
      const [{ parseBudget }, { estimateOf, prepareSweepCost }, { formatEstimate }] = await Promise.all([
        import('./budget.js'),
        import('./cost.js'),
        import('./estimate.js'),
      ]);
      const budgetUsd = parseBudget(flags.budget);
      if (flags.estimate) {
        process.stdout.write(`${formatEstimate(estimateOf(spec)).join('\n')}\n`);
        if (budgetUsd === undefined) return;
      }
      const cost = prepareSweepCost(spec, budgetUsd, (line) => process.stderr.write(`${line}\n`));
      if (flags.estimate) {
        process.stdout.write(`within --budget $${budgetUsd}\n`);
        return;
      }
      const stop = (name: string) =>
        process.stderr.write(`\n${name}: stopping the sweep after cleaning up the current run; rerun the same command to resume\n`);
      const [{ withInterrupts }, { createSweepProgress }, { sweepBackends }, { runSweep }] = await Promise.all([
        import('../interrupts.js'),
        import('./progress.js'),
        import('./backends/registry.js'),
        import('./runner.js'),
      ]);
      await withInterrupts(stop, async (signal) => {
        const progress = createSweepProgress(spec.dir);
        const outcome = await runSweep(spec, {
          projectRoot: PACKAGE_ROOT,
          backends: sweepBackends,
          signal,
          progress,
          retryFailed: flags.retryFailed,
          cost: cost.meter,
          estimate: cost.estimate,
        });
        const spent = outcome.state.cost;
        const runs = outcome.state.runs;
        const count = (status: string) => runs.filter((r) => r.status === status).length;
        const lines = [
          '',
          `sweep ${spec.name} ${spent?.stoppedForBudget ? 'STOPPED AT THE BUDGET' : outcome.interrupted ? 'INTERRUPTED' : 'done'}: ${count('ok')} ok, ${count('failed')} failed, ${count('pending')} pending of ${runs.length}; this session ran ${outcome.ranNow}, skipped ${outcome.skipped} finished${outcome.redone.length > 0 ? `, redid ${outcome.redone.join(', ')}` : ''}`,
          ...runs.filter((r) => r.status === 'failed').map((r) => `  failed ${r.key}: ${r.error?.split('\n')[0] ?? ''}`),
          ...outcome.state.curves.map(
            (c) =>
              `  ${c.cellLabel}: largest ${spec.deadline?.sizePath ?? 'size'} meeting ${c.deadlineS} s = ${c.maxSize ?? `none (below ${spec.deadline?.low})`}${c.bound === 'above-high' ? ' (or more: the top of the range met it)' : ''}`,
          ),
          ...(spent?.stoppedForBudget
            ? [`  stopped for the budget: the running cost $${spent.usd.toFixed(2)} reached --budget $${budgetUsd}; rerun with a higher --budget to resume`]
            : []),
          ...(spent && spent.ratePerHourUsd > 0
            ? [`  cost so far: $${spent.usd.toFixed(2)} (${(spent.upMs / 3_600_000).toFixed(2)} h up at $${spent.ratePerHourUsd.toFixed(2)}/hour)`]
            : []),
          `sweep.json: ${join(outcome.dir, SWEEP_FILE)}`,
          `report: criu-lab report ${outcome.dir}`,
          ...(outcome.leftUp ? [outcome.leftUp] : []),
        ];
        process.stdout.write(`${lines.join('\n')}\n`);
        process.exitCode = spent?.stoppedForBudget ? 1 : outcome.interrupted ? 130 : count('failed') > 0 ? 1 : 0;
      });
    });
}
