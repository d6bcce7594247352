// The criu-lab command line: `run` (one migration), `lab` (the local namespace lab) and
// `infra` (the AWS stack). Flags keep the seed's names; every one maps to a config key.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { loadPlan, type ConfigOverride } from './config/load.js';
import { overridesFrom, PLAN_FLAGS, RUN_FLAGS, SWITCH_FLAGS, TRUST_FLAG, workloadFlags, type PlanFlag } from './config/flags.js';
import { renderError, UsageError } from '../core/errors.js';
import { withInterrupts } from './interrupts.js';
import { formatSummary, type RunMetrics } from './metrics.js';
import { dryRun, preflightNodes, runMigration } from './pipeline.js';
import { cleanLeftovers } from './leftovers.js';
import { createProgress } from './progress.js';
import { workloads } from '../workloads/registry.js';
import { registerScriptWorkload } from '../workloads/custom/script.js';
import { registerLabCommands } from '../infra/local/cli.js';
import { registerInfraCommands } from '../infra/aws/cli.js';
import { registerWorkloadCommands } from '../workloads/cli.js';
import { registerSweepCommands } from './sweep/cli.js';
import { registerReportCommand } from './report/cli.js';
import { registerWatchCommand } from './watch/cli.js';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const EXAMPLES = `
Examples:
  criu-lab lab up                                   # two lab nodes on this machine, writes config/servers.yaml
  criu-lab run                                      # migrate the memory workload with config/default.yaml
  criu-lab run --workload memory --mb-size 64 --max-memory 1024 --strategy full --transfer rsync
  criu-lab run -c config/experiments/baseline.yaml --dry-run
  criu-lab preflight --strategy lazy                # what a lazy-pages run needs, checked on both nodes
  criu-lab run --strategy pageserver                # pages streamed to the destination during the dump
  criu-lab run --strategy predump --predump-iterations auto --deadline gcp
  criu-lab run --workload memory --mb-size 128 --max-memory 512 --interval 0.5 --json > metrics.json
  criu-lab run --script path/to/x_standalone.py -- --its_flag 1   # a script of the original framework, as is
  criu-lab lab down
`;

const TRUST_HELP = 'connect without nodes.known_hosts, accepting whatever host key answers; recorded in metrics.json (config: nodes.trust_unknown_host_keys)';

