// One migration, as a fixed table of stages: connect, preflight, deploy, start, warm up,
// capture, migrate (the strategy), verify, and a rollback to the source if restore or verify
// fails; logs are collected and both nodes cleaned in a finally, also on failure and Ctrl-C.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CleanupStack, cleanNodes, runProcessPattern } from './cleanup.js';
import { LeftoversLog } from './leftovers.js';
import type { Plan } from './config/plan.js';
import { AbortedError, ExternalError, UsageError } from '../core/errors.js';
import { deadlineVerdicts, type RollbackMetrics, type RunMetrics } from './metrics.js';
import { formatPreflight, inspectNodes, preflight, type PreflightReport } from './preflight.js';
import { createProgress, type Progress } from './progress.js';
import type { RemoteNode } from '../core/node.js';
import { connectPlanNode, hostKeysFor } from './remote/connect.js';
import { createResultsDir, finishResults, makeRunId, type ResultsDir } from './results.js';
import { PhaseLog, type RunContext, type RunPaths } from './run-context.js';
import { strategies } from './strategies/registry.js';
import type { MigrationResult, Strategy } from './strategies/strategy.js';
import { rollBack } from './rollback.js';
import { runPaths, transferOf } from './transfers/registry.js';
import {
  deployPayload,
  psTreeArgv,
  readStatus,
  readyPath,
  startPayload,
  verifyRestored,
  waitForMigrationPoint,
  type RestoredEvidence,
  type TriggerRecord,
} from './workload-control.js';
import { FINAL_FILE, LOG_FILE, OUTPUT_FILE, STATUS_FILE } from '../workloads/payload-files.js';
import { writeOriginalMetrics } from './original-metrics.js';
import type { CommandResult } from '../core/node.js';
import { workloads } from '../workloads/registry.js';
import { withOpenFiles } from './open-files.js';
import type { Workload, WorkloadStatus } from '../workloads/workload.js';
import { quoteArgv } from '../core/quote.js';
import { CommandRecorder, type RecordingScript } from './remote/recording.js';

export interface MigrationOptions {
  readonly signal: AbortSignal;
  readonly progress: Progress;
  /** Awaited once the workload is warm, right before the migration starts: `watch` waits here for the spot notice. */
  readonly beforeMigration?: () => Promise<void>;
  /** The command line that started the run (criu-lab's argv), recorded in metrics.json. */
  readonly commandLine?: readonly string[];
  /** Every command the run issued on a node, as it finishes (the dry-run comparison test listens here). */
  readonly onCommand?: (result: CommandResult) => void;
}

export interface RunOutcome {
  readonly metrics: RunMetrics;
  readonly resultsDir: string;
}

const workloadOf = (plan: Plan): Workload<Record<string, unknown>> => workloads.get(plan.workload.type);

/** Copies a file from a node into the results, if it exists; collecting never fails a run. */
async function collect(node: RemoteNode, remotePath: string, localPath: string): Promise<void> {
  await node.download(remotePath, localPath).catch(() => undefined);
}

/** What of the run is on a node as the run ends (its processes, its directories): evidence from both nodes, also when no log was written there. */
async function collectNodeState(ctx: RunContext, node: RemoteNode, localPath: string): Promise<void> {
  const { paths, runId } = ctx;
  const state = await node
    .run(
      [
        'sh',
        '-c',
        'echo "# processes of the run"; pgrep -a -f "$1" | grep -v "^$$ "; echo "# its directories"; ls -la "$2" "$3" "$4" 2>&1',
        'sh',
        runProcessPattern(runId),
        paths.workDir,
        paths.sourceImageDir,
        paths.destImageDir,
      ],
      { check: false, idempotent: true, step: 'collect logs' },
    )
    .catch((error: unknown) => ({ stdout: `unreachable: ${(error as Error).message}\n` }));
  await writeFile(localPath, state.stdout);
}

