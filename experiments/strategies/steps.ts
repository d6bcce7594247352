// The pieces strategies are made of: a CRIU call timed on its node and recorded as a phase, a
// wait for a long-running CRIU call to become ready, the freeze start from CRIU's statistics,
// the check before the freeze, and the figures every strategy reports.
import { PAGE_BYTES, criuLogPath } from '../criu/commands.js';
import type { PreflightRow } from '../criu/checks.js';
import { availableBytes, row } from '../criu/checks.js';
import { readLog } from '../criu/images.js';
import type { CriuStats } from '../criu/stats.js';
import { ExternalError } from '../../core/errors.js';
import { MIB, throughputMiBps, type PageStreamMetrics, type TransferMetrics } from '../metrics.js';
import type { CommandResult, Role } from '../../core/node.js';
import { tail } from '../remote/ssh.js';
import { ms, type RunContext } from '../run-context.js';
import type { TransferItem, TransferSession } from '../transfers/transfer.js';
import type { MigrationResult } from './strategy.js';

export interface NodeTiming {
  readonly startedAtMs: number;
  readonly durationMs: number;
}

/** A command result that carries its node timing. */
export type TimedResult = CommandResult & { readonly nodeTiming: NodeTiming };

export const endOf = (timing: NodeTiming): number => timing.startedAtMs + timing.durationMs;

export function timingOf(result: CommandResult): TimedResult {
  if (!result.nodeTiming) throw new ExternalError(`${result.argv.slice(0, 2).join(' ')} on ${result.node} reported no node timing`, { node: result.node });
  return result as TimedResult;
}

/**
 * A failed or timed-out CRIU call says little on stderr (it logs to its file): the error carries
 * the tail of its log, read on the node, in place of whatever stderr held.
 */
export async function withCriuLog(ctx: RunContext, role: Role, argv: readonly string[], error: unknown): Promise<unknown> {
  const logPath = criuLogPath(argv);
  if (!(error instanceof ExternalError) || logPath === undefined) return error;
  const log = await readLog(ctx[role], logPath);
  return log ? new ExternalError(`${error.message}; see ${logPath} on ${ctx[role].name}`, { ...error.details, logTail: tail(log, 15) }) : error;
}

/** Runs a CRIU call on a node, timed there, shown as progress and recorded as the phase `name`. */
export async function timedStep(ctx: RunContext, role: Role, name: string, argv: readonly string[], timeoutS: number): Promise<TimedResult> {
  const result = await ctx.progress.track(name, () =>
    ctx[role].run(argv, { timed: true, step: name, timeoutMs: ms(timeoutS), signal: ctx.signal }).catch(async (error: unknown) => {
      throw await withCriuLog(ctx, role, argv, error);
    }),
  );
  ctx.phases.fromNode(name, result);
  return timingOf(result);
}

export async function makeDirs(ctx: RunContext, role: Role, dirs: readonly string[]): Promise<void> {
  await ctx[role].run(['mkdir', '-p', ...dirs], { step: 'mkdir', timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal, idempotent: true });
}

/**
 * Starts a CRIU call that outlives the next steps (a lazy dump serving pages, the lazy-pages
 * daemon). Its failure is kept for whoever awaits it, so it never surfaces as an unhandled rejection.
 */
export function startLongRunning(ctx: RunContext, role: Role, step: string, argv: readonly string[], timeoutS: number): Promise<TimedResult> {
  const running = ctx[role].run(argv, { timed: true, step, timeoutMs: ms(timeoutS), signal: ctx.signal }).then(timingOf, async (error: unknown) => {
    throw await withCriuLog(ctx, role, argv, error);
  });
  running.catch(() => undefined);
  return running;
}

// Loops on the node (no SSH round trip per try), so readiness is seen within 20 ms; the extra
// arguments after the condition only put the run's directory, and so its id, into the argv for cleanup.
const WAIT_SCRIPT = 'n=$1; shift; i=0; until "$@"; do i=$((i+1)); [ "$i" -lt "$n" ] || exit 1; sleep 0.02; done';
const POLLS_PER_S = 50;

/** `until <condition>` on the node, every 20 ms, for at most timeoutS. */
export function waitArgv(condition: readonly string[], timeoutS: number): string[] {
  return ['sh', '-c', WAIT_SCRIPT, 'sh', String(Math.ceil(timeoutS * POLLS_PER_S)), ...condition];
}

/** Something listens on the TCP port (a lazy dump serving pages); `marker` names the run for cleanup. */
export const listeningCondition = (port: number, marker: string): string[] => [
  'sh',
  '-c',
  'ss -H -l -t -n "sport = :$1" | grep -q .',
  'sh',
  String(port),
  marker,
];

