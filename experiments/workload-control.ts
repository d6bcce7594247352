// Drives a payload through the protocol: deploy, start detached, wait for `checkpoint_ready`,
// read its status, and after restore prove that it goes on and that its data is intact.
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AbortedError, ExternalError } from '../core/errors.js';
import { runProcessPattern } from './cleanup.js';
import type { RemoteNode } from '../core/node.js';
import { ms, type RunContext } from './run-context.js';
import { tail } from './remote/ssh.js';
import type { VerifyResult, WorkloadFinal, WorkloadStatus } from '../workloads/workload.js';
import { check } from '../workloads/workload.js';
import { processTree, treeActivity, treeRssMb } from '../workloads/proc.js';
import { FINAL_FILE, FLAG_FILE, LOG_FILE, OUTPUT_FILE, STATUS_FILE } from '../workloads/payload-files.js';
import type { MigrationTrigger, Plan } from './config/plan.js';
import type { RecordedCheck } from './metrics.js';

const POLL_MS = 200;

type Ctx = Pick<RunContext, 'plan' | 'paths' | 'workload' | 'runId'>;

export const startArgv = (ctx: Ctx): string[] => [
  'setsid',
  '-f',
  ...ctx.workload.startArgv({ params: ctx.plan.workload.params, workDir: ctx.paths.workDir, scriptDir: ctx.paths.scriptDir }),
];

/** The ready file the payload writes (workload.readiness.file_path): relative to the work dir unless absolute. */
export const readyPath = (ctx: Pick<Ctx, 'plan' | 'paths'>): string => {
  const file = ctx.plan.workload.readyFile;
  return file.startsWith('/') ? file : `${ctx.paths.workDir}/${file}`;
};

/** Waits until `probe` returns a value, polling; fails after timeoutMs with what `explain` says. */
async function poll<T>(probe: () => Promise<T | undefined>, timeoutMs: number, signal: AbortSignal, explain: () => Promise<ExternalError>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (signal.aborted) throw new AbortedError();
    const value = await probe();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw await explain();
    await sleep(POLL_MS, undefined, { signal }).catch(() => {
      throw new AbortedError();
    });
  }
}

/**
 * Like poll, for a restored payload that may be inside one long step (a 4096² product, a sort of
 * gigabytes): the window of `windowMs` starts again whenever the process tree used CPU in it, up
 * to `capMs` in all. So a stalled or dead process fails after one window, a busy one is given time.
 */
async function pollWhileBusy<T>(
  node: RemoteNode,
  pid: number,
  probe: () => Promise<T | undefined>,
  windowMs: number,
  capMs: number,
  signal: AbortSignal,
  explain: () => Promise<ExternalError>,
): Promise<T> {
  const cap = performance.now() + Math.max(capMs, windowMs);
  const activity = async () =>
    treeActivity(
      node,
      (await processTree(node, pid)).map((p) => p.pid),
    ).catch(() => ({ cpuTicks: 0, states: [] as string[] }));
  let lastTicks = (await activity()).cpuTicks;
  for (;;) {
    const windowEnd = Math.min(performance.now() + windowMs, cap);
    try {
      return await poll(probe, windowEnd - performance.now(), signal, explain);
    } catch (error) {
      const now = await activity();
      // Busy: it used CPU in the window, or is running or waiting on I/O (D) right now (a node short of memory pages it back in).
      const busy = now.cpuTicks > lastTicks || now.states.some((state) => state === 'R' || state === 'D');
      if (!(error instanceof ExternalError) || !busy || performance.now() >= cap) throw error;
      lastTicks = now.cpuTicks;
    }
  }
}

async function readText(node: RemoteNode, path: string): Promise<string | undefined> {
  return node.readFile(path).then(
    (b) => b.toString('utf8'),
    () => undefined,
  );
}

async function readJson<T>(node: RemoteNode, path: string): Promise<T | undefined> {
  const text = await readText(node, path);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined; // written by rename, so a torn read means "not there yet"
  }
}

