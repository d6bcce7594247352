// What a sweep has cost so far and whether it may go on: the time its infra has been up times
// the infra's hourly rate, summed over sessions in sweep.json (stack-hours: lanes up at once each count). `--budget` is the whole sweep's:
// a sweep whose spent + estimated remainder exceeds it is refused before anything deploys, and
// one whose running cost reaches it launches no further run and stays resumable.
import { AbortedError, UsageError } from '../../core/errors.js';

/** sweep.json's `cost`: what the sweep's infra has cost in all its sessions. */
export interface CostRecord {
  /** The rate of the infra while up (the last session's), USD per hour. */
  readonly ratePerHourUsd: number;
  /** Time the infra was up, every session together; stacks up at once (lanes) each count, so stack-hours × 3.6e6. */
  readonly upMs: number;
  readonly usd: number;
  readonly budgetUsd?: number;
  /** Set when the last session stopped launching runs because the budget was reached. */
  readonly stoppedForBudget?: boolean;
}

const dollars = (usd: number) => `$${usd.toFixed(2)}`;

/** `--budget <USD>`: a positive amount of dollars. */
export function parseBudget(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const usd = Number(text.replace(/^\$/, ''));
  if (!Number.isFinite(usd) || usd <= 0)
    throw new UsageError('--budget takes a positive number of US dollars', [`--budget: got ${JSON.stringify(text)}; write it as dollars, e.g. --budget 25`]);
  return usd;
}

/** Refuses, before anything starts, a sweep whose spent + estimated remaining cost exceeds the budget (exit 2). */
export function refuseOverBudget(estimatedUsd: number, spentUsd: number, budgetUsd: number, sweep: string): void {
  if (spentUsd + estimatedUsd <= budgetUsd) return;
  const spent = spentUsd > 0 ? ` + ${dollars(spentUsd)} already spent by earlier sessions` : '';
  throw new UsageError(`sweep ${sweep}: the estimate ${dollars(estimatedUsd)}${spent} exceeds --budget ${dollars(budgetUsd)}; nothing was started`, [
    `--budget ${budgetUsd}: below the estimate ${dollars(estimatedUsd + spentUsd)} (criu-lab sweep --estimate shows how it is made); fix: raise --budget, or shrink the sweep (fewer values, repetitions, fresh: never, parallel pairs)`,
  ]);
}

/** The runner stops before the next run: the budget is spent. Like an interrupt, the run is left pending. */
export class BudgetReachedError extends AbortedError {
  constructor(
    readonly spentUsd: number,
    readonly budgetUsd: number,
  ) {
    super(`the running cost ${dollars(spentUsd)} reached --budget ${dollars(budgetUsd)}; no further run was launched`);
  }
}

export interface CostMeterOptions {
  /** The rate of one stack while up, USD per hour (0 on the lab); with lanes, one lane's stack. */
  readonly ratePerHourUsd: number;
  readonly budgetUsd?: number;
  /** What earlier sessions recorded. @default nothing spent */
  readonly before?: CostRecord;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Elapsed × rate of what is up: told when each stack comes up and goes down, read before each run. */
export class CostMeter {
  /** Stacks up now (lanes bring up several), and since when that count holds. */
  private stacksUp = 0;
  private countSinceMs = 0;
  private upBeforeMs: number;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: CostMeterOptions) {
    this.now = options.now ?? Date.now;
    this.upBeforeMs = options.before?.upMs ?? 0;
  }

  private readonly spentBeforeUsd = () => this.options.before?.usd ?? 0;

  /** Books the time at the current count of stacks up, from when it last changed. */
  private settleCount(): void {
    const now = this.now();
    this.upBeforeMs += this.stacksUp * (now - this.countSinceMs);
    this.countSinceMs = now;
  }

  /** One more stack is coming up; paired with one infraDown. */
  infraUp(): void {
    this.settleCount();
    this.stacksUp += 1;
  }

  infraDown(): void {
    if (this.stacksUp === 0) return;
    this.settleCount();
    this.stacksUp -= 1;
  }

  /** Stack time up so far this session and before. */
  get upMs(): number {
    return this.upBeforeMs + this.stacksUp * (this.now() - this.countSinceMs);
  }

  /** Earlier sessions at their rate, this one at the current rate. */
  get spentUsd(): number {
    const thisSessionMs = this.upMs - (this.options.before?.upMs ?? 0);
    return this.spentBeforeUsd() + (thisSessionMs / 3_600_000) * this.options.ratePerHourUsd;
  }

  /** Throws BudgetReachedError when the running cost has reached the budget; called before a run is launched. */
  checkBeforeRun(): void {
    const budget = this.options.budgetUsd;
    if (budget === undefined || this.spentUsd < budget) return;
    this.stopped = true;
    throw new BudgetReachedError(this.spentUsd, budget);
  }

  record(): CostRecord {
    return {
      ratePerHourUsd: this.options.ratePerHourUsd,
      upMs: Math.round(this.upMs),
      usd: this.spentUsd,
      ...(this.options.budgetUsd === undefined ? {} : { budgetUsd: this.options.budgetUsd }),
      ...(this.stopped ? { stoppedForBudget: true } : {}),
    };
  }
}