/** Waits on the node until `condition` holds; fails at once when `watched` (the CRIU call that should make it hold) ends first. */
export async function untilReady(
  ctx: RunContext,
  role: Role,
  what: string,
  condition: readonly string[],
  watched: Promise<TimedResult>,
  timeoutS: number,
): Promise<void> {
  const endedFirst = watched.then((result) => {
    throw new ExternalError(`${what}: ${result.argv.slice(0, 2).join(' ')} exited (${result.exitCode}) before it was ready`, {
      node: result.node,
      logTail: tail(result.stderr, 10),
    });
  });
  endedFirst.catch(() => undefined);
  const waited = ctx[role]
    .run(waitArgv(condition, timeoutS), { check: false, step: what, timeoutMs: ms(timeoutS) + 5_000, signal: ctx.signal })
    .then((result) => {
      if (result.exitCode !== 0) throw new ExternalError(`${what} did not happen within ${timeoutS} s`, { node: result.node, step: what });
    });
  await Promise.race([waited, endedFirst]);
}

/**
 * When the freeze began, on the source's clock. CRIU counts freezing_time (stopping every
 * thread) and frozen_time (from then to the end of the dump, lazy serving included) in µs; the
 * dump's end is node-timed, so the freeze began that long before it. Without statistics the whole
 * dump counts as frozen.
 */
export function freezeStartedAtMs(dump: NodeTiming, stats: CriuStats): number {
  const frozenUs = (stats['freezing_time'] ?? 0) + (stats['frozen_time'] ?? 0);
  return frozenUs > 0 ? Math.max(dump.startedAtMs, endOf(dump) - frozenUs / 1000) : dump.startedAtMs;
}

/** The run's transfer items with the images item pointed at the given directories (a pre-dump chain's final dump has its own). */
export function withImagesAt(items: readonly TransferItem[], from: string, to: string): TransferItem[] {
  return items.map((item) => (item.label === 'images' ? { ...item, from, to } : item));
}

function sessionRssBytes(listing: string): number {
  return listing.split('\n').reduce((sum, line) => sum + (Number(line.trim()) || 0), 0) * 1024;
}

/**
 * Right before the first CRIU action: the image fits where it will be written (about the
 * workload's RSS: the payload leads its own session, so `ps -s` finds its whole tree), and the
 * destination can give the process its PID back (CRIU restores the same PID).
 */
export async function checkBeforeFreeze(ctx: RunContext, pid: number, imagesOn: readonly Role[]): Promise<void> {
  const { source, destination, paths, plan, signal } = ctx;
  const options = { check: false, timeoutMs: ms(plan.timeouts.commandS), signal, step: 'pre-freeze check', idempotent: true };
  const [rss, threads] = await Promise.all([
    source.run(['ps', '-o', 'rss=', '-s', String(pid)], options),
    source.run(['ps', '-L', '-o', 'lwp=', '-s', String(pid)], options),
  ]);
  // ps exits 1 when no process is left in the workload's session.
  if (rss.exitCode === 1)
    throw new ExternalError(
      `the ${ctx.workload.name} workload (pid ${pid}) is gone on ${source.name} before the dump; there is nothing to migrate (its output is in source/payload.out)`,
      { node: source.name, step: 'pre-freeze check' },
    );
  // CRIU restores every process and thread of the tree with its own id, so each must be free on the destination.
  const ids = [
    ...new Set([
      pid,
      ...threads.stdout
        .split(/\s+/)
        .filter((word) => /^\d+$/.test(word))
        .map(Number),
    ]),
  ];
  const taken = await destination.run(['sh', '-c', 'for id; do kill -0 "$id" 2>/dev/null && echo "$id"; done; exit 0', 'sh', ...ids.map(String)], options);
  const takenIds = taken.stdout.split(/\s+/).filter((word) => word !== '');
  const needBytes = sessionRssBytes(rss.stdout);
  const problems: string[] = [];
  for (const role of imagesOn) {
    const dir = role === 'source' ? paths.sourceImageDir : paths.destImageDir;
    const free = await availableBytes(ctx[role], ctx, dir);
    if (free !== undefined && free < needBytes * 1.1)
      problems.push(
        `${ctx[role].name}: ${(free / MIB).toFixed(0)} MiB free under ${dir}, the image needs about ${(needBytes / MIB).toFixed(0)} MiB (the workload's RSS); free space there or point the image directory elsewhere`,
      );
  }
  if (takenIds.length > 0)
    problems.push(
      `${destination.name}: ${takenIds.length === 1 ? 'pid' : 'pids'} ${takenIds.join(', ')} of the workload's tree ${takenIds.length === 1 ? 'is' : 'are'} taken there, and CRIU restores the same ids ("Can't fork for ${takenIds[0]}: File exists"); migrate to a node where they are free`,
    );
  if (problems.length > 0) throw new ExternalError(`cannot migrate pid ${pid}: ${problems.join('; ')}`, { step: 'pre-freeze check' });
}

