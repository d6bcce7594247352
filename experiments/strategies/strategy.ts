// The Strategy seam: owns the CRIU calls on both nodes and the order of dump, transfer and
// restore (a page server or lazy pages interleave them differently).
import type { CriuStats } from '../criu/stats.js';
import type { TransferMetrics } from '../metrics.js';
import type { PlannedCommand, RunContext } from '../run-context.js';
import type { Transfer, TransferItem } from '../transfers/transfer.js';

export interface MigrationResult {
  readonly dump: { readonly durationMs: number; readonly startedAtMs: number; readonly criuStats: CriuStats; readonly imageBytes: number };
  readonly transfer: TransferMetrics;
  readonly restore: { readonly durationMs: number; readonly endedAtMs: number; readonly criuStats: CriuStats };
  /** From the start of the freeze to the process running on the destination. */
  readonly downtimeMs: number;
  /** From the first CRIU action on the source to the moment the source is no longer needed: what must fit the spot notice. */
  readonly migrationMs: number;
}

export interface Strategy {
  readonly name: string;
  /** Why this strategy cannot work on these nodes, checked before anything starts ([] = it can). */
  preflight(context: RunContext): Promise<string[]>;
  migrate(context: RunContext, transfer: Transfer, pid: number): Promise<MigrationResult>;
  /** The commands a run would issue, for --dry-run. */
  describe(context: Pick<RunContext, 'plan' | 'runId' | 'paths' | 'workload'>, transfer: Transfer): PlannedCommand[];
}

/** What every strategy moves: the images, and the working directory the process has open as its cwd. */
export function migrationItems(context: Pick<RunContext, 'paths'>): TransferItem[] {
  return [
    { label: 'images', from: context.paths.sourceImageDir, to: context.paths.destImageDir },
    { label: 'workdir', from: context.paths.workDir, to: context.paths.workDir },
  ];
}
