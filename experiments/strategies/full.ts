// full: one `criu dump` on the source (left stopped, so a failed restore can resume it),
// the images moved by the transfer, one `criu restore` on the destination. The final step of
// predump is the same dump → move → restore, into a directory of its own.
import { dumpArgv, restoreArgv, type DumpOptions } from '../criu/commands.js';
import { directoryBytes, readCriuStats } from '../criu/images.js';
import type { RunContext } from '../run-context.js';
import type { TransferSession } from '../transfers/transfer.js';
import { checkBeforeFreeze, makeDirs, migrationResult, timedStep, withImagesAt } from './steps.js';
import { migrationItems, type MigrationResult, type Strategy, type StrategyLog } from './strategy.js';

type Ctx = Pick<RunContext, 'plan' | 'paths' | 'workload'>;

/** Where the final dump writes and the restore reads. */
export interface FinalImages {
  readonly source: string;
  readonly destination: string;
  /** The last pre-dump, relative to `source` (`../3`); none without pre-dumps. */
  readonly parent?: string;
}

export interface FinalStep {
  readonly images: FinalImages;
  readonly pageServer?: DumpOptions['pageServer'];
  /** The page stream's TLS files (pageServer, or a lazy dump's serving). */
  readonly tls?: DumpOptions['tls'];
  /** On the destination after the move and before the restore (a pre-dump chain relinks its parents). */
  readonly beforeRestore?: () => Promise<void>;
  /** The first CRIU action of the migration when it came before this dump (the first pre-dump). */
  readonly firstActionAtMs?: number;
}

/** The run's own image directories: full, pageserver and lazy dump straight into them. */
export const runImages = (c: Pick<RunContext, 'paths'>): FinalImages => ({ source: c.paths.sourceImageDir, destination: c.paths.destImageDir });

export const finalDumpArgv = (c: Ctx, pid: number | string, step: Pick<FinalStep, 'images' | 'pageServer' | 'tls'>, lazyPagesPort?: number): string[] =>
  dumpArgv({
    pid,
    imageDir: step.images.source,
    logFile: 'dump.log',
    leaveStopped: true,
    extraFlags: c.workload.criuFlags.dump,
    ...(step.images.parent !== undefined ? { parentDir: step.images.parent } : {}),
    ...(step.pageServer ? { pageServer: step.pageServer } : {}),
    ...(lazyPagesPort !== undefined ? { lazyPagesPort } : {}),
    ...(step.tls ? { tls: step.tls } : {}),
  });

/** `workDir`: CRIU's working directory elsewhere than the images (lazy's socket); the log stays with the images. */
export const finalRestoreArgv = (c: Ctx, images: FinalImages, lazy?: { readonly workDir: string }): string[] =>
  restoreArgv({
    imageDir: images.destination,
    ...(lazy ? { workDir: lazy.workDir, logFile: `${images.destination}/restore.log`, lazyPages: true } : { logFile: 'restore.log' }),
    extraFlags: c.workload.criuFlags.restore,
  });

export const finalItems = (c: Pick<RunContext, 'paths'>, images: FinalImages) => withImagesAt(migrationItems(c), images.source, images.destination);

/**
 * dump → move → restore. Statistics and sizes are read afterwards on the destination, where the
 * move put the whole image (ebs takes it away from the source), so reading them adds nothing to the downtime.
 */
export async function dumpMoveRestore(ctx: RunContext, transfer: TransferSession, pid: number, step: FinalStep): Promise<MigrationResult> {
  const { images } = step;
  await makeDirs(ctx, 'source', [images.source]);
  const dump = await timedStep(ctx, 'source', 'dump', finalDumpArgv(ctx, pid, step), ctx.plan.timeouts.dumpS);
  const moved = await transfer.move(finalItems(ctx, images));
  await step.beforeRestore?.();
  const restore = await timedStep(ctx, 'destination', 'restore', finalRestoreArgv(ctx, images), ctx.plan.timeouts.restoreS);
  const [dumpStats, restoreStats, imageBytes] = await Promise.all([
    readCriuStats(ctx.destination, images.destination, 'dump'),
    readCriuStats(ctx.destination, images.destination, 'restore'),
    directoryBytes(ctx.destination, images.destination),
  ]);
  return migrationResult({
    dump: dump.nodeTiming,
    dumpStats,
    imageBytes,
    transfer: moved,
    restore: restore.nodeTiming,
    restoreStats,
    firstActionAtMs: step.firstActionAtMs ?? dump.nodeTiming.startedAtMs,
  });
}

/** The logs of a final step: the dump's on the source, the restore's on the destination. */
export function finalStepLogs(images: FinalImages): StrategyLog[] {
  return [
    { on: 'source', path: `${images.source}/dump.log`, name: 'criu-dump.log' },
    { on: 'destination', path: `${images.destination}/restore.log`, name: 'criu-restore.log' },
  ];
}

export const fullStrategy: Strategy = {
  name: 'full',

  preflight: async () => [],

  async migrate(ctx, transfer, pid) {
    await checkBeforeFreeze(ctx, pid, ['source', 'destination']);
    return dumpMoveRestore(ctx, transfer, pid, { images: runImages(ctx) });
  },

  logs: async (ctx) => finalStepLogs(runImages(ctx)),
};