/** The payload's status file, or what its observer sees from outside for a payload that writes none. */
export const readStatus = (node: RemoteNode, ctx: Ctx): Promise<WorkloadStatus | undefined> =>
  ctx.workload.observer
    ? ctx.workload.observer.status(node, ctx.paths.workDir, readyPath(ctx))
    : readJson<WorkloadStatus>(node, `${ctx.paths.workDir}/${STATUS_FILE}`);

/** `ps` of the workload's root and its children (redis-server, ffmpeg), for the results. */
export const psTreeArgv = (pid: number): string[] => ['ps', '-o', 'pid,ppid,stat,rss,vsz,etime,args', '--pid', String(pid), '--ppid', String(pid)];

async function isRunning(node: RemoteNode, ctx: Ctx): Promise<boolean> {
  return (
    (
      await node.run(['pgrep', '-f', runProcessPattern(ctx.runId)], {
        check: false,
        idempotent: true,
        step: 'workload check',
        timeoutMs: ms(ctx.plan.timeouts.commandS),
      })
    ).exitCode === 0
  );
}

async function payloadError(node: RemoteNode, ctx: Ctx, message: string, step: string): Promise<ExternalError> {
  const output = (await readText(node, `${ctx.paths.workDir}/${OUTPUT_FILE}`)) ?? '';
  const log = (await readText(node, `${ctx.paths.workDir}/${LOG_FILE}`)) ?? '';
  return new ExternalError(message, { node: node.name, step, logTail: tail(`${log}\n${output}`, 15) });
}

/** Where deploy makes directories: the work, scripts and data dirs on the source; the data dir on the destination too, when one is set. */
export const deployDirs = (ctx: Pick<Ctx, 'plan' | 'paths'>): { source: string[]; destination: string[] } => ({
  source: [...new Set([ctx.paths.workDir, ctx.paths.scriptDir, ctx.paths.dataDir])],
  destination: ctx.plan.checkpoint.dataDir ? [ctx.paths.dataDir] : [],
});

/** Uploads the payload into a fresh scripts dir (the work dir unless paths.scripts_dir is set), makes the data dir and creates checkpoint_flag. */
export async function deployPayload(ctx: RunContext): Promise<void> {
  const { source, destination, paths, signal } = ctx;
  const dirs = deployDirs(ctx);
  const options = { step: 'deploy', timeoutMs: ms(ctx.plan.timeouts.commandS), signal, idempotent: true };
  await source.run(['mkdir', '-p', ...dirs.source], options);
  if (dirs.destination.length > 0) await destination.run(['mkdir', '-p', ...dirs.destination], options);
  for (const file of ctx.workload.payloadFiles) await source.upload(file, `${paths.scriptDir}/${basename(file)}`, 0o755);
  await source.writeFile(`${paths.workDir}/${FLAG_FILE}`, '');
}

/** Starts the payload detached and returns the PID it reports in checkpoint_ready. */
export async function startPayload(ctx: RunContext): Promise<number> {
  const { source, paths, signal } = ctx;
  await source.run(startArgv(ctx), {
    step: 'start workload',
    detachStdio: `${paths.workDir}/${OUTPUT_FILE}`,
    timeoutMs: ms(ctx.plan.timeouts.commandS),
    signal,
  });
  // Right after setsid returns the payload may be inside execve, when pgrep sees no command line:
  // only two misses in a row, a poll apart, mean it exited.
  let missed = 0;
  return poll(
    async () => {
      const ready = /^ready:(\d+)/.exec((await readText(source, readyPath(ctx))) ?? '');
      if (ready) return Number(ready[1]);
      missed = (await isRunning(source, ctx)) ? 0 : missed + 1;
      if (missed >= 2) throw await payloadError(source, ctx, `the ${ctx.workload.name} workload exited before it was ready`, 'start workload');
      return undefined;
    },
    ms(ctx.plan.timeouts.readyS),
    signal,
    () =>
      payloadError(
        source,
        ctx,
        `the ${ctx.workload.name} workload did not write ${readyPath(ctx)} within ${ctx.plan.timeouts.readyS} s (timeouts.ready_s, workload.readiness.timeout)`,
        'start workload',
      ),
  );
}

