// When pre-dumping stops: after a fixed number of rounds, or (--predump-iterations auto) when
// pre-copy has converged, has stopped converging, or one more round would break the deadline.
// Pure functions of the rounds' recorded figures, so the rule can be tested on recorded runs.
import type { Plan } from '../config/plan.js';
import { PAGE_BYTES } from '../criu/commands.js';
import { throughputMiBps, type PredumpStopReason } from '../metrics.js';

/** What one finished round tells the rule; times are the source's clock. */
export interface RoundFigures {
  readonly startedAtMs: number;
  readonly durationMs: number;
  readonly pagesScanned: number;
  readonly pagesWritten: number;
  /** Shipping the round's directory, which began when the pre-dump ended. */
  readonly shipMs: number;
}

export interface AdaptivePolicy {
  /** Converged once a round writes at most this many pages (P.Haul's threshold). */
  readonly minPages: number;
  /** Not converging once a round writes at least this factor of the round before. */
  readonly growthLimit: number;
  readonly deadlineMs: number;
  /** The pause between the end of one pre-dump and the start of the next (shipping overlaps it). */
  readonly intervalMs: number;
  readonly maxRounds: number;
}

export type Verdict = { readonly stop: false; readonly detail: string } | { readonly stop: true; readonly reason: PredumpStopReason; readonly detail: string };

export const ADAPTIVE_DEFAULTS = { minPages: 64, growthLimit: 1.1, maxRounds: 8 } as const;

export function adaptivePolicy(plan: Plan): AdaptivePolicy {
  const { strategy } = plan.checkpoint;
  return { ...ADAPTIVE_DEFAULTS, deadlineMs: strategy.deadline.seconds * 1000, intervalMs: strategy.predumpIntervalS * 1000 };
}

const s = (valueMs: number) => `${(valueMs / 1000).toFixed(1)} s`;

/**
 * The adaptive rule after at least one round. The prediction: pages are written and shipped at
 * the rate measured so far (pre-dump and shipping together, per page); the process dirties pages at the rate of the last round (pages it
 * wrote over the time since the round before began; after one round, assume no convergence);
 * one more round is followed by a final dump of what it dirtied during that round, and by a
 * restore that reads every page at the measured rate (conservative: it reads local disk).
 */
export function adaptiveVerdict(rounds: readonly RoundFigures[], policy: AdaptivePolicy): Verdict {
  const last = rounds[rounds.length - 1];
  if (!last) return { stop: false, detail: 'no round yet' };
  const previous = rounds[rounds.length - 2];
  const n = rounds.length;
  if (last.pagesWritten <= policy.minPages)
    return { stop: true, reason: 'converged', detail: `round ${n} wrote ${last.pagesWritten} pages, at most ${policy.minPages}` };
  if (previous && last.pagesWritten >= previous.pagesWritten * policy.growthLimit)
    return {
      stop: true,
      reason: 'diverging',
      detail: `round ${n} wrote ${last.pagesWritten} pages, at least ${policy.growthLimit}× the ${previous.pagesWritten} of round ${n - 1}`,
    };

  const workMs = rounds.reduce((sum, r) => sum + r.durationMs + r.shipMs, 0);
  const bytes = rounds.reduce((sum, r) => sum + r.pagesWritten * PAGE_BYTES, 0);
  const pageMs = bytes > 0 ? (workMs * PAGE_BYTES) / bytes : 0;
  const roundMs = (pages: number) => pages * pageMs;
  const dirtyPerMs = previous ? last.pagesWritten / Math.max(1, last.startedAtMs - previous.startedAtMs) : undefined;
  const dirtied = (windowMs: number, otherwise: number) => Math.min(last.pagesScanned, dirtyPerMs === undefined ? otherwise : dirtyPerMs * windowMs);

  const elapsedMs = last.startedAtMs + last.durationMs + last.shipMs - rounds[0]!.startedAtMs;
  const waitMs = Math.max(0, policy.intervalMs - last.shipMs);
  const nextPages = dirtied(last.durationMs + Math.max(policy.intervalMs, last.shipMs), last.pagesWritten);
  const nextMs = roundMs(nextPages);
  const finalPages = dirtied(nextMs, nextPages);
  const restoreMs = last.pagesScanned * pageMs;
  const finishMs = elapsedMs + waitMs + nextMs + roundMs(finalPages) + restoreMs;
  const rates = `${dirtyPerMs === undefined ? 'dirty rate unknown after one round' : `dirtying ${Math.round(dirtyPerMs * 1000)} pages/s`}, pre-copy at ${throughputMiBps(bytes, workMs).toFixed(0)} MiB/s`;
  const plan = `one more round (≈${Math.round(nextPages)} pages) and the final step (≈${Math.round(finalPages)} pages, restore included) would end ≈${s(finishMs)} after the first pre-dump`;
  if (finishMs > policy.deadlineMs) return { stop: true, reason: 'deadline', detail: `${plan}, past the ${s(policy.deadlineMs)} deadline (${rates})` };
  if (n >= policy.maxRounds) return { stop: true, reason: 'max-iterations', detail: `${n} rounds, the most the adaptive rule takes` };
  return { stop: false, detail: `${plan}, within ${s(policy.deadlineMs)} (${rates})` };
}

/** Whether to take another pre-dump, as the plan says: a fixed count, or the adaptive rule. */
export function nextRound(plan: Plan, rounds: readonly RoundFigures[]): Verdict {
  const planned = plan.checkpoint.strategy.predumpIterations;
  if (planned !== 'auto')
    return rounds.length >= planned
      ? { stop: true, reason: 'iterations', detail: `${planned} round${planned === 1 ? '' : 's'}, as configured` }
      : { stop: false, detail: `round ${rounds.length + 1} of ${planned}` };
  return rounds.length === 0 ? { stop: false, detail: 'the first round' } : adaptiveVerdict(rounds, adaptivePolicy(plan));
}