async function collectLogs(ctx: RunContext, strategy: Strategy, results: ResultsDir): Promise<void> {
  const { source, destination, paths } = ctx;
  const criuLogs = await strategy.logs(ctx).catch(() => []);
  await Promise.all([
    collectNodeState(ctx, source, join(results.source, 'node-state.txt')),
    collectNodeState(ctx, destination, join(results.dest, 'node-state.txt')),
    ...criuLogs.map((log) => collect(ctx[log.on], log.path, join(log.on === 'source' ? results.source : results.dest, log.name))),
    collect(source, `${paths.workDir}/${OUTPUT_FILE}`, join(results.source, 'payload.out')),
    collect(destination, `${paths.workDir}/${LOG_FILE}`, join(results.dest, 'workload_stdout_post_restore.log')),
    collect(destination, `${paths.workDir}/${STATUS_FILE}`, join(results.dest, 'workload_status_post_restore.json')),
    collect(destination, `${paths.workDir}/${FINAL_FILE}`, join(results.dest, FINAL_FILE)),
    collect(destination, `${paths.workDir}/${OUTPUT_FILE}`, join(results.dest, 'payload.out')),
  ]);
}

/** The seed's pre-dump record: process state, status and output as the source saw them. */
async function capturePreDump(ctx: RunContext, pid: number, results: ResultsDir): Promise<void> {
  const { source, paths } = ctx;
  const ps = await source.run(psTreeArgv(pid), { check: false });
  await writeFile(join(results.source, 'workload_status_pre_dump.txt'), ps.stdout);
  await collect(source, `${paths.workDir}/${STATUS_FILE}`, join(results.source, 'workload_status_pre_dump.json'));
  await collect(source, `${paths.workDir}/${LOG_FILE}`, join(results.source, 'workload_stdout_pre_dump.log'));
}

function outcomeOf(error: unknown, evidence: RestoredEvidence | undefined): RunMetrics['outcome'] {
  if (error === undefined) return evidence?.verify.ok ? 'ok' : 'failed';
  return error instanceof ExternalError || error instanceof AbortedError || error instanceof UsageError ? 'failed' : 'exception';
}

