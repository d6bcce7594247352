// Deadline curves: the largest size that still meets a deadline, found by bisection over
// runs. Sizes are probed on a grid (low + k × resolution) so repeated searches, for another
// deadline or after a resume, hit the same runs again.

export interface ProbeResult {
  readonly met: boolean;
  /** The slowest repetition's migration time, for the record. */
  readonly worstMigrationMs: number | undefined;
}

export interface BisectionResult {
  readonly maxSize: number | undefined;
  readonly bound: 'within' | 'above-high' | 'below-low';
  readonly probes: readonly ({ readonly size: number } & ProbeResult)[];
}

export interface SizeRange {
  readonly low: number;
  readonly high: number;
  readonly resolution: number;
}

/** The grid point nearest the middle of (lo, hi), strictly between them; undefined when there is none. */
export function midpoint(range: SizeRange, lo: number, hi: number): number | undefined {
  const steps = Math.round(((lo + hi) / 2 - range.low) / range.resolution);
  let mid = Math.min(range.high, range.low + steps * range.resolution);
  if (mid <= lo) mid = lo + range.resolution;
  return mid < hi ? mid : undefined;
}

/**
 * Assumes a larger size never migrates faster (monotonic), so one failing size bounds the
 * answer from above. `probe` runs the repetitions of one size and says whether all met it.
 */
export async function bisectLargestMeeting(range: SizeRange, probe: (size: number) => Promise<ProbeResult>): Promise<BisectionResult> {
  const probes: ({ size: number } & ProbeResult)[] = [];
  const at = async (size: number) => {
    const result = await probe(size);
    probes.push({ size, ...result });
    return result.met;
  };
  if (!(await at(range.low))) return { maxSize: undefined, bound: 'below-low', probes };
  if (await at(range.high)) return { maxSize: range.high, bound: 'above-high', probes };
  let lo = range.low;
  let hi = range.high;
  for (let mid = midpoint(range, lo, hi); mid !== undefined; mid = midpoint(range, lo, hi)) {
    if (await at(mid)) lo = mid;
    else hi = mid;
  }
  return { maxSize: lo, bound: 'within', probes };
}

/** Most probes one search can take: both ends, then one per halving of the grid. */
export function maxProbes(range: SizeRange): number {
  const cells = Math.max(1, Math.ceil((range.high - range.low) / range.resolution));
  return 2 + Math.ceil(Math.log2(cells));
}
