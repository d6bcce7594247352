// Summary statistics over repetitions: mean, a 95 % confidence interval from Student's t
// (repetitions are few, so not the normal approximation), min and max.

export interface Summary {
  readonly n: number;
  readonly mean: number;
  /** Half-width of the 95 % CI of the mean; undefined for fewer than two values. */
  readonly ci95: number | undefined;
  readonly min: number;
  readonly max: number;
}

/** Two-sided 97.5 % quantiles of t for 1..30 degrees of freedom. */
const T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function tQuantile975(degreesOfFreedom: number): number {
  return T_975[degreesOfFreedom - 1] ?? 1.96;
}

export function summarize(values: readonly number[]): Summary | undefined {
  const n = values.length;
  if (n === 0) return undefined;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1) : undefined;
  return {
    n,
    mean,
    ci95: variance === undefined ? undefined : (tQuantile975(n - 1) * Math.sqrt(variance)) / Math.sqrt(n),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}
