// The Strategy seam: owns the CRIU calls on both nodes and the order of dump, transfer and
// restore (a page server or lazy pages interleave them differently).
import type { PreflightRow } from '../criu/checks.js';
import type { CriuStats } from '../criu/stats.js';
import type { LazyMetrics, PageStreamMetrics, PredumpMetrics, TransferMetrics } from '../metrics.js';
import type { RunContext } from '../run-context.js';
import type { Role } from '../../core/node.js';
import type { TransferItem, TransferSession } from '../transfers/transfer.js';

export interface MigrationResult {
  readonly dump: { readonly durationMs: number; readonly startedAtMs: number; readonly criuStats: CriuStats; readonly imageBytes: number };
  readonly transfer: TransferMetrics;
  readonly restore: { readonly durationMs: number; readonly endedAtMs: number; readonly criuStats: CriuStats };
  /** From the start of the freeze (CRIU's freezing_time + frozen_time before the dump ended, on the source's clock) to the process running on the destination (its clock). */
  readonly downtimeMs: number;
  /**
   * From the first CRIU action on the source to the moment the source is no longer needed: the
   * process runs on the destination (until then the source is the rollback target) and, with lazy
   * pages, the last page has been served. What must fit the spot notice.
   */
  readonly migrationMs: number;
  /** predump: every round, and why the rounds stopped. */
  readonly predump?: PredumpMetrics;
  /** pageserver: the pages streamed to the destination during the dump. */
  readonly pageStream?: PageStreamMetrics;
  /** lazy: when the process ran again versus when its last page arrived. */
  readonly lazy?: LazyMetrics;
}

/** A file a strategy's CRIU calls leave on a node, collected into results/<run>/source|dest/. */
export interface StrategyLog {
  readonly on: Role;
  readonly path: string;
  /** The file name in the results (criu-dump.log, ...). */
  readonly name: string;
}

export interface Strategy {
  readonly name: string;
  /** What this strategy needs from the nodes and of the transfer, one row per check, taken before anything starts. */
  preflight(context: RunContext, transfer: TransferSession): Promise<PreflightRow[]>;
  migrate(context: RunContext, transfer: TransferSession, pid: number): Promise<MigrationResult>;
  /** The CRIU logs a run left, to collect (also after a failure: a missing file is skipped). */
  logs(context: RunContext): Promise<StrategyLog[]>;
}

/** What every strategy moves: the images, and the working directory the process has open as its cwd. */
export function migrationItems(context: Pick<RunContext, 'paths'>): TransferItem[] {
  return [
    { label: 'images', from: context.paths.sourceImageDir, to: context.paths.destImageDir },
    { label: 'workdir', from: context.paths.workDir, to: context.paths.workDir },
  ];
}
