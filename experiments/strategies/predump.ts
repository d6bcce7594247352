// predump: rounds of `criu pre-dump --track-mem` while the workload runs on, each into its own
// numbered directory linked to the one before (`--prev-images-dir ../<n-1>`: relative, so the
// chain resolves on the destination too) and shipped as soon as it is written; then a final dump
// linked to the last round moves only what changed since (lazily, with lazy_pages), and the
// restore follows the chain. Rounds stop after predump_iterations, or by the adaptive rule.
import { setTimeout as sleep } from 'node:timers/promises';
import { preDumpArgv } from '../criu/commands.js';
import { softDirtyRow } from '../criu/checks.js';
import { readCriuStats } from '../criu/images.js';
import { AbortedError } from '../../core/errors.js';
import type { PredumpMetrics, PredumpRoundMetrics } from '../metrics.js';
import { ms, type RunContext } from '../run-context.js';
import type { TransferItem, TransferSession } from '../transfers/transfer.js';
import { dumpMoveRestore, finalStepLogs, type FinalImages } from './full.js';
import { lazyDumpMoveRestore, lazyPreflight, lazyStepLogs } from './lazy.js';
import { nextRound, type RoundFigures, type Verdict } from './precopy-policy.js';
import { checkBeforeFreeze, imagesStayOnSourceRow, makeDirs, timedStep } from './steps.js';
import type { Strategy, StrategyLog } from './strategy.js';

type Ctx = Pick<RunContext, 'plan' | 'paths' | 'workload'>;

export const FINAL_DIR = 'final';

const roundDir = (root: string, n: number) => `${root}/${n}`;

/** `criu pre-dump` of round n (1-based), linked to round n-1. */
export const preDumpCommand = (ctx: Ctx, pid: number | string, n: number): string[] =>
  preDumpArgv({
    pid,
    imageDir: roundDir(ctx.paths.sourceImageDir, n),
    logFile: 'pre-dump.log',
    extraFlags: ctx.workload.criuFlags.dump,
    ...(n > 1 ? { parentDir: `../${n - 1}` } : {}),
  });

/** Round n's directory, shipped while the workload keeps running. */
export const roundItem = (ctx: Pick<RunContext, 'paths'>, n: number): TransferItem => ({
  label: `predump-${n}`,
  from: roundDir(ctx.paths.sourceImageDir, n),
  to: roundDir(ctx.paths.destImageDir, n),
});

/** The final dump's directories, linked to the last of `rounds` pre-dumps. */
export const finalImages = (ctx: Pick<RunContext, 'paths'>, rounds: number): FinalImages => ({
  source: `${ctx.paths.sourceImageDir}/${FINAL_DIR}`,
  destination: `${ctx.paths.destImageDir}/${FINAL_DIR}`,
  ...(rounds > 0 ? { parent: `../${rounds}` } : {}),
});

/** Every `parent` link of the chain on the destination: [directory, relative target]. */
export function chainLinks(ctx: Pick<RunContext, 'paths'>, rounds: number): [dir: string, target: string][] {
  const links: [string, string][] = [];
  for (let n = 2; n <= rounds; n++) links.push([roundDir(ctx.paths.destImageDir, n), `../${n - 1}`]);
  if (rounds > 0) links.push([finalImages(ctx, rounds).destination, `../${rounds}`]);
  return links;
}

// rsync keeps CRIU's `parent` symlinks; this restores them after a transfer that does not (object stores).
const RELINK_SCRIPT = 'while [ $# -gt 0 ]; do rm -rf "$1/parent" && ln -s "$2" "$1/parent" || exit 1; shift 2; done';
export const relinkArgv = (links: readonly (readonly [string, string])[]): string[] => ['sh', '-c', RELINK_SCRIPT, 'sh', ...links.flat()];

async function pause(ctx: RunContext, endsAtMs: number): Promise<void> {
  const leftMs = endsAtMs - performance.now();
  if (leftMs > 0)
    await sleep(leftMs, undefined, { signal: ctx.signal }).catch(() => {
      throw new AbortedError();
    });
}

export const syncArgv = (ctx: Pick<RunContext, 'paths'>, n: number): string[] => ['sync', '-f', roundDir(ctx.paths.sourceImageDir, n)];

/** checkpoint.strategy.sync_after_predump: flushes round n's filesystem to the shared storage; returns how long it took, or undefined when not asked for. */
async function syncRound(ctx: RunContext, transfer: TransferSession, n: number): Promise<number | undefined> {
  if (!ctx.plan.checkpoint.strategy.syncAfterPredump || !transfer.capabilities.imagesOnSharedStorage) return undefined;
  const started = performance.now();
  await ctx.source.run(syncArgv(ctx, n), { step: `sync predump-${n}`, timeoutMs: ms(ctx.plan.timeouts.transferS), signal: ctx.signal, idempotent: true });
  return performance.now() - started;
}

