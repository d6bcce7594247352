// lazy: the source dumps everything but the memory and stays up serving the pages itself; the
// destination restores at once with a `criu lazy-pages` daemon that fetches each page on its
// first touch and the rest in the background. Downtime ends when the process runs again; the
// source is needed until its last page has been served.
import { LAZY_PAGES_SOCKET, lazyPagesArgv } from '../criu/commands.js';
import { pipeSysctlsRow, portFreeRow, uffdRows, type PreflightRow } from '../criu/checks.js';
import { directoryBytes, readCriuStats, readLog } from '../criu/images.js';
import { LAZY_SERVER_STARTED, TASK_SEIZED, lazyTransferredPages, logOffsetMs } from '../criu/log.js';
import type { CriuStats } from '../criu/stats.js';
import type { RunContext } from '../run-context.js';
import type { TransferSession } from '../transfers/transfer.js';
import { finalDumpArgv, finalItems, finalRestoreArgv, finalStepLogs, runImages, type FinalImages, type FinalStep } from './full.js';
import {
  checkBeforeFreeze,
  endOf,
  imagesStayOnSourceRow,
  listeningCondition,
  makeDirs,
  migrationResult,
  startLongRunning,
  timedStep,
  untilReady,
} from './steps.js';
import type { MigrationResult, Strategy, StrategyLog } from './strategy.js';
import { installStreamTls, streamTls } from './stream-tls.js';

type LazyStep = Omit<FinalStep, 'pageServer'>;

/**
 * CRIU's working directory on the destination for the lazy-pages daemon and the restore: the
 * daemon's unix socket is made there (LAZY_PAGES_SOCKET, relative to it), and not every image
 * storage takes a socket (the lab's sshfs efs refuses it: "uffd: server_listen error: Operation
 * not permitted"). The workload's run directory is local on every node and goes with the run.
 */
export const lazyWorkDir = (ctx: Pick<RunContext, 'paths'>): string => `${ctx.paths.workDir}/.criu-lazy`;

const daemonArgv = (ctx: Pick<RunContext, 'plan' | 'paths'>, images: FinalImages) =>
  lazyPagesArgv({
    imageDir: images.destination,
    workDir: lazyWorkDir(ctx),
    logFile: `${images.destination}/lazy-pages.log`,
    address: ctx.plan.nodes.source.ip,
    port: ctx.plan.checkpoint.strategy.pageServerPort,
    tls: streamTls(ctx),
  });
const socketCondition = (ctx: Pick<RunContext, 'paths'>) => ['test', '-S', `${lazyWorkDir(ctx)}/${LAZY_PAGES_SOCKET}`];

/** A lazy dump's statistics only when CRIU kept them (a later CRIU that stops resetting them); the zeros 4.2.1 writes would read as data. */
function usableLazyDumpStats(stats: CriuStats): CriuStats {
  return (stats['pages_scanned'] ?? 0) > 0 ? stats : {};
}

