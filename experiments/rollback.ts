// When a restore or verify fails after the freeze: the destination's copy (and any CRIU helper
// there) is stopped first, so two copies never run; the source's CRIU (a lazy dump still serving
// pages) is ended; the frozen process gets SIGCONT; and it must be seen going on (its progress
// counter moves past the frozen value) before the run records `rollback: ok`. The destination's
// directories go with the run's cleanup, after its logs have been collected.
import { setTimeout as sleep } from 'node:timers/promises';
import { killRunProcesses } from './cleanup.js';
import { AbortedError, ExternalError } from '../core/errors.js';
import type { RollbackMetrics } from './metrics.js';
import { ms, type RunContext } from './run-context.js';
import { readStatus } from './workload-control.js';

const POLL_MS = 200;

// The workload's argv carries the run id too, so only processes named criu are matched.
const STOP_CRIU_SCRIPT = 'for p in $(pgrep -x criu); do if grep -qF -- "$1" "/proc/$p/cmdline"; then kill -KILL "$p"; fi; done';
export const stopCriuArgv = (runId: string): string[] => ['sh', '-c', STOP_CRIU_SCRIPT, 'sh', runId];

async function resume(ctx: RunContext, pid: number, started: number): Promise<RollbackMetrics> {
  const { source, destination, plan, signal } = ctx;
  // Stopping, SIGCONT and probes may all be repeated: a dropped connection retries them.
  const options = { timeoutMs: ms(plan.timeouts.commandS), signal, step: 'rollback', idempotent: true };
  // Read while the process is still stopped: its last status is the frozen state.
  const atFreeze = await readStatus(source, ctx);
  await killRunProcesses(destination, ctx.runId);
  await source.run(stopCriuArgv(ctx.runId), options);
  const resumed = await source.run(['kill', '-CONT', String(pid)], { ...options, check: false });
  if (resumed.exitCode !== 0)
    throw new ExternalError(`pid ${pid} is gone on ${source.name}; there is nothing to resume`, { node: source.name, step: 'rollback' });
  const deadline = performance.now() + ms(plan.timeouts.verifyS);
  let baseline = atFreeze?.counter;
  for (;;) {
    const status = await readStatus(source, ctx);
    if (status && baseline !== undefined && status.counter > baseline) {
      return {
        status: 'ok',
        detail: `pid ${pid} resumed on ${source.name}: counter ${baseline} at freeze, ${status.counter} after SIGCONT; ${destination.name}'s copy stopped`,
        durationMs: performance.now() - started,
        counterAtFreeze: baseline,
        counterAfterResume: status.counter,
      };
    }
    baseline ??= status?.counter;
    if ((await source.run(['kill', '-0', String(pid)], { ...options, check: false })).exitCode !== 0)
      throw new ExternalError(`pid ${pid} exited on ${source.name} after SIGCONT`, { node: source.name, step: 'rollback' });
    if (performance.now() > deadline)
      throw new ExternalError(`pid ${pid} made no progress on ${source.name} within ${plan.timeouts.verifyS} s of SIGCONT`, {
        node: source.name,
        step: 'rollback',
      });
    await sleep(POLL_MS, undefined, { signal }).catch(() => {
      throw new AbortedError();
    });
  }
}

/** Resumes the source after a failed migration; never throws: a failed rollback is recorded with its reason. */
export async function rollBack(ctx: RunContext, pid: number): Promise<RollbackMetrics> {
  const started = performance.now();
  try {
    return await ctx.progress.track('rollback', () => resume(ctx, pid, started));
  } catch (error) {
    return { status: 'failed', detail: error instanceof Error ? error.message : String(error), durationMs: performance.now() - started };
  }
}
