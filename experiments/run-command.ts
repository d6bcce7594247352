// What `run` and `preflight` do once their flags are parsed: load the plan, then run the migration
// (or its dry run) or the preflight checks, and print the outcome. experiments/cli.ts imports this
// module only when one of them runs, so the pipeline, ssh2 and the transfers stay out of the others.
import { resolve } from 'node:path';
import { loadPlan, type ConfigOverride } from './config/load.js';
import { overridesFrom, PLAN_FLAGS, RUN_FLAGS, SWITCH_FLAGS, workloadFlags } from './config/flags.js';
import { UsageError } from '../core/errors.js';
import { PACKAGE_ROOT } from '../core/package-root.js';
import { withInterrupts } from './interrupts.js';
import { formatSummary, type RunMetrics } from './metrics.js';
import { dryRun, preflightNodes, runMigration } from './pipeline.js';
import { createProgress } from './progress.js';
import { workloads } from '../workloads/registry.js';
import { registerScriptWorkload } from '../workloads/custom/script.js';

/** The parsed flags of `run` and `preflight`, by commander's attribute names. */
export interface RunFlags {
  readonly config?: string;
  readonly servers?: string;
  readonly strict?: boolean;
  readonly dryRun?: boolean;
  readonly json?: boolean;
  readonly lazyPages?: boolean;
  readonly keepImages?: boolean;
  readonly [attribute: string]: unknown;
}

/** What `run` and `preflight` read from their flags: every flag of the table. */
const runMappings = () => [...PLAN_FLAGS, ...RUN_FLAGS, ...workloadFlags(), ...SWITCH_FLAGS];

/** --script <file> [-- its args]: the script becomes a workload of its own, named after it. */
function scriptOverrides(flags: RunFlags, scriptArgs: readonly string[]): ConfigOverride[] {
  if (typeof flags.script !== 'string') {
    if (scriptArgs.length > 0)
      throw new UsageError('arguments after -- need a script', [`${scriptArgs.join(' ')}: fix: name the script with --script <file>, or drop them`]);
    return [];
  }
  const name = registerScriptWorkload(workloads, resolve(flags.script), scriptArgs, '--script');
  return ['workload.type', 'experiment.workload_type'].map((path) => ({ path, value: name, flag: '--script' }));
}

export async function runCommand(flags: RunFlags, scriptArgs: readonly string[] = []): Promise<number> {
  const overrides = [...overridesFrom(flags, runMappings()), ...scriptOverrides(flags, scriptArgs)];
  const { plan, warnings, wouldRefuse } = loadPlan({
    projectRoot: PACKAGE_ROOT,
    configFile: flags.config,
    serversFile: flags.servers,
    strict: flags.strict,
    overrides,
    purpose: flags.dryRun ? 'dry-run' : 'run',
  });
  const level = plan.experiment.logLevel;
  if (level !== 'error') for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (flags.dryRun) {
    const { runId, steps } = await dryRun(plan);
    if (flags.json) process.stdout.write(`${JSON.stringify({ plan, runId, steps, wouldRefuse }, null, 2)}\n`);
    else {
      const asUser = plan.nodes.sshUser === 'root' ? '' : ` as ${plan.nodes.sshUser}, each through \`sudo -n --\` but the run key's authorisation`;
      process.stdout.write(
        `Plan (from ${plan.sources.join(' < ')} < flags):\n${JSON.stringify(plan, null, 2)}\n\nCommands a run would issue${asUser} (nothing was touched):\n`,
      );
      for (const s of steps) process.stdout.write(`  [${s.node}] ${s.step.padEnd(16)} ${s.command}\n`);
      if (plan.experiment.inertKeys.length > 0) process.stdout.write('\nAccepted from the original framework, with no effect here:\n');
      for (const { path, reason } of plan.experiment.inertKeys) process.stdout.write(`  ${path}: ${reason}\n`);
      if (wouldRefuse.length > 0) process.stdout.write('\nA real run would refuse this plan until these are fixed:\n');
      for (const problem of wouldRefuse) process.stdout.write(`  ${problem}\n`);
    }
    return 0;
  }
  const onFirst = (name: string) => process.stderr.write(`\n${name}: stopping the run and cleaning up both nodes (press Ctrl-C again to force)\n`);
  const onSecond = (name: string) =>
    process.stderr.write(`\n${name} again: exiting without cleanup; run \`criu-lab cleanup <results dir>\` to remove what the run left on the nodes\n`);
  try {
    // logging.level warning or error: no progress lines, only warnings, errors and the summary.
    const progress = createProgress(process.stderr, level === 'warning' || level === 'error');
    const commandLine = ['criu-lab', ...process.argv.slice(2)];
    const { metrics, resultsDir } = await withInterrupts(onFirst, (signal) => runMigration(plan, { signal, progress, commandLine }), onSecond);
    printOutcome(metrics, resultsDir, flags.json === true);
    return metrics.outcome === 'ok' ? 0 : 1;
  } catch (error) {
    const withResults = error as { metrics?: RunMetrics; resultsDir?: string };
    if (withResults.metrics && withResults.resultsDir) printOutcome(withResults.metrics, withResults.resultsDir, flags.json === true);
    throw error;
  }
}

/** `criu-lab preflight`: the table of every check a run would make first; exit 0 when all pass, 2 otherwise. */
export async function preflightCommand(flags: RunFlags): Promise<number> {
  const { plan, warnings } = loadPlan({
    projectRoot: PACKAGE_ROOT,
    configFile: flags.config,
    serversFile: flags.servers,
    strict: flags.strict,
    overrides: overridesFrom(flags, runMappings()),
  });
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  const { report, table } = await preflightNodes(plan, new AbortController().signal);
  process.stdout.write(`${flags.json ? JSON.stringify(report, null, 2) : table}\n`);
  return report.ok ? 0 : 2;
}

function printOutcome(metrics: RunMetrics, resultsDir: string, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify({ resultsDir, ...metrics }, null, 2)}\n`);
  else process.stdout.write(`\n${formatSummary(metrics)}\nResults: ${resultsDir}\n`);
}
