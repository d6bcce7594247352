// The criu-lab command line: `run` (one migration), `lab` (the local namespace lab) and
// `infra` (the AWS stack). Flags keep the seed's names; every one maps to a config key.
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, Option } from 'commander';
import { loadPlan, type ConfigOverride } from './config/load.js';
import { renderError, UsageError } from './errors.js';
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

interface FlagMapping {
  readonly flag: string;
  readonly attribute: string;
  readonly paths: readonly string[];
}

const camel = (flag: string) => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

interface PlanFlag extends FlagMapping {
  readonly value: string;
  readonly description: string;
  /** The one-letter form the original framework also takes (-w). */
  readonly short?: string;
  /** Flags of another flag that cannot go with this one (attributes). */
  readonly conflicts?: readonly string[];
}

const planFlag = (f: Omit<PlanFlag, 'attribute'>): PlanFlag => ({ ...f, attribute: camel(f.flag) });

/** Plan flags: the seed's run_experiment.py flags, each a config key; aliases keep the original framework's names working. */
const PLAN_FLAGS: readonly PlanFlag[] = [
  { flag: '--workload', short: '-w', value: '<name>', description: 'workload type (config: workload.type)', paths: ['workload.type', 'experiment.workload_type'] },
  { flag: '--preset', value: '<name>', description: "a preset of the workload's file, e.g. small, medium, large, xlarge, lazy_test for memory (config: workload.preset)", paths: ['workload.preset'] },
  { flag: '--strategy', value: '<name>', description: 'checkpoint strategy (config: checkpoint.strategy.mode)', paths: ['checkpoint.strategy.mode'] },
  { flag: '--transfer', value: '<method>', description: 'transfer method (config: transfer.method)', paths: ['transfer.method'] },
  { flag: '--transfer-method', value: '<method>', description: 'the original\'s name for --transfer (config: transfer.method)', paths: ['transfer.method'] },
  { flag: '--source-ip', value: '<ip>', description: 'source node address (config: nodes.source.ip)', paths: ['nodes.source.ip'] },
  { flag: '--dest-ip', value: '<ip>', description: 'destination node address (config: nodes.destination.ip)', paths: ['nodes.destination.ip'] },
  { flag: '--ssh-user', value: '<user>', description: 'the user SSH logs in as on the nodes (config: nodes.ssh_user)', paths: ['nodes.ssh_user'] },
  { flag: '--predump-iterations', value: '<n|auto>', description: "pre-dump rounds, or 'auto': stop when converged, diverging or the deadline is at risk (config: checkpoint.strategy.predump_iterations)", paths: ['checkpoint.strategy.predump_iterations'] },
  { flag: '--predump-interval', value: '<s>', description: 'seconds between pre-dumps (config: checkpoint.strategy.predump_interval)', paths: ['checkpoint.strategy.predump_interval'] },
  { flag: '--deadline', value: '<s|aws|gcp>', description: 'the notice --predump-iterations auto plans for; seconds also add a verdict (config: checkpoint.strategy.deadline)', paths: ['checkpoint.strategy.deadline'] },
  { flag: '--placement', value: '<same-az|cross-az>', description: 'pick the node pair from all_nodes in servers.yaml: both in one zone, or across two (config: experiment.placement)', paths: ['experiment.placement'] },
  { flag: '--results-dir', value: '<dir>', description: 'where results go (config: experiment.results_dir)', paths: ['experiment.results_dir'] },
  { flag: '--logs-dir', value: '<dir>', description: 'the original\'s name for --results-dir; logs are always collected there (config: experiment.results_dir)', paths: ['experiment.results_dir'] },
  { flag: '--log-level', value: '<level>', description: 'verbosity: debug, info, warning or error, any case (config: logging.level)', paths: ['logging.level'] },
  { flag: '--trigger', value: '<warm|ready|wait|rss>', description: 'when the migration starts: when the workload is warm, right after ready, after a wait, or at a target RSS (config: experiment.trigger)', paths: ['experiment.trigger'] },
  { flag: '--migrate-after', value: '<s>', description: 'migrate this many seconds after the workload is ready instead of when it says it is warm (config: experiment.migrate_after)', paths: ['experiment.migrate_after'] },
  { flag: '--wait-before-dump', value: '<s>', description: 'the original\'s trigger: seconds after ready before a full dump (config: checkpoint.strategy.wait_before_dump)', paths: ['checkpoint.strategy.wait_before_dump'], conflicts: ['targetMemoryMb'] },
  { flag: '--target-memory-mb', value: '<mb>', description: 'the original\'s trigger: migrate when the workload\'s RSS reaches this many MiB (config: checkpoint.strategy.target_memory_mb)', paths: ['checkpoint.strategy.target_memory_mb'], conflicts: ['waitBeforeDump'] },
].map(planFlag);

