// full: one `criu dump` on the source (left stopped, so a failed restore can resume it),
// the images moved by the transfer, one `criu restore` on the destination.
import { dumpArgv, restoreArgv } from '../criu/commands.js';
import { directoryBytes, readCriuStats } from '../criu/images.js';
import { ms, type RunContext } from '../run-context.js';
import { migrationItems, type Strategy } from './strategy.js';

type Ctx = Pick<RunContext, 'plan' | 'paths' | 'workload'>;

const dumpCommand = (c: Ctx, pid: number | string) =>
  dumpArgv({ pid, imageDir: c.paths.sourceImageDir, logFile: 'dump.log', leaveStopped: true, extraFlags: c.workload.criuFlags.dump });
const restoreCommand = (c: Ctx) => restoreArgv({ imageDir: c.paths.destImageDir, logFile: 'restore.log', extraFlags: c.workload.criuFlags.restore });

export const fullStrategy: Strategy = {
  name: 'full',

  preflight: async () => [],

  async migrate(ctx, transfer, pid) {
    const { source, destination, paths, plan, signal } = ctx;
    await source.run(['mkdir', '-p', paths.sourceImageDir], { step: 'dump', timeoutMs: ms(plan.timeouts.commandS), signal });
    const dump = await ctx.progress.track('dump', () => source.run(dumpCommand(ctx, pid), { timed: true, step: 'dump', timeoutMs: ms(plan.timeouts.dumpS), signal }));
    ctx.phases.fromNode('dump', dump);
    const moved = await transfer.move(ctx, migrationItems(ctx));
    const restore = await ctx.progress.track('restore', () => destination.run(restoreCommand(ctx), { timed: true, step: 'restore', timeoutMs: ms(plan.timeouts.restoreS), signal }));
    ctx.phases.fromNode('restore', restore);
    const dumpTiming = dump.nodeTiming!;
    const restoreTiming = restore.nodeTiming!;
    // Statistics and sizes are read after the restore, so reading them adds nothing to the downtime.
    return {
      dump: { durationMs: dumpTiming.durationMs, startedAtMs: dumpTiming.startedAtMs, criuStats: await readCriuStats(source, paths.sourceImageDir, 'dump'), imageBytes: await directoryBytes(source, paths.sourceImageDir) },
      transfer: moved,
      restore: { durationMs: restoreTiming.durationMs, endedAtMs: restoreTiming.startedAtMs + restoreTiming.durationMs, criuStats: await readCriuStats(destination, paths.destImageDir, 'restore') },
      downtimeMs: restoreTiming.startedAtMs + restoreTiming.durationMs - dumpTiming.startedAtMs,
      migrationMs: restoreTiming.startedAtMs + restoreTiming.durationMs - dumpTiming.startedAtMs,
    };
  },

  describe: (ctx, transfer) => [
    { on: 'source', argv: ['mkdir', '-p', ctx.paths.sourceImageDir] },
    { on: 'source', argv: dumpCommand(ctx, '<pid>') },
    ...transfer.describe(ctx, migrationItems(ctx)).move,
    { on: 'destination', argv: restoreCommand(ctx) },
  ],
};
