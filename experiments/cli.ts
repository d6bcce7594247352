// The criu-lab command line: `run` (one migration), `lab` (the local namespace lab) and
// `infra` (the AWS stack). Flags keep the seed's names; every one maps to a config key.
// Only the commands' names, options and help load here; each action imports its own code when
// it runs, so `--help` and `lab up` never load the AWS SDK, cdktf, ssh2 or the report's charts.
import { resolve } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { PlanFlag } from './config/flags.js';
import { renderError, UsageError } from '../core/errors.js';
import { declareWhenChosen } from './late-options.js';
import type { RunFlags } from './run-command.js';
import { registerLabCommands } from '../infra/local/cli.js';
import { registerInfraCommands } from '../infra/aws/cli.js';
import { registerWorkloadCommands } from '../workloads/cli.js';
import { registerSweepCommands } from './sweep/cli.js';
import { registerReportCommand } from './report/cli.js';
import { registerWatchCommand } from './watch/cli.js';

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

const optionOf = (f: PlanFlag) => {
  const option = new Option(`${f.short ? `${f.short}, ` : ''}${f.flag} ${f.value}`, f.description);
  return f.conflicts ? option.conflicts([...f.conflicts]) : option;
};

/** The options that shape a plan, shared by `run` and `preflight`: the flag table loads (with every workload) only for them. */
async function addPlanOptions(command: Command): Promise<typeof import('./config/flags.js')> {
  const flags = await import('./config/flags.js');
  const { PLAN_FLAGS, TRUST_FLAG, workloadFlags } = flags;
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
  return flags;
}

export function buildProgram(): Command {
  const program = new Command('criu-lab')
    .description('Live-migrate processes with CRIU between two machines and time every phase, to test spot-instance deadlines (AWS 120 s, GCP 30 s).')
    .showHelpAfterError('(run with --help for usage)');

  const run = program
    .command('run')
    .description('migrate one workload from the source node to the destination node, verify it, and write results/')
    .argument('[script-args...]', 'after --: arguments for the --script file');
  declareWhenChosen(run, async () => {
    const { RUN_FLAGS } = await addPlanOptions(run);
    run
      .option('--keep-images', "leave the run's images in the S3 bucket after the run (config: transfer.keep_images)")
      .option('--no-cleanup', "leave the restored process and the run's dirs on the nodes (config: experiment.cleanup)")
      .option('--collect-logs', "accepted for the original framework: criu-lab always collects both nodes' logs (config: experiment.collect_logs)")
      .option('--dry-run', 'print the plan and every command a run would issue; touch nothing')
      .option('--json', 'print metrics as JSON on stdout (progress stays on stderr)')
      .option(
        '--script <file>',
        'run a standalone script written for the original framework (--working_dir, checkpoint_ready/checkpoint_flag) with no YAML registration; its own flags go after --',
      );
    for (const f of RUN_FLAGS) run.addOption(optionOf(f));
  });
  run.addHelpText('after', EXAMPLES).action(async (scriptArgs: string[], flags: RunFlags) => {
    const { runCommand } = await import('./run-command.js');
    process.exitCode = await runCommand(flags, scriptArgs);
  });

  const preflight = program
    .command('preflight')
    .description(
      'check both nodes for the planned strategy and workload (what every run checks first): a table per node, a fix for each failing row; exit 0 when all pass, 2 otherwise',
    );
  declareWhenChosen(preflight, async () => {
    await addPlanOptions(preflight);
    preflight.option('--json', 'print the report as JSON');
  });
  preflight.action(async (flags: RunFlags) => {
    const { preflightCommand } = await import('./run-command.js');
    process.exitCode = await preflightCommand(flags);
  });

  const cleanup = program.command('cleanup <results-dir>');
  declareWhenChosen(cleanup, async () => {
    const { TRUST_FLAG } = await import('./config/flags.js');
    cleanup.option(TRUST_FLAG, 'connect even when the record names no known_hosts, accepting whatever host key answers');
  });
  cleanup
    .description(
      'reconnect to the nodes a run recorded in <results-dir>/leftovers.json and remove what it left (processes, directories, transfer key), collecting missing logs first; harmless to repeat; exit 1 if a node cannot be cleaned',
    )
    .action(async (resultsDir: string, flags: { trustUnknownHostKeys?: boolean }) => {
      const { cleanLeftovers } = await import('./leftovers.js');
      const report = await cleanLeftovers(resolve(resultsDir), (message) => process.stderr.write(`${message}\n`), flags.trustUnknownHostKeys === true);
      for (const failure of report.failures) process.stderr.write(`error: cannot clean ${failure}\n`);
      process.stdout.write(`${report.resultsDir}\n`);
      process.exitCode = report.failures.length === 0 ? 0 : 1;
    });

  program
    .command('init')
    .description(
      "write a starter config/ into the current directory (default.yaml over the package's defaults, an example experiment and sweep); refuses to overwrite without --force",
    )
    .option('--force', 'overwrite starter files that exist')
    .action(async (flags: { force?: boolean }) => {
      const { describeInit, initProject } = await import('./init.js');
      process.stdout.write(`${describeInit(await initProject(process.cwd(), flags.force === true))}\n`);
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