/** Flags only a run takes (a preflight writes no results). */
const RUN_FLAGS: readonly PlanFlag[] = [
  { flag: '--name', short: '-n', value: '<name>', description: 'experiment name, recorded with the results (config: experiment.name)', paths: ['experiment.name'] },
  { flag: '--output', short: '-o', value: '<file>', description: 'also write the metrics in the original framework\'s format to this file (config: experiment.metrics_file)', paths: ['experiment.metrics_file'] },
].map(planFlag);

/** Workload flags from every registered workload (--mb-size, --interval, ...), deduplicated by name. */
function workloadFlags(): (FlagMapping & { readonly description: string; readonly value: string })[] {
  const byFlag = new Map<string, FlagMapping & { description: string; value: string }>();
  for (const workload of workloads.all())
    for (const param of workload.params) {
      const known = byFlag.get(param.flag);
      const description = `${known ? `${known.description}; ` : ''}${workload.name}: ${param.description}`;
      // A switch may stand alone (--check-lazy-loading means true).
      byFlag.set(param.flag, { flag: param.flag, attribute: camel(param.flag), paths: [`workload.${param.key}`], description, value: param.isSwitch ? '[value]' : '<value>' });
    }
  return [...byFlag.values()];
}

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

const TRUST_FLAG = '--trust-unknown-host-keys';
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

function overridesFrom(flags: RunFlags): ConfigOverride[] {
  const overrides: ConfigOverride[] = [];
  for (const mapping of [...PLAN_FLAGS, ...RUN_FLAGS, ...workloadFlags()]) {
    const value = flags[mapping.attribute];
    if (value !== undefined) for (const path of mapping.paths) overrides.push({ path, value, flag: mapping.flag });
  }
  if (flags.lazyPages) overrides.push({ path: 'checkpoint.strategy.lazy_pages', value: true, flag: '--lazy-pages' });
  if (flags.keepImages) overrides.push({ path: 'transfer.keep_images', value: true, flag: '--keep-images' });
  // As in the original, naming a metrics file means writing it.
  if (flags['output'] !== undefined) overrides.push({ path: 'experiment.save_metrics', value: true, flag: '--output' });
  if (flags['cleanup'] === false) overrides.push({ path: 'experiment.cleanup', value: false, flag: '--no-cleanup' });
  if (flags['collectLogs']) overrides.push({ path: 'experiment.collect_logs', value: true, flag: '--collect-logs' });
  if (flags['tls'] === false) overrides.push({ path: 'checkpoint.strategy.tls', value: false, flag: '--no-tls' });
  if (flags['trustUnknownHostKeys']) overrides.push({ path: 'nodes.trust_unknown_host_keys', value: true, flag: TRUST_FLAG });
  return overrides;
}

const optionOf = (f: PlanFlag) => {
  const option = new Option(`${f.short ? `${f.short}, ` : ''}${f.flag} ${f.value}`, f.description);
  return f.conflicts ? option.conflicts([...f.conflicts]) : option;
};

