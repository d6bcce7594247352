// Timed sub-steps of a transfer: each runs as one command timed on the node that does it, and
// a transfer's duration spans its first step's start to its last step's end.
import { throughputMiBps, type TransferMetrics } from '../metrics.js';
import type { CommandResult, RemoteNode } from '../../core/node.js';
import type { RunContext } from '../run-context.js';
import { ms } from '../units.js';

export interface TimedStep {
  readonly name: string;
  /** Epoch ms on the clock of the node (or the controller, for AWS calls) that measured it. */
  readonly startedAtMs: number;
  readonly durationMs: number;
  readonly bytes?: number;
}

/** Runs one sub-step on a node, timed there, recorded as a phase `transfer.<name>`, with live progress. */
export async function nodeStep(
  ctx: RunContext,
  node: RemoteNode,
  name: string,
  argv: readonly string[],
  probeBytes?: () => Promise<number>,
): Promise<{ step: TimedStep; result: CommandResult }> {
  const result = await ctx.progress.track(
    `transfer ${name}`,
    () => node.run(argv, { timed: true, step: `transfer ${name}`, timeoutMs: ms(ctx.plan.timeouts.transferS), signal: ctx.signal }),
    probeBytes,
  );
  ctx.phases.fromNode(`transfer.${name}`, result);
  const timing = result.nodeTiming!;
  return { step: { name, startedAtMs: timing.startedAtMs, durationMs: timing.durationMs }, result };
}

/** Runs a step timed by the controller (an AWS API call and its waiter), recorded as a phase. */
export async function controllerStep<T>(ctx: RunContext, name: string, work: () => Promise<T>): Promise<{ step: TimedStep; value: T }> {
  const startedAtMs = Date.now();
  const value = await ctx.progress.track(`transfer ${name}`, work);
  const durationMs = Date.now() - startedAtMs;
  ctx.phases.fromController(`transfer.${name}`, startedAtMs, durationMs);
  return { step: { name, startedAtMs, durationMs }, value };
}

/** The transfer block of metrics.json: bytes moved, the span of all steps, and each step. */
export function transferMetrics(method: string, bytes: number, steps: readonly TimedStep[]): TransferMetrics {
  const start = Math.min(...steps.map((s) => s.startedAtMs));
  const end = Math.max(...steps.map((s) => s.startedAtMs + s.durationMs));
  const durationMs = steps.length > 0 ? end - start : 0;
  return {
    method,
    bytes,
    durationMs,
    throughputMBps: throughputMiBps(bytes, durationMs),
    steps: steps.map(({ name, durationMs: d, bytes: b }) => ({ name, durationMs: d, ...(b === undefined ? {} : { bytes: b }) })),
  };
}

/** The first integer of each line of a command's stdout, summed (`du -sb` of several paths). */
export function sumOfLeadingNumbers(stdout: string): number {
  return stdout
    .split('\n')
    .map((line) => Number(/^\d+/.exec(line.trim())?.[0] ?? 0))
    .reduce((a, b) => a + b, 0);
}
