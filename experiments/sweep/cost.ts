// The cost side of starting a sweep: its estimate (recorded in sweep.json), the budget held
// against it before anything deploys, and the meter the runner reads before each run.
import { CostMeter, refuseOverBudget } from './budget.js';
import { budgetedUsd, estimateSweep, infraForEstimate, readSweepState, type SweepEstimate } from './estimate.js';
import { loadPriceTable } from '../../infra/aws/prices.js';
import type { SweepSpec } from './spec.js';
import type { EstimateRecord } from './state.js';

/** The estimate of a sweep as it stands (sweep.json's finished runs count), priced on AWS. */
export function estimateOf(spec: SweepSpec): SweepEstimate {
  const state = readSweepState(spec);
  if (spec.infra.backend !== 'aws') return estimateSweep(spec, { state });
  return estimateSweep(spec, { state, prices: loadPriceTable(), infra: infraForEstimate(spec) });
}

export function estimateRecord(e: SweepEstimate, now: Date = new Date()): EstimateRecord {
  const cost = e.planned.costs[0];
  return {
    at: now.toISOString(),
    runs: e.runs,
    pairs: e.planned.pairs,
    wallMs: Math.round(e.planned.wallMs),
    usd: cost?.usd,
    market: cost?.market,
    ratePerHourUsd: cost?.ratePerHourUsd ?? 0,
    model: e.model,
    prices: e.pricing ? `${e.pricing.file} (list prices as of ${e.pricing.asOf})` : undefined,
  };
}

export interface SweepCost {
  readonly estimate: EstimateRecord | undefined;
  readonly meter: CostMeter;
}

/**
 * Before a sweep starts: with a budget, refuses (UsageError, exit 2) a sweep whose spent and
 * estimated remaining cost exceed it; without one, an estimate that cannot be made (an instance
 * type the price table lacks) is a warning, not a reason to stop.
 */
export function prepareSweepCost(spec: SweepSpec, budgetUsd: number | undefined, warn: (line: string) => void): SweepCost {
  const before = readSweepState(spec)?.cost;
  let estimate: SweepEstimate | undefined;
  try {
    estimate = estimateOf(spec);
  } catch (error) {
    if (budgetUsd !== undefined) throw error;
    warn(`warning: no cost estimate (${(error as Error).message}); the sweep runs unmetered`);
  }
  if (budgetUsd !== undefined && estimate) refuseOverBudget(budgetedUsd(estimate), before?.usd ?? 0, budgetUsd, spec.name);
  const ratePerHourUsd = estimate?.planned.costs[0]?.ratePerHourUsd ?? 0;
  return {
    estimate: estimate && estimateRecord(estimate),
    meter: new CostMeter({ ratePerHourUsd, ...(budgetUsd === undefined ? {} : { budgetUsd }), ...(before ? { before } : {}) }),
  };
}
