// The Transfer seam: moves directories from the source node to the destination node
// (node to node: image data never flows through the controller).
import type { TransferMetrics } from '../metrics.js';
import type { PlannedCommand, RunContext } from '../run-context.js';

/** A directory on the source and where it must appear on the destination. */
export interface TransferItem {
  readonly label: string;
  readonly from: string;
  readonly to: string;
}

export interface Transfer {
  readonly name: string;
  /** Work that can happen before the freeze (keys, mounts); not part of the downtime. */
  prepare(context: RunContext): Promise<void>;
  /** Moves the items; timed on the node that does the moving. */
  move(context: RunContext, items: readonly TransferItem[]): Promise<TransferMetrics>;
  /** Undoes prepare; runs always, also after a failure, and must tolerate a partial prepare. */
  cleanup(context: RunContext): Promise<void>;
  /** The commands prepare and move would issue, for --dry-run. */
  describe(context: Pick<RunContext, 'plan' | 'runId' | 'paths'>, items: readonly TransferItem[]): { prepare: PlannedCommand[]; move: PlannedCommand[] };
}
