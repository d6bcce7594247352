// Where a sweep stands: a header per run (run i of n, the cell, elapsed, estimated remaining),
// the run's phases through the ordinary progress, and progress.json in the sweep dir for
// whoever looks from another terminal.
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createProgress, type Progress } from '../progress.js';

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Remaining time from the mean of the runs finished so far; undefined before the first. */
export function estimateRemainingMs(finishedDurationsMs: readonly number[], remainingRuns: number): number | undefined {
  if (finishedDurationsMs.length === 0) return undefined;
  const mean = finishedDurationsMs.reduce((a, b) => a + b, 0) / finishedDurationsMs.length;
  return mean * remainingRuns;
}

export interface RunPosition {
  /** 1-based position among the runs this sweep has in all (finished ones included). */
  readonly index: number;
  readonly total: number;
  /** `total` is an upper bound (a bisection stops early). */
  readonly totalIsBound?: boolean;
  readonly key: string;
  readonly label: string;
  readonly repetition: number;
  readonly repetitions: number;
}

export interface SweepProgress {
  /** The progress to hand the run's pipeline: phases go through it and into progress.json. */
  startRun(position: RunPosition, finishedDurationsMs: readonly number[], remainingRuns: number): Progress;
  note(message: string): void;
  /** A step of the sweep itself (infra, raw link), outside any run. */
  track<T>(label: string, work: () => Promise<T>): Promise<T>;
  /** The sweep stopped: progress.json says how. */
  finish(status: 'done' | 'interrupted', counts: Readonly<Record<string, number>>): void;
}

export function createSweepProgress(dir: string, stream: NodeJS.WriteStream = process.stderr, quiet = false): SweepProgress {
  const started = Date.now();
  const inner = createProgress(stream, quiet);
  // Written beside and renamed: a reader in another terminal never sees half a file.
  const write = (state: Record<string, unknown>) => {
    const path = join(dir, 'progress.json');
    writeFileSync(`${path}.tmp`, `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`);
    renameSync(`${path}.tmp`, path);
  };
  return {
    note: (message) => inner.note(message),
    track: (label, work) => inner.track(label, work),
    finish: (status, counts) => write({ phase: status, ...counts, elapsedS: Math.round((Date.now() - started) / 1000) }),
    startRun(position, finishedDurationsMs, remainingRuns) {
      const etaMs = estimateRemainingMs(finishedDurationsMs, remainingRuns);
      const of = `${position.index}/${position.totalIsBound ? '≤' : ''}${position.total}`;
      const eta = etaMs === undefined ? 'ETA after the first run' : `ETA ${formatDuration(etaMs)}`;
      inner.note(
        `\n── sweep run ${of} · ${position.label} · rep ${position.repetition}/${position.repetitions} · elapsed ${formatDuration(Date.now() - started)} · ${eta}`,
      );
      const base = {
        run: position.index,
        of: position.total,
        totalIsBound: position.totalIsBound ?? false,
        key: position.key,
        cell: position.label,
        repetition: position.repetition,
        etaS: etaMs === undefined ? null : Math.round(etaMs / 1000),
      };
      write({ ...base, phase: 'starting', elapsedS: Math.round((Date.now() - started) / 1000) });
      return {
        note: (message) => inner.note(message),
        track(label, work, probeBytes) {
          write({ ...base, phase: label, elapsedS: Math.round((Date.now() - started) / 1000) });
          return inner.track(label, work, probeBytes);
        },
      };
    },
  };
}
