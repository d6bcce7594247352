// The adaptive pre-copy rule (--predump-iterations auto) on recorded round figures: it stops when
// pre-copy converges, when it diverges, and when one more round would break the deadline.
import { describe, expect, it } from '@jest/globals';
import { ADAPTIVE_DEFAULTS, adaptiveVerdict, nextRound, type AdaptivePolicy, type RoundFigures } from '../../experiments/strategies/precopy-policy.js';
import { flag, planWith } from './strategies-fakes.js';

const GIB_PAGES = 262_144;
const policy = (deadlineS: number, intervalS = 2): AdaptivePolicy => ({ ...ADAPTIVE_DEFAULTS, deadlineMs: deadlineS * 1000, intervalMs: intervalS * 1000 });

/** Rounds as the strategy records them: each starts when the one before ended and the interval (or its shipping, if longer) passed. */
function recorded(rounds: readonly Omit<RoundFigures, 'startedAtMs'>[], intervalS = 2): RoundFigures[] {
  const out: RoundFigures[] = [];
  let at = 0;
  for (const round of rounds) {
    out.push({ ...round, startedAtMs: at });
    at += round.durationMs + Math.max(intervalS * 1000, round.shipMs);
  }
  return out;
}

/** Feeds the rounds one by one, as the strategy would, and returns the verdict that stopped it (and after how many rounds). */
function runRule(rounds: readonly RoundFigures[], rule: AdaptivePolicy) {
  for (let n = 1; n <= rounds.length; n++) {
    const verdict = adaptiveVerdict(rounds.slice(0, n), rule);
    if (verdict.stop) return { after: n, verdict };
  }
  return { after: rounds.length, verdict: adaptiveVerdict(rounds, rule) };
}

describe('adaptive pre-copy', () => {
  it('stops when a 1 GiB process with a small working set converges (a round writes at most 64 pages)', () => {
    const rounds = recorded([
      { durationMs: 3_800, pagesScanned: GIB_PAGES, pagesWritten: GIB_PAGES, shipMs: 5_100 },
      { durationMs: 600, pagesScanned: GIB_PAGES, pagesWritten: 9_000, shipMs: 300 },
      { durationMs: 200, pagesScanned: GIB_PAGES, pagesWritten: 40, shipMs: 60 },
      { durationMs: 200, pagesScanned: GIB_PAGES, pagesWritten: 30, shipMs: 60 },
    ]);
    const { after, verdict } = runRule(rounds, policy(120));
    expect(after).toBe(3);
    expect(verdict).toEqual({ stop: true, reason: 'converged', detail: 'round 3 wrote 40 pages, at most 64' });
  });

  it('stops when a process dirties memory faster than pre-copy moves it (a round writes ≥ 10 % more than the one before)', () => {
    const rounds = recorded([
      { durationMs: 3_800, pagesScanned: GIB_PAGES, pagesWritten: GIB_PAGES, shipMs: 5_100 },
      { durationMs: 1_500, pagesScanned: GIB_PAGES, pagesWritten: 90_000, shipMs: 1_800 },
      { durationMs: 1_700, pagesScanned: GIB_PAGES, pagesWritten: 101_000, shipMs: 2_000 },
    ]);
    const { after, verdict } = runRule(rounds, policy(120));
    expect(after).toBe(3);
    expect(verdict).toMatchObject({ stop: true, reason: 'diverging', detail: 'round 3 wrote 101000 pages, at least 1.1× the 90000 of round 2' });
  });

  it('stops when the measured dirty rate and throughput predict that one more round would break the deadline', () => {
    // 2 GiB; by round 3 the link has slowed (9 s to ship) and the dirty rate has risen, so the next round would be nearly all of memory.
    const rounds = recorded([
      { durationMs: 6_000, pagesScanned: 2 * GIB_PAGES, pagesWritten: 2 * GIB_PAGES, shipMs: 8_000 },
      { durationMs: 3_000, pagesScanned: 2 * GIB_PAGES, pagesWritten: 200_000, shipMs: 2_500 },
      { durationMs: 2_500, pagesScanned: 2 * GIB_PAGES, pagesWritten: 210_000, shipMs: 9_000 },
      { durationMs: 2_500, pagesScanned: 2 * GIB_PAGES, pagesWritten: 200_000, shipMs: 2_000 },
    ]);
    const { after, verdict } = runRule(rounds, policy(60));
    expect(after).toBe(3);
    expect(verdict.stop && verdict.reason).toBe('deadline');
    expect(verdict.detail).toMatch(
      /would end ≈80\.\d s after the first pre-dump, past the 60\.0 s deadline \(dirtying 38182 pages\/s, pre-copy at \d+ MiB\/s\)$/,
    );
    // The same rounds against a 120 s notice: another round still fits.
    expect(adaptiveVerdict(rounds.slice(0, 3), policy(120))).toMatchObject({ stop: false });
  });

  it('after one round, with no dirty rate yet, assumes no convergence: a process too big for the deadline stops at once', () => {
    const rounds = recorded([{ durationMs: 6_000, pagesScanned: 2 * GIB_PAGES, pagesWritten: 2 * GIB_PAGES, shipMs: 8_000 }]);
    expect(adaptiveVerdict(rounds, policy(30))).toMatchObject({
      stop: true,
      reason: 'deadline',
      detail: expect.stringContaining('dirty rate unknown after one round'),
    });
    expect(adaptiveVerdict(rounds, policy(120))).toMatchObject({ stop: false });
  });

  it('takes at most 8 rounds', () => {
    const rounds = recorded(Array.from({ length: 9 }, (_, i) => ({ durationMs: 300, pagesScanned: GIB_PAGES, pagesWritten: 5_000 - i * 100, shipMs: 100 })));
    expect(runRule(rounds, policy(120))).toMatchObject({ after: 8, verdict: { stop: true, reason: 'max-iterations' } });
  });
});

describe('the number of pre-dump rounds', () => {
  const round: RoundFigures = { startedAtMs: 0, durationMs: 100, pagesScanned: 10, pagesWritten: 10, shipMs: 10 };

  it("is the configured count by default (the seed's 8)", () => {
    const plan = planWith([flag('checkpoint.strategy.mode', 'predump')]);
    expect(nextRound(plan, Array(7).fill(round))).toMatchObject({ stop: false });
    expect(nextRound(plan, Array(8).fill(round))).toEqual({ stop: true, reason: 'iterations', detail: '8 rounds, as configured' });
  });

  it("with auto always takes a first round, then asks the adaptive rule with the plan's deadline", () => {
    const plan = planWith([
      flag('checkpoint.strategy.mode', 'predump'),
      flag('checkpoint.strategy.predump_iterations', 'auto'),
      flag('checkpoint.strategy.deadline', 'gcp'),
    ]);
    expect(nextRound(plan, [])).toEqual({ stop: false, detail: 'the first round' });
    expect(nextRound(plan, [round])).toMatchObject({ stop: true, reason: 'converged' });
    expect(plan.checkpoint.strategy.deadline).toEqual({ name: 'gcp', seconds: 30 });
  });
});