/** Runs one migration as the plan says and writes its results; never leaves anything behind on the nodes. */
export async function runMigration(plan: Plan, options: MigrationOptions): Promise<RunOutcome> {
  const { signal, progress } = options;
  const startedAtMs = Date.now();
  const workload = workloadOf(plan);
  const strategy = strategies.get(plan.checkpoint.strategy.mode);
  const transfer = transferOf(plan);
  // Refused before anything is written or connected when no host key is pinned and none may be trusted blindly.
  const hostKeyCheck = hostKeysFor(plan.nodes) === 'trust-unknown' ? 'trust-unknown' : 'pinned';
  const runId = makeRunId(workload.name, plan.experiment.resultsDir);
  const results = await createResultsDir(plan.experiment.resultsDir, runId);
  const paths = runPaths(plan, runId);
  const phases = new PhaseLog();
  const cleanup = new CleanupStack();
  // Written before anything happens on a node, so a controller killed at any point leaves a record for `criu-lab cleanup`.
  const leftovers = await LeftoversLog.create(results.path, {
    runId,
    connection: { nodes: plan.nodes, timeouts: plan.timeouts },
    paths,
    transfer: transfer.name,
  });
  progress.note(
    `run ${runId}: ${workload.name} ${plan.nodes.source.name} → ${plan.nodes.destination.name}, strategy ${strategy.name}, transfer ${transfer.name}`,
  );

  let error: unknown;
  let versions: Record<string, string> = { node: process.version };
  let migration: MigrationResult | undefined;
  let evidence: RestoredEvidence | undefined;
  let frozen: WorkloadStatus | undefined;
  let rollback: RollbackMetrics | undefined;
  let rollBackSource: (() => Promise<RollbackMetrics>) | undefined;
  let workloadPid: number | undefined;
  let trigger: TriggerRecord | undefined;
  try {
    const connected = Date.now();
    const onReconnect = (message: string) => progress.note(`  ${message}`);
    // logging.level debug: every remote command, with how long it took, as it finishes.
    const debug =
      plan.experiment.logLevel === 'debug'
        ? (r: CommandResult) => progress.note(`  [debug] ${r.node} $ ${quoteArgv(r.argv)}  (${r.durationMs.toFixed(0)} ms, exit ${r.exitCode})`)
        : undefined;
    const onCommand = debug && options.onCommand ? (r: CommandResult) => (debug(r), options.onCommand!(r)) : (debug ?? options.onCommand);
    const [source, destination] = await progress.track('connect', () =>
      Promise.all([connectPlanNode(plan, 'source', onReconnect, onCommand), connectPlanNode(plan, 'destination', onReconnect, onCommand)]),
    );
    cleanup.defer('close connections', async () => Promise.all([source.close(), destination.close()]));
    phases.fromController('connect', connected, Date.now() - connected);
    const ctx: RunContext = { plan, runId, source, destination, paths, workload, phases, progress, signal };
    // The session writes what it will leave (objects, a mount's stage dir, a volume's move) into the record before it does.
    const session = transfer.open(ctx, { remember: (transferLeftovers) => leftovers.update({ transferLeftovers }) });

    versions = await progress.track('preflight', () => preflight(ctx, strategy, session));
    await leftovers.update({ touched: ['source', 'destination'] });
    // --no-cleanup (experiment.cleanup false): the run's processes and directories stay; leftovers.json lets `criu-lab cleanup` remove them later.
    if (plan.experiment.cleanup)
      // Processes on both nodes first, then directories one node after the other (shared storage races), every node tried.
      cleanup.defer('clean nodes', () =>
        cleanNodes([source, destination], runId, paths, workloadPid, (node) => leftovers.markCleaned(node === source ? 'source' : 'destination')),
      );
    cleanup.defer('collect logs', () => collectLogs(ctx, strategy, results));
    cleanup.defer(`${transfer.name} cleanup`, () => session.cleanup());

    await progress.track('deploy workload', () => deployPayload(ctx));
    const pid = await progress.track('start workload', () => startPayload(ctx));
    workloadPid = pid;
    await leftovers.update({ workloadPid: pid });
    progress.note(`  workload pid ${pid} on ${source.name}`);
    trigger = (await progress.track('warm up', () => waitForMigrationPoint(ctx, pid))).trigger;
    progress.note(
      `  migration trigger: ${trigger.detail}, fired ${(trigger.firedAfterReadyMs / 1000).toFixed(2)} s after ready${trigger.rssMb !== undefined ? ` (RSS ${trigger.rssMb.toFixed(0)} MiB)` : ''}`,
    );
    await options.beforeMigration?.();
    await capturePreDump(ctx, pid, results);
    await progress.track(`${transfer.name} prepare`, () => session.prepare());

    // From the first CRIU action on, a failed migration resumes the source before anything is cleaned.
    rollBackSource = () => rollBack(signal.aborted ? { ...ctx, signal: new AbortController().signal } : ctx, pid);
    // The transfer also moves what the frozen tree holds open outside the work dir (found in /proc).
    migration = await strategy.migrate(ctx, withOpenFiles(ctx, session, pid), pid);
    // The source process is stopped (left by the dump), so its last status is what was frozen.
    frozen = await readStatus(source, ctx);
    if (!frozen) throw new ExternalError(`no ${STATUS_FILE} in the frozen work dir on ${source.name}`, { node: source.name, step: 'verify' });
    const verifyStarted = Date.now();
    evidence = await progress.track('verify', () => verifyRestored(ctx, pid, frozen!));
    phases.fromController('verify', verifyStarted, Date.now() - verifyStarted);
    await writeFile(join(results.dest, 'workload_status_post_restore.txt'), evidence.processInfo);
    if (!evidence.verify.ok) rollback = await rollBackSource();
  } catch (caught) {
    error = caught;
    // Also on Ctrl-C or SIGTERM: the source is resumed (under a signal of its own, the run's is spent) before the cleanup, so the workload is never left frozen.
    if (rollBackSource) rollback = await rollBackSource();
  } finally {
    await progress.track('collect + clean up', () => cleanup.run()).catch(() => undefined);
  }

  const outcome = outcomeOf(error, evidence);
  const errorText =
    error instanceof UsageError
      ? [error.message, ...error.problems].join('\n  - ')
      : error instanceof ExternalError && error.details.logTail
        ? `${error.message}\nlog tail:\n${error.details.logTail}`
        : error instanceof Error
          ? error.message
          : error === undefined
            ? undefined
            : String(error);
  const metrics: RunMetrics = {
    experiment: plan.experiment.name,
    ...(plan.experiment.description !== undefined ? { description: plan.experiment.description } : {}),
    runId,
    workload: workload.name,
    workloadParams: plan.workload.params,
    strategy: strategy.name,
    ...(plan.experiment.placement ? { placement: plan.experiment.placement } : {}),
    ...(plan.experiment.profile ? { profile: plan.experiment.profile } : {}),
    source: plan.nodes.source,
    destination: plan.nodes.destination,
    startedAt: new Date(startedAtMs).toISOString(),
    phases: phases.list(),
    ...(migration
      ? {
          dump: { durationMs: migration.dump.durationMs, criuStats: migration.dump.criuStats, imageBytes: migration.dump.imageBytes },
          transfer: migration.transfer,
          restore: { durationMs: migration.restore.durationMs, criuStats: migration.restore.criuStats },
          downtimeMs: migration.downtimeMs,
          migrationMs: migration.migrationMs,
          deadlines: deadlineVerdicts(
            migration.migrationMs,
            plan.checkpoint.strategy.deadline.name === 'custom' ? plan.checkpoint.strategy.deadline.seconds : undefined,
          ),
          ...(migration.predump ? { predump: migration.predump } : {}),
          ...(migration.pageStream ? { pageStream: migration.pageStream } : {}),
          ...(migration.lazy ? { lazy: migration.lazy } : {}),
        }
      : {}),
    ...(rollback ? { rollback } : {}),
    totalDurationMs: Date.now() - startedAtMs,
    ...(evidence ? { verify: evidence.verify } : {}),
    versions,
    hostKeyCheck,
    outcome,
    ...(errorText ? { error: errorText } : {}),
    ...(cleanup.failures.length > 0 ? { cleanupFailures: cleanup.failures } : {}),
    ...(trigger ? { trigger } : {}),
    ...(plan.experiment.cleanup ? {} : { leftOnNodes: leftOnNodes(plan, paths) }),
    ...(options.commandLine ? { commandLine: options.commandLine } : {}),
    config: plan.experiment.resolvedConfig,
    inertKeys: plan.experiment.inertKeys,
  };
  const resultsDir = await finishResults(results, metrics, plan.experiment.saveMetrics);
  if (plan.experiment.metricsFile) await writeOriginalMetrics(plan.experiment.metricsFile, metrics, resultsDir);
  if (error !== undefined) throw Object.assign(error as object, { resultsDir, metrics });
  return { metrics, resultsDir };
}