type HandingTransfer = Pick<TransferSession, 'name' | 'capabilities'>;

/** A row on `node` that fails when the transfer hands the image storage over (ebs); the texts take the transfer's name. */
function handOverRow(node: string, transfer: HandingTransfer, text: { ok: string; refused: string; fix: string }): PreflightRow {
  const ok = !transfer.capabilities.handsStorageOver;
  return row(node, `transfer ${transfer.name}`, ok, ok ? text.ok : text.refused, text.fix);
}

/** Transfers that hand the image storage over once (ebs) cannot ship a pre-dump chain round by round, nor leave a lazy dump writing on the source. */
export function imagesStayOnSourceRow(ctx: Pick<RunContext, 'source'>, transfer: HandingTransfer, strategy: string): PreflightRow {
  const method = transfer.name;
  return handOverRow(ctx.source.name, transfer, {
    ok: `${method} can move images while CRIU still works in the source's image directory`,
    refused: `${strategy} keeps CRIU working in the image directory after a move, but ${method} takes the image storage away from the source at the first move`,
    // pageserver is no way out: pagesLandBeforeHandOverRow refuses it with such a transfer too.
    fix: `choose a --transfer that leaves the images on the source for this strategy, or --strategy full with ${method}`,
  });
}

/**
 * A page server writes the pages into the destination's image directory while the source dumps. A
 * transfer that hands the image storage over (ebs) mounts it there only after the dump, over what
 * the page server wrote: the restore would find the other images and none of the pages.
 */
export function pagesLandBeforeHandOverRow(ctx: Pick<RunContext, 'destination'>, transfer: HandingTransfer): PreflightRow {
  const method = transfer.name;
  const node = ctx.destination.name;
  return handOverRow(node, transfer, {
    ok: `the page server's pages and ${method}'s images meet in one image directory on ${node}`,
    refused: `the page server writes the pages on ${node} before ${method} brings the image storage there, and mounting it hides them from the restore`,
    fix: `choose --transfer rsync, s3 or efs with pageserver, or --strategy full with ${method}`,
  });
}

/** Pages a dump sent to the destination's page server, from its own statistics; `tls` says how they went. */
export function pageStreamOf(stats: CriuStats, tls: boolean): PageStreamMetrics {
  const pages = stats['pages_written'] ?? 0;
  const durationMs = (stats['memwrite_time'] ?? 0) / 1000;
  return { durationMs, pages, bytes: pages * PAGE_BYTES, throughputMBps: throughputMiBps(pages * PAGE_BYTES, durationMs), tls };
}

/** The figures of a final step whose restore ends the migration (no lazy tail). */
export function migrationResult(parts: {
  readonly dump: NodeTiming;
  readonly dumpStats: CriuStats;
  readonly imageBytes: number;
  readonly transfer: TransferMetrics;
  readonly restore: NodeTiming;
  readonly restoreStats: CriuStats;
  /** The first CRIU call on the source (the first pre-dump, or the dump). */
  readonly firstActionAtMs: number;
  /** When the source was last needed, if after the restore ended (the lazy dump's last page). */
  readonly sourceReleasedAtMs?: number;
  /** The dump's own duration when it is not the whole command (a lazy dump's images, without the serving). */
  readonly dumpDurationMs?: number;
  /** When the freeze began, if not from the statistics (a lazy dump's are not usable). */
  readonly freezeAtMs?: number;
}): MigrationResult {
  const freezeAt = parts.freezeAtMs ?? freezeStartedAtMs(parts.dump, parts.dumpStats);
  const running = endOf(parts.restore);
  return {
    dump: {
      durationMs: parts.dumpDurationMs ?? parts.dump.durationMs,
      startedAtMs: parts.dump.startedAtMs,
      criuStats: parts.dumpStats,
      imageBytes: parts.imageBytes,
    },
    transfer: parts.transfer,
    restore: { durationMs: parts.restore.durationMs, endedAtMs: running, criuStats: parts.restoreStats },
    downtimeMs: running - freezeAt,
    migrationMs: Math.max(running, parts.sourceReleasedAtMs ?? running) - parts.firstActionAtMs,
  };
}
