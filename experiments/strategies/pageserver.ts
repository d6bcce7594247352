// pageserver: a `criu page-server` on the destination receives the pages while the source dumps
// them (no page touches the source's disk); the remaining image files follow through the
// transfer, then restore. The page stream's time is CRIU's own memwrite_time.
import { pageServerArgv } from '../criu/commands.js';
import { portFreeRow } from '../criu/checks.js';
import { ms, type RunContext } from '../run-context.js';
import { dumpMoveRestore, finalStepLogs, runImages, type FinalStep } from './full.js';
import { checkBeforeFreeze, makeDirs, pagesLandBeforeHandOverRow, pageStreamOf, withCriuLog } from './steps.js';
import { installStreamTls, streamTls } from './stream-tls.js';
import type { Strategy } from './strategy.js';

const serverArgv = (ctx: Pick<RunContext, 'plan' | 'paths'>) =>
  pageServerArgv({ imageDir: ctx.paths.destImageDir, logFile: 'page-server.log', port: ctx.plan.checkpoint.strategy.pageServerPort, tls: streamTls(ctx) });

const streamedStep = (ctx: Pick<RunContext, 'plan' | 'paths'>): FinalStep => ({
  images: runImages(ctx),
  pageServer: { address: ctx.plan.nodes.destination.ip, port: ctx.plan.checkpoint.strategy.pageServerPort },
  tls: streamTls(ctx),
});

export const pageserverStrategy: Strategy = {
  name: 'pageserver',

  preflight: async (ctx, transfer) => [
    await portFreeRow(ctx.destination, ctx, ctx.plan.checkpoint.strategy.pageServerPort, `the page server receives ${ctx.source.name}'s pages there`),
    pagesLandBeforeHandOverRow(ctx, transfer),
  ],

  async migrate(ctx, transfer, pid) {
    await checkBeforeFreeze(ctx, pid, ['destination']);
    await makeDirs(ctx, 'destination', [ctx.paths.destImageDir]);
    await installStreamTls(ctx);
    // --daemon returns once the server listens; it exits by itself when the dump disconnects.
    const argv = serverArgv(ctx);
    await ctx.progress.track('page server', () =>
      ctx.destination.run(argv, { step: 'page server', timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal }).catch(async (error: unknown) => {
        throw await withCriuLog(ctx, 'destination', argv, error);
      }),
    );
    const result = await dumpMoveRestore(ctx, transfer, pid, streamedStep(ctx));
    return { ...result, pageStream: pageStreamOf(result.dump.criuStats, ctx.plan.checkpoint.strategy.tls) };
  },

  logs: async (ctx) => [
    ...finalStepLogs(runImages(ctx)),
    { on: 'destination', path: `${ctx.paths.destImageDir}/page-server.log`, name: 'criu-page-server.log' },
  ],
};