/** What --no-cleanup leaves, by node: the run's directories (and, after a failure, its processes). */
function leftOnNodes(plan: Plan, paths: RunPaths): Record<string, string[]> {
  const source = new Set([paths.workDir, paths.scriptDir, paths.dataDir, paths.sourceImageDir, paths.sourceControlDir]);
  const destination = new Set([paths.workDir, ...(plan.checkpoint.dataDir ? [paths.dataDir] : []), paths.destImageDir]);
  return { [plan.nodes.source.name]: [...source], [plan.nodes.destination.name]: [...destination] };
}

/** `criu-lab preflight`: every check a run makes first, on both nodes, without starting anything. */
export async function preflightNodes(plan: Plan, signal: AbortSignal): Promise<{ report: PreflightReport; table: string }> {
  const [source, destination] = await Promise.all([connectPlanNode(plan, 'source'), connectPlanNode(plan, 'destination')]);
  try {
    const runId = 'preflight';
    const ctx: RunContext = {
      plan,
      runId,
      source,
      destination,
      paths: runPaths(plan, runId),
      workload: workloadOf(plan),
      phases: new PhaseLog(),
      progress: createProgress(process.stderr, true),
      signal,
    };
    // The session is only asked what its method can do; it is never prepared.
    const report = await inspectNodes(ctx, strategies.get(plan.checkpoint.strategy.mode), transferOf(plan).open(ctx));
    return { report, table: formatPreflight(report, ctx) };
  } finally {
    await Promise.all([source.close(), destination.close()]);
  }
}

/** A pid no node hands out (above the default pid_max): the dry run's workload, shown as <pid>. */
const DRY_RUN_PID = 4_194_303;