interface RunFlags {
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

const optionOf = (f: PlanFlag) => {
  const option = new Option(`${f.short ? `${f.short}, ` : ''}${f.flag} ${f.value}`, f.description);
  return f.conflicts ? option.conflicts([...f.conflicts]) : option;
};

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

async function runCommand(flags: RunFlags, scriptArgs: readonly string[] = []): Promise<number> {
  const overrides = [...overridesFrom(flags, runMappings()), ...scriptOverrides(flags, scriptArgs)];
  const { plan, warnings, wouldRefuse } = loadPlan({
    projectRoot: PROJECT_ROOT,
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
async function preflightCommand(flags: RunFlags): Promise<number> {
  const { plan, warnings } = loadPlan({
    projectRoot: PROJECT_ROOT,
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

/** The options that shape a plan, shared by `run` and `preflight`. */
function withPlanOptions(command: Command): Command {
  command
    .option('-c, --config <file>', 'experiment YAML, merged over config/default.yaml and servers.yaml')
    .option('--servers <file>', 'servers.yaml with the node addresses (default config/servers.yaml)')
    .option('--strict', 'refuse keys no criu-lab setting reads instead of warning about them (config: experiment.strict)')
    .option('--lazy-pages', 'final dump with lazy pages: --strategy full becomes lazy, predump ends lazily (config: checkpoint.strategy.lazy_pages)')
    .option(
      '--no-tls',
      "page-server and lazy-pages streams in the clear instead of over CRIU's TLS with per-run certificates (config: checkpoint.strategy.tls)",
    )
    .option('--no-encrypt', "rsync to a daemon started for the run on the destination's address, in the clear, instead of over SSH (config: transfer.encrypt)")
    .option(TRUST_FLAG, TRUST_HELP);
  for (const f of PLAN_FLAGS) command.addOption(optionOf(f));
  for (const f of workloadFlags()) command.addOption(new Option(`${f.flag} ${f.value}`, f.description));
  return command;
}

function printOutcome(metrics: RunMetrics, resultsDir: string, json: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify({ resultsDir, ...metrics }, null, 2)}\n`);
  else process.stdout.write(`\n${formatSummary(metrics)}\nResults: ${resultsDir}\n`);
}

export function buildProgram(): Command {
  const program = new Command('criu-lab')
    .description('Live-migrate processes with CRIU between two machines and time every phase, to test spot-instance deadlines (AWS 120 s, GCP 30 s).')
    .showHelpAfterError('(run with --help for usage)');

  const run = withPlanOptions(program.command('run'))
    .description('migrate one workload from the source node to the destination node, verify it, and write results/')
    .option('--keep-images', "leave the run's images in the S3 bucket after the run (config: transfer.keep_images)")
    .option('--no-cleanup', "leave the restored process and the run's dirs on the nodes (config: experiment.cleanup)")
    .option('--collect-logs', "accepted for the original framework: criu-lab always collects both nodes' logs (config: experiment.collect_logs)")
    .option('--dry-run', 'print the plan and every command a run would issue; touch nothing')
    .option('--json', 'print metrics as JSON on stdout (progress stays on stderr)')
    .option(
      '--script <file>',
      'run a standalone script written for the original framework (--working_dir, checkpoint_ready/checkpoint_flag) with no YAML registration; its own flags go after --',
    )
    .argument('[script-args...]', 'after --: arguments for the --script file');
  for (const f of RUN_FLAGS) run.addOption(optionOf(f));
  run.addHelpText('after', EXAMPLES).action(async (scriptArgs: string[], flags: RunFlags) => {
    process.exitCode = await runCommand(flags, scriptArgs);
  });

  withPlanOptions(program.command('preflight'))
    .description(
      'check both nodes for the planned strategy and workload (what every run checks first): a table per node, a fix for each failing row; exit 0 when all pass, 2 otherwise',
    )
    .option('--json', 'print the report as JSON')
    .action(async (flags: RunFlags) => {
      process.exitCode = await preflightCommand(flags);
    });

  program
    .command('cleanup <results-dir>')
    .option(TRUST_FLAG, 'connect even when the record names no known_hosts, accepting whatever host key answers')
    .description(
      'reconnect to the nodes a run recorded in <results-dir>/leftovers.json and remove what it left (processes, directories, transfer key), collecting missing logs first; harmless to repeat; exit 1 if a node cannot be cleaned',
    )
    .action(async (resultsDir: string, flags: { trustUnknownHostKeys?: boolean }) => {
      const report = await cleanLeftovers(resolve(resultsDir), (message) => process.stderr.write(`${message}\n`), flags.trustUnknownHostKeys === true);
      for (const failure of report.failures) process.stderr.write(`error: cannot clean ${failure}\n`);
      process.stdout.write(`${report.resultsDir}\n`);
      process.exitCode = report.failures.length === 0 ? 0 : 1;
    });

  registerLabCommands(program);
  registerInfraCommands(program);
  registerSweepCommands(program);
  registerReportCommand(program);
  registerWatchCommand(program);
  registerWorkloadCommands(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0 ? 0 : 2;
      return;
    }
    const { text, exitCode } = renderError(error);
    process.stderr.write(`${text}\n`);
    const resultsDir = (error as { resultsDir?: string }).resultsDir;
    if (resultsDir && !(error instanceof UsageError)) process.stderr.write(`results (logs from both nodes): ${resultsDir}\n`);
    process.exitCode = exitCode;
  }
}

await main(process.argv);