/** --script <file> [-- its args]: the script becomes a workload of its own, named after it. */
function scriptOverrides(flags: RunFlags, scriptArgs: readonly string[]): ConfigOverride[] {
  if (typeof flags.script !== 'string') {
    if (scriptArgs.length > 0) throw new UsageError('arguments after -- need a script', [`${scriptArgs.join(' ')}: fix: name the script with --script <file>, or drop them`]);
    return [];
  }
  const name = registerScriptWorkload(workloads, resolve(flags.script), scriptArgs, '--script');
  return ['workload.type', 'experiment.workload_type'].map((path) => ({ path, value: name, flag: '--script' }));
}

async function runCommand(flags: RunFlags, scriptArgs: readonly string[] = []): Promise<number> {
  const overrides = [...overridesFrom(flags), ...scriptOverrides(flags, scriptArgs)];
  const { plan, warnings, wouldRefuse } = loadPlan({
    projectRoot: PROJECT_ROOT, configFile: flags.config, serversFile: flags.servers, strict: flags.strict, overrides, purpose: flags.dryRun ? 'dry-run' : 'run',
  });
  const level = plan.experiment.logLevel;
  if (level !== 'error') for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (flags.dryRun) {
    const { runId, steps } = await dryRun(plan);
    if (flags.json) process.stdout.write(`${JSON.stringify({ plan, runId, steps, wouldRefuse }, null, 2)}\n`);
    else {
      const asUser = plan.nodes.sshUser === 'root' ? '' : ` as ${plan.nodes.sshUser}, each through \`sudo -n --\` but the run key's authorisation`;
      process.stdout.write(`Plan (from ${plan.sources.join(' < ')} < flags):\n${JSON.stringify(plan, null, 2)}\n\nCommands a run would issue${asUser} (nothing was touched):\n`);
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
  const { plan, warnings } = loadPlan({ projectRoot: PROJECT_ROOT, configFile: flags.config, serversFile: flags.servers, strict: flags.strict, overrides: overridesFrom(flags) });
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
    .option('--no-tls', 'page-server and lazy-pages streams in the clear instead of over CRIU\'s TLS with per-run certificates (config: checkpoint.strategy.tls)')
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
    .option('--keep-images', 'leave the run\'s images in the S3 bucket after the run (config: transfer.keep_images)')
    .option('--no-cleanup', 'leave the restored process and the run\'s dirs on the nodes (config: experiment.cleanup)')
    .option('--collect-logs', 'accepted for the original framework: criu-lab always collects both nodes\' logs (config: experiment.collect_logs)')
    .option('--dry-run', 'print the plan and every command a run would issue; touch nothing')
    .option('--json', 'print metrics as JSON on stdout (progress stays on stderr)')
    .option('--script <file>', "run a standalone script written for the original framework (--working_dir, checkpoint_ready/checkpoint_flag) with no YAML registration; its own flags go after --")
    .argument('[script-args...]', 'after --: arguments for the --script file');
  for (const f of RUN_FLAGS) run.addOption(optionOf(f));
  run.addHelpText('after', EXAMPLES).action(async (scriptArgs: string[], flags: RunFlags) => {
    process.exitCode = await runCommand(flags, scriptArgs);
  });

  withPlanOptions(program.command('preflight'))
    .description('check both nodes for the planned strategy and workload (what every run checks first): a table per node, a fix for each failing row; exit 0 when all pass, 2 otherwise')
    .option('--json', 'print the report as JSON')
    .action(async (flags: RunFlags) => {
      process.exitCode = await preflightCommand(flags);
    });

  program
    .command('cleanup <results-dir>')
    .option(TRUST_FLAG, 'connect even when the record names no known_hosts, accepting whatever host key answers')
    .description('reconnect to the nodes a run recorded in <results-dir>/leftovers.json and remove what it left (processes, directories, transfer key), collecting missing logs first; harmless to repeat; exit 1 if a node cannot be cleaned')
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