/** How the dry run's recording nodes answer: as a healthy run sees its nodes. */
function dryRunScript(ctx: Pick<RunContext, 'plan' | 'paths'>): RecordingScript {
  return {
    answer(argv) {
      // The destination must not have the workload's pid yet (the pre-freeze check probes it).
      if (argv[0] === 'kill' && argv[1] === '-0') return { exitCode: 1 };
      // A lazy dump and the lazy-pages daemon run on while the run waits for them to be ready.
      if (argv.includes('--lazy-pages') && argv.includes('dump')) return { settleAfterMs: 20 };
      if (argv.includes('lazy-pages')) return { settleAfterMs: 20 };
      // The workload's process tree is the workload alone (its open files are then looked up as a run does).
      if (argv.join(' ') === 'ps -e -o pid=,ppid=,comm=') return { stdout: `${DRY_RUN_PID} 1 payload\n` };
      // A scratch directory the check makes, named as mktemp would.
      if (argv[0] === 'mktemp') return { stdout: `${(argv.at(-1) ?? '/tmp/tmp.XXXXXX').replace(/X+$/, '<scratch>')}\n` };
      return undefined;
    },
    file(path) {
      if (path === readyPath(ctx)) return `ready:${DRY_RUN_PID}\n`;
      if (path.endsWith('/transfer_key.pub')) return '<public key from the source>';
      // CRIU's statistics are absent, as after a CRIU that writes none; any other file reads empty.
      if (/\/stats-(dump|restore)$/.test(path)) return undefined;
      return '';
    },
  };
}

export interface DryRunStep {
  readonly node: string;
  readonly step: string;
  /** The command as a shell would take it. */
  readonly command: string;
  readonly argv: readonly string[];
}

/**
 * What a run would do, command by command, without connecting to anything (--dry-run): the
 * run's own stages, in the order runMigration takes them, against two nodes that record each
 * command instead of running it. Left out are the stages that only read the workload's files
 * (warm up, the pre-dump capture, verify) and log collection; a pre-dump round follows the one
 * before at once (the interval is a wait, not a command).
 */
export async function dryRun(plan: Plan): Promise<{ runId: string; steps: DryRunStep[] }> {
  const workload = workloadOf(plan);
  const strategy = strategies.get(plan.checkpoint.strategy.mode);
  const transfer = transferOf(plan);
  const runId = `${workload.name}_<timestamp>`;
  const recorded: Plan = { ...plan, checkpoint: { ...plan.checkpoint, strategy: { ...plan.checkpoint.strategy, predumpIntervalS: 0 } } };
  const paths = runPaths(recorded, runId);
  const recorder = new CommandRecorder();
  const script = dryRunScript({ plan: recorded, paths });
  const putVerb = plan.nodes.sshUser === 'root' ? 'sftp-put' : 'sudo-cat-put';
  const source = recorder.node(plan.nodes.source.name, plan.nodes.source.ip, script, putVerb);
  const destination = recorder.node(plan.nodes.destination.name, plan.nodes.destination.ip, script, putVerb);
  const ctx: RunContext = {
    plan: recorded,
    runId,
    source,
    destination,
    paths,
    workload,
    phases: new PhaseLog(),
    progress: createProgress(process.stderr, true),
    signal: new AbortController().signal,
  };
  const session = transfer.open(ctx, { dryRun: true });

  await recorder.during('preflight', () => inspectNodes(ctx, strategy, session));
  await recorder.during('deploy', () => deployPayload(ctx));
  const pid = await recorder.during('start', () => startPayload(ctx));
  await recorder.during(`${transfer.name} prepare`, () => session.prepare());
  await recorder.during('migrate', () => strategy.migrate(ctx, withOpenFiles(ctx, session, pid), pid));
  await recorder.during(`${transfer.name} cleanup`, () => session.cleanup());
  if (plan.experiment.cleanup) await recorder.during('cleanup', () => cleanNodes([source, destination], runId, paths, pid, async () => undefined));

  const shown = (arg: string) => arg.replaceAll(String(DRY_RUN_PID), '<pid>');
  return {
    runId,
    steps: recorder.commands.map((c) => {
      const argv = c.argv.map(shown);
      return { node: c.node, step: c.stage, command: quoteArgv(argv), argv };
    }),
  };
}
