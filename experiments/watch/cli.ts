// `criu-lab watch`: start the workload, wait for a spot notice on the source node, migrate,
// and say how much of the notice was left. The watch and run code loads in the action.
import { Option, type Command } from 'commander';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import type { ConfigOverride } from '../config/load.js';
import type { PlanFlag } from '../config/flags.js';
import { declareWhenChosen } from '../late-options.js';
import { UsageError } from '../../core/errors.js';
import type { FisExperiment } from './fis.js';
import { IMDS_URL, NOTICE_FILE, POLL_INTERVAL_S } from './notice.js';

interface WatchFlags {
  readonly config?: string;
  readonly servers?: string;
  readonly set: string[];
  readonly simulateAfter?: string;
  readonly pollInterval: string;
  readonly imdsUrl: string;
  readonly noticeFile: string;
  readonly json?: boolean;
  readonly fis?: boolean;
  readonly fisTemplate?: string;
  readonly [flag: string]: unknown;
}

/** The run flags watch takes too, from the one flag table. */
const watchFlags = (planFlags: readonly PlanFlag[]) => planFlags.filter((f) => ['--strategy', '--transfer', '--placement', '--results-dir'].includes(f.flag));

function positiveSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new UsageError(`${flag} must be a positive number of seconds`, [`${flag}: got ${JSON.stringify(value)}`]);
  return seconds;
}

/** --set path=value: any config setting, after the named flags. */
function setOverrides(flags: WatchFlags): ConfigOverride[] {
  return flags.set.map((assignment) => {
    const match = /^([a-z_][a-z0-9_.]*)=(.*)$/.exec(assignment);
    if (!match)
      throw new UsageError('--set takes path=value', [`--set ${assignment}: write it as a dotted config path, =, a value (--set workload.mb_size=64)`]);
    return { path: match[1]!, value: match[2], flag: `--set ${match[1]}` };
  });
}

export function registerWatchCommand(program: Command): Command {
  const watch = program
    .command('watch')
    .description(
      'start the workload, poll the source node for a spot interruption notice (IMDSv2 spot/instance-action), migrate when it comes, and report the margin against 120 s',
    )
    .option('-c, --config <file>', 'experiment YAML, as for run')
    .option('--servers <file>', 'servers.yaml (default config/servers.yaml)')
    .option('--set <path=value>', 'any config setting, repeatable (--set workload.mb_size=64)', (value: string, all: string[]) => [...all, value], [])
    .option(
      '--simulate-after <s>',
      'the lab has no IMDS: drop a notice (terminate, now + 120 s) in the notice file on the source this long after the watch starts',
    )
    .option('--poll-interval <s>', 'seconds between probes', String(POLL_INTERVAL_S))
    .option('--imds-url <url>', 'the instance metadata service', IMDS_URL)
    .option('--notice-file <path>', 'a notice file on the source node, read before IMDS (what --simulate-after writes)', NOTICE_FILE)
    .option(
      '--fis',
      "AWS: start the stack's FIS experiment (market: spot), a real spot interruption of the source node, and time the migration from its notice",
    )
    .option('--fis-template <id>', 'the FIS experiment template to start (default: aws.fis_template_id in servers.yaml)')
    .option('--json', 'print metrics and the watch record as JSON on stdout');
  declareWhenChosen(watch, async () => {
    const { PLAN_FLAGS, workloadFlags } = await import('../config/flags.js');
    for (const f of watchFlags(PLAN_FLAGS)) watch.addOption(new Option(`${f.flag} <value>`, `as for run (config: ${f.paths.join(', ')})`));
    for (const f of workloadFlags()) watch.addOption(new Option(`${f.flag} ${f.value}`, f.description));
  });
  return watch
    .addHelpText(
      'after',
      '\nA real notice on AWS: --fis starts the stack\'s AWS FIS experiment (action aws:ec2:send-spot-instance-interruptions, deployed with market: spot; see README, "Spot notices").\n',
    )
    .action(async (flags: WatchFlags) => {
      const simulateAfterS = positiveSeconds(flags.simulateAfter, '--simulate-after');
      if (flags.fis && simulateAfterS !== undefined)
        throw new UsageError('--fis and --simulate-after both bring a notice; pick one', [
          '--simulate-after: drop it with --fis (AWS sends the notice), or drop --fis on the lab',
        ]);
      if (flags.fisTemplate !== undefined && !flags.fis)
        throw new UsageError('--fis-template names the template --fis starts', ['--fis-template: add --fis, or drop it']);
      const pollIntervalS = positiveSeconds(flags.pollInterval, '--poll-interval')!;
      const [{ overridesFrom, PLAN_FLAGS, workloadFlags }, { loadPlan }, { formatSummary }, { createProgress }, { withInterrupts }, { watchAndMigrate }] =
        await Promise.all([
          import('../config/flags.js'),
          import('../config/load.js'),
          import('../metrics.js'),
          import('../progress.js'),
          import('../interrupts.js'),
          import('./watcher.js'),
        ]);
      const overrides = [...overridesFrom(flags, [...watchFlags(PLAN_FLAGS), ...workloadFlags()]), ...setOverrides(flags)];
      const { plan, warnings } = loadPlan({ projectRoot: PACKAGE_ROOT, configFile: flags.config, serversFile: flags.servers, overrides });
      for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
      let startFisExperiment: (() => Promise<FisExperiment>) | undefined;
      if (flags.fis) {
        const [{ fisTarget, fisClient, startSpotInterruption }, { requireAwsCredentials }] = await Promise.all([
          import('./fis.js'),
          import('../../infra/aws/credentials.js'),
        ]);
        const { templateId, region } = fisTarget(plan, flags.fisTemplate);
        requireAwsCredentials();
        startFisExperiment = () => startSpotInterruption(fisClient(region), templateId);
      }
      const stop = (name: string) => process.stderr.write(`\n${name}: stopping the watch and cleaning up both nodes (again to force)\n`);
      await withInterrupts(stop, async (signal) => {
        const { metrics, resultsDir, record } = await watchAndMigrate(plan, {
          signal,
          progress: createProgress(process.stderr),
          pollIntervalS,
          simulateAfterS,
          imdsUrl: flags.imdsUrl,
          noticeFile: flags.noticeFile,
          ...(startFisExperiment ? { startFisExperiment } : {}),
        });
        const seconds = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
        if (flags.json) process.stdout.write(`${JSON.stringify({ resultsDir, watch: record, ...metrics }, null, 2)}\n`);
        else
          process.stdout.write(
            `\n${formatSummary(metrics)}\nSpot notice: ${record.notice.action} at ${record.notice.time} (seen ${record.noticeSeenAt} via ${record.via})\n` +
              (record.fis
                ? `FIS experiment ${record.fis.experimentId} started ${record.fis.startedAt}; start → notice seen: ${seconds(record.fis.startToNoticeMs)}\n`
                : '') +
              `Notice → migration done: ${seconds(record.noticeToDoneMs)}; margin before the termination time: ${seconds(record.marginMs)} of ${record.deadlineS} s, ${record.met ? 'met' : 'MISSED'}\nResults: ${resultsDir}\n`,
          );
        process.exitCode = metrics.outcome === 'ok' && record.met ? 0 : 1;
      });
    });
}