/** dump (serving pages) → move the rest → lazy-pages daemon → restore → wait for the last page. */
export async function lazyDumpMoveRestore(ctx: RunContext, transfer: TransferSession, pid: number, step: LazyStep): Promise<MigrationResult> {
  const { plan, source, destination } = ctx;
  const { images } = step;
  const { timeouts } = plan;
  const port = plan.checkpoint.strategy.pageServerPort;
  await Promise.all([makeDirs(ctx, 'source', [images.source]), makeDirs(ctx, 'destination', [images.destination, lazyWorkDir(ctx)]), installStreamTls(ctx)]);
  // The dump stays up through the move, the restore and the page stream, so it runs beside them.
  const dump = startLongRunning(ctx, 'source', 'dump', finalDumpArgv(ctx, pid, { ...step, tls: streamTls(ctx) }, port), timeouts.dumpS + timeouts.transferS);
  await ctx.progress.track('dump', () =>
    untilReady(ctx, 'source', 'the lazy dump serving pages', listeningCondition(port, images.source), dump, timeouts.dumpS),
  );
  const moved = await transfer.move(finalItems(ctx, images));
  await step.beforeRestore?.();
  const daemon = startLongRunning(ctx, 'destination', 'lazy-pages', daemonArgv(ctx, images), timeouts.transferS + timeouts.restoreS);
  await untilReady(ctx, 'destination', 'the lazy-pages daemon', socketCondition(ctx), daemon, timeouts.commandS);
  const restore = await timedStep(ctx, 'destination', 'restore', finalRestoreArgv(ctx, images, { workDir: lazyWorkDir(ctx) }), timeouts.restoreS);
  const [arrived, served] = await ctx.progress.track('remaining pages', () => Promise.all([daemon, dump]));
  ctx.phases.fromNode('lazy-pages', arrived);
  ctx.phases.fromNode('dump', served);

  const [dumpStats, restoreStats, imageBytes, dumpLog, daemonLog] = await Promise.all([
    readCriuStats(source, images.source, 'dump'),
    readCriuStats(destination, lazyWorkDir(ctx), 'restore'),
    directoryBytes(destination, images.destination),
    readLog(source, `${images.source}/dump.log`),
    readLog(destination, `${images.destination}/lazy-pages.log`),
  ]);
  // CRIU 4.2.1 resets its dump statistics when the lazy page server starts (cr_page_server calls
  // init_stats), so a lazy dump's stats-dump holds zeros and a meaningless frozen_time. The
  // dump's own log dates the freeze and the moment the images were flushed instead.
  const started = served.nodeTiming.startedAtMs;
  const seizedOffsetMs = logOffsetMs(dumpLog, TASK_SEIZED);
  const imagesDumpedOffsetMs = logOffsetMs(dumpLog, LAZY_SERVER_STARTED);
  const freezeAt = seizedOffsetMs === undefined ? started : started + seizedOffsetMs;
  const result = migrationResult({
    dump: served.nodeTiming,
    dumpStats: usableLazyDumpStats(dumpStats),
    imageBytes,
    transfer: moved,
    restore: restore.nodeTiming,
    restoreStats,
    firstActionAtMs: step.firstActionAtMs ?? started,
    sourceReleasedAtMs: endOf(served.nodeTiming),
    freezeAtMs: freezeAt,
    ...(imagesDumpedOffsetMs !== undefined ? { dumpDurationMs: imagesDumpedOffsetMs } : {}),
  });
  const pages = lazyTransferredPages(daemonLog);
  return {
    ...result,
    lazy: {
      imagesDumpedMs: imagesDumpedOffsetMs === undefined ? undefined : started + imagesDumpedOffsetMs - freezeAt,
      restoreReadyMs: result.downtimeMs,
      allPagesArrivedMs: endOf(arrived.nodeTiming) - freezeAt,
      sourceReleasedMs: endOf(served.nodeTiming) - freezeAt,
      pagesTransferred: pages?.copied,
      pagesTotal: pages?.total,
      tls: plan.checkpoint.strategy.tls,
    },
  };
}

/** Userfaultfd on the destination; on the source the pipe sysctls and a free port to serve from. */
export async function lazyPreflight(ctx: RunContext, transfer: TransferSession): Promise<PreflightRow[]> {
  const port = ctx.plan.checkpoint.strategy.pageServerPort;
  const [uffd, pipes, free] = await Promise.all([
    uffdRows(ctx.destination, ctx),
    pipeSysctlsRow(ctx.source, ctx),
    portFreeRow(ctx.source, ctx, port, `the lazy dump serves pages there to ${ctx.destination.name}`),
  ]);
  return [pipes, free, ...uffd, imagesStayOnSourceRow(ctx, transfer, 'lazy pages')];
}

export const lazyStepLogs = (images: FinalImages): StrategyLog[] => [
  ...finalStepLogs(images),
  { on: 'destination', path: `${images.destination}/lazy-pages.log`, name: 'criu-lazy-pages.log' },
];

export const lazyStrategy: Strategy = {
  name: 'lazy',

  preflight: lazyPreflight,

  async migrate(ctx, transfer, pid) {
    await checkBeforeFreeze(ctx, pid, []);
    return lazyDumpMoveRestore(ctx, transfer, pid, { images: runImages(ctx) });
  },

  logs: async (ctx) => lazyStepLogs(runImages(ctx)),
};
