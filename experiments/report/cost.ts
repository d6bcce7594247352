// What a sweep took next to what its estimate said before it started: the wall time of its
// sessions (start to end, cut-off sessions left out and counted) and the cost its meter recorded
// (elapsed time up × the infra's rate), from sweep.json.
import type { EstimateRecord, SweepState } from '../sweep/state.js';

export interface SweepCostSummary {
  readonly estimate: EstimateRecord | undefined;
  /** Every session that ended, start to end, summed. */
  readonly actualWallMs: number;
  readonly sessionsCounted: number;
  /** Sessions killed before they could record their end (kill -9): their time is not in actualWallMs. */
  readonly sessionsCutOff: number;
  /** elapsed up × rate; undefined when the sweep was not metered. */
  readonly actualUsd: number | undefined;
  readonly upMs: number | undefined;
  readonly ratePerHourUsd: number | undefined;
  readonly budgetUsd: number | undefined;
  readonly stoppedForBudget: boolean;
}

export function sweepCostOf(state: SweepState): SweepCostSummary | undefined {
  const ended = state.sessions.filter((s) => s.endedAt !== undefined);
  if (!state.estimate && !state.cost && ended.length === 0) return undefined;
  return {
    estimate: state.estimate,
    actualWallMs: ended.reduce((sum, s) => sum + (Date.parse(s.endedAt!) - Date.parse(s.startedAt)), 0),
    sessionsCounted: ended.length,
    sessionsCutOff: state.sessions.length - ended.length,
    actualUsd: state.cost?.usd,
    upMs: state.cost?.upMs,
    ratePerHourUsd: state.cost?.ratePerHourUsd,
    budgetUsd: state.cost?.budgetUsd,
    stoppedForBudget: state.cost?.stoppedForBudget ?? false,
  };
}