/** Which trigger started the migration, and when it fired, counted from the ready signal. */
export interface TriggerRecord {
  readonly kind: MigrationTrigger['kind'];
  /** What the trigger asked for: `wait 5 s`, `rss >= 512 MiB`. */
  readonly detail: string;
  readonly firedAfterReadyMs: number;
  /** The process tree's RSS when an rss trigger fired. */
  readonly rssMb?: number;
}

export const describeTrigger = (trigger: MigrationTrigger): string =>
  trigger.kind === 'wait'
    ? `wait ${trigger.seconds} s after ready`
    : trigger.kind === 'rss'
      ? `rss >= ${trigger.targetMb} MiB`
      : trigger.kind === 'ready'
        ? 'right after ready'
        : 'when the workload is warm';

/**
 * Waits for the moment to migrate, as plan.experiment.trigger says: right after ready, a number
 * of seconds after it, when the tree's RSS reaches a target, or when the workload says it is warm.
 * Called right after the ready signal, so its own start is the zero of firedAfterReadyMs.
 */
export async function waitForMigrationPoint(ctx: RunContext, pid: number): Promise<{ status: WorkloadStatus; trigger: TriggerRecord }> {
  const { source, plan, signal, workload } = ctx;
  const trigger = plan.experiment.trigger;
  const readyAt = performance.now();
  if (trigger.kind === 'wait')
    await sleep(ms(trigger.seconds), undefined, { signal }).catch(() => {
      throw new AbortedError();
    });
  const ready = workload.readyToMigrate;
  let rssMb: number | undefined;
  const reached = async (status: WorkloadStatus): Promise<boolean> => {
    if (trigger.kind === 'rss') {
      rssMb = await treeRssMb(source, pid);
      return rssMb >= trigger.targetMb;
    }
    return trigger.kind !== 'warm' || !ready || ready(status, plan.workload.params);
  };
  const status = await poll(
    async () => {
      const status = await readStatus(source, ctx);
      if (status && (await reached(status))) return status;
      if (!(await isRunning(source, ctx)))
        throw await payloadError(source, ctx, `the ${workload.name} workload died before the migration (trigger: ${describeTrigger(trigger)})`, 'warm-up');
      return undefined;
    },
    ms(plan.timeouts.readyS),
    signal,
    () => {
      const seen = rssMb === undefined ? '' : `; its process tree's RSS was ${rssMb.toFixed(0)} MiB`;
      const fix =
        trigger.kind === 'rss'
          ? 'lower the target (checkpoint.strategy.target_memory_mb, --target-memory-mb) or raise timeouts.ready_s'
          : 'raise timeouts.ready_s (workload.readiness.timeout)';
      return payloadError(
        source,
        ctx,
        `the ${workload.name} workload did not reach its migration point (trigger: ${describeTrigger(trigger)}) within ${plan.timeouts.readyS} s${seen}; fix: ${fix}`,
        'warm-up',
      );
    },
  );
  const firedAfterReadyMs = performance.now() - readyAt;
  return { status, trigger: { kind: trigger.kind, detail: describeTrigger(trigger), firedAfterReadyMs, ...(rssMb !== undefined ? { rssMb } : {}) } };
}

export interface RestoredEvidence {
  readonly resumed: WorkloadStatus;
  readonly final: WorkloadFinal;
  readonly verify: VerifyResult;
  /** `ps` of the restored process on the destination, for the results. */
  readonly processInfo: string;
}

/**
 * After restore: the process must be alive on the destination and its counter must move past
 * the frozen value; then checkpoint_flag goes, the payload re-reads its data, reports and exits.
 */