/** Pre-dumps until the plan's rule says stop; each round is shipped while the next interval runs. */
async function preCopy(
  ctx: RunContext,
  transfer: TransferSession,
  pid: number,
): Promise<{ rounds: PredumpRoundMetrics[]; figures: RoundFigures[]; verdict: Extract<Verdict, { stop: true }> }> {
  const rounds: PredumpRoundMetrics[] = [];
  const figures: RoundFigures[] = [];
  for (let verdict = nextRound(ctx.plan, figures); ; verdict = nextRound(ctx.plan, figures)) {
    if (verdict.stop) return { rounds, figures, verdict };
    const n = figures.length + 1;
    await makeDirs(ctx, 'source', [roundDir(ctx.paths.sourceImageDir, n)]);
    const { predumpIntervalS, predumpIntervalFrom } = ctx.plan.checkpoint.strategy;
    const roundStartMs = performance.now();
    const pre = await timedStep(ctx, 'source', `predump.${n}`, preDumpCommand(ctx, pid, n), ctx.plan.timeouts.dumpS);
    // 'end': the interval runs from the end of this pre-dump (criu-lab); 'start': from its start (the original framework).
    const nextAtMs = (predumpIntervalFrom === 'start' ? roundStartMs : performance.now()) + ms(predumpIntervalS);
    const criuStats = await readCriuStats(ctx.source, roundDir(ctx.paths.sourceImageDir, n), 'dump');
    const shipped = await transfer.move([roundItem(ctx, n)]);
    const syncMs = await syncRound(ctx, transfer, n);
    const { startedAtMs, durationMs } = pre.nodeTiming;
    figures.push({
      startedAtMs,
      durationMs,
      pagesScanned: criuStats['pages_scanned'] ?? 0,
      pagesWritten: criuStats['pages_written'] ?? 0,
      shipMs: shipped.durationMs,
    });
    rounds.push({
      iteration: n,
      startedAt: new Date(startedAtMs).toISOString(),
      durationMs,
      criuStats,
      shippedBytes: shipped.bytes,
      shipMs: shipped.durationMs,
      ...(syncMs !== undefined ? { syncMs } : {}),
    });
    if (!nextRound(ctx.plan, figures).stop) await pause(ctx, nextAtMs);
  }
}

export const predumpStrategy: Strategy = {
  name: 'predump',

  async preflight(ctx, transfer) {
    const rows = [await softDirtyRow(ctx.source, ctx), imagesStayOnSourceRow(ctx, transfer, 'predump')];
    return ctx.plan.checkpoint.strategy.lazyPages ? [...rows, ...(await lazyPreflight(ctx, transfer)).filter((r) => !r.check.startsWith('transfer '))] : rows;
  },

  async migrate(ctx, transfer, pid) {
    const { strategy } = ctx.plan.checkpoint;
    await checkBeforeFreeze(ctx, pid, ['source', 'destination']);
    const { rounds, figures, verdict } = await preCopy(ctx, transfer, pid);
    const step = {
      images: finalImages(ctx, rounds.length),
      beforeRestore: async () => {
        if (rounds.length > 0)
          await ctx.destination.run(relinkArgv(chainLinks(ctx, rounds.length)), {
            step: 'relink chain',
            timeoutMs: ms(ctx.plan.timeouts.commandS),
            signal: ctx.signal,
          });
      },
      ...(figures[0] ? { firstActionAtMs: figures[0].startedAtMs } : {}),
    };
    const result = strategy.lazyPages ? await lazyDumpMoveRestore(ctx, transfer, pid, step) : await dumpMoveRestore(ctx, transfer, pid, step);
    const totalMs = rounds.reduce((sum, r) => sum + r.durationMs, 0);
    const predump: PredumpMetrics = {
      planned: strategy.predumpIterations,
      iterations: rounds,
      totalMs,
      averageMs: rounds.length > 0 ? totalMs / rounds.length : 0,
      stopReason: verdict.reason,
      stopDetail: verdict.detail,
    };
    return { ...result, predump };
  },

  async logs(ctx) {
    const listing = await ctx.source.run(['ls', '-1', ctx.paths.sourceImageDir], { check: false, timeoutMs: ms(ctx.plan.timeouts.commandS), idempotent: true });
    const rounds = listing.stdout
      .split('\n')
      .filter((entry) => /^\d+$/.test(entry))
      .map(Number)
      .sort((a, b) => a - b);
    const final = finalImages(ctx, rounds.length);
    const preDumps: StrategyLog[] = rounds.map((n) => ({
      on: 'source',
      path: `${roundDir(ctx.paths.sourceImageDir, n)}/pre-dump.log`,
      name: `criu-pre-dump-${n}.log`,
    }));
    return [...preDumps, ...(ctx.plan.checkpoint.strategy.lazyPages ? lazyStepLogs(final) : finalStepLogs(final))];
  },
};