export async function verifyRestored(ctx: RunContext, pid: number, frozen: WorkloadStatus): Promise<RestoredEvidence> {
  const { destination, paths, plan, signal, workload } = ctx;
  const timeoutMs = ms(plan.timeouts.verifyS);
  const ps = await destination.run(psTreeArgv(pid), { check: false, idempotent: true, step: 'verify', timeoutMs: ms(plan.timeouts.commandS), signal });
  const alive = ps.exitCode === 0;
  const restored = await readStatus(destination, ctx);
  const progressed = (status: WorkloadStatus) => (workload.observer ? workload.observer.progressed(frozen, restored, status) : status.counter > frozen.counter);
  // One step of a workload may outlast timeouts.verify_s on a slow node: while the restored tree
  // computes, the wait goes on, up to timeouts.ready_s (how long its start may take, too).
  const busyCapMs = ms(Math.max(plan.timeouts.verifyS, plan.timeouts.readyS));
  const resumed = await pollWhileBusy(
    destination,
    pid,
    async () => {
      const status = await readStatus(destination, ctx);
      return status && progressed(status) ? status : undefined;
    },
    timeoutMs,
    busyCapMs,
    signal,
    () =>
      payloadError(
        destination,
        ctx,
        `the restored ${workload.name} workload (pid ${pid}) made no progress on ${destination.name} within ${plan.timeouts.verifyS} s (and used no CPU in the last ${plan.timeouts.verifyS} s)`,
        'verify',
      ),
  );
  await destination.run(['rm', '-f', `${paths.workDir}/${FLAG_FILE}`], { step: 'verify', timeoutMs: ms(plan.timeouts.commandS), signal, idempotent: true });
  // A payload observed from outside writes no final report: what was seen last stands for it.
  const final: WorkloadFinal = workload.observer
    ? resumed
    : await pollWhileBusy(
        destination,
        pid,
        () => readJson<WorkloadFinal>(destination, `${paths.workDir}/${FINAL_FILE}`),
        timeoutMs,
        busyCapMs,
        signal,
        () => payloadError(destination, ctx, `the restored ${workload.name} workload did not write ${FINAL_FILE} after checkpoint_flag was removed`, 'verify'),
      );
  const exited = await poll(
    async () =>
      (await destination.run(['kill', '-0', String(pid)], { check: false, idempotent: true, step: 'verify', timeoutMs: ms(plan.timeouts.commandS), signal }))
        .exitCode !== 0
        ? true
        : undefined,
    timeoutMs,
    signal,
    () => payloadError(destination, ctx, `the restored ${workload.name} workload did not exit after its final report`, 'verify'),
  );
  const own = workload.verify({ params: plan.workload.params, frozen, restored, resumed, final });
  const checks = [
    check('alive on destination', alive, `pid ${pid} ${alive ? 'running' : 'not found'} in ${destination.name}'s PID namespace after restore`),
    ...own.checks,
    check('exits after checkpoint_flag removal', exited, workload.observer ? 'process gone' : 'final report written, process gone'),
  ];
  return { resumed, final, verify: judge(checks, plan.experiment.successCriteria), processInfo: ps.stdout };
}

/** Checks about the process itself (it runs on, it is the same one); every other check is about its data. */
const PROCESS_CHECKS = new Set([
  'alive on destination',
  'progress continues',
  'same process',
  'same process tree',
  'process tree restored',
  'exits after checkpoint_flag removal',
  'same client connection',
  'output keeps growing',
]);

export const checkKind = (name: string): 'process' | 'integrity' => (PROCESS_CHECKS.has(name) ? 'process' : 'integrity');

/**
 * The outcome from the checks migration.success_criteria counts (process_running, data_integrity_check);
 * every check is still recorded. With both off, nothing can fail: the run is ok once it restored.
 */
export function judge(checks: VerifyResult['checks'], criteria: Plan['experiment']['successCriteria']): { ok: boolean; checks: RecordedCheck[] } {
  const recorded = checks.map((c) => {
    const kind = checkKind(c.name);
    return { ...c, kind, counted: kind === 'process' ? criteria.processRunning : criteria.dataIntegrity };
  });
  return { ok: recorded.every((c) => c.ok || !c.counted), checks: recorded };
}
