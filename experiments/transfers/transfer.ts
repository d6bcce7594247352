// The Transfer seam: gets directories from the source node to the destination node, node to
// node (image data never flows through the controller), and decides where the images live.
//
// Where images live is the transfer's decision, not the strategy's: `imageDirs` names the image
// directory on each node, and runPaths() (run-paths.ts) puts it in ctx.paths, so every strategy only ever reads
// ctx.paths.sourceImageDir / destImageDir and calls move() with its directories. rsync and s3
// keep node-local directories (checkpoint_dir on the source, dest_dir on the destination); efs
// puts the images on the shared mount (one path, seen by both nodes), so the dump writes there
// and move() only flushes; ebs puts them on the volume, so move() hands the volume over. A
// directory the strategy passes whose `from` and `to` are that same shared path moves with the
// storage; any other directory (the work dir) travels through the same storage as a copy.
import type { TransferMetrics } from '../metrics.js';
import type { Plan } from '../config/plan.js';
import type { PlannedCommand, RunContext } from '../run-context.js';

/** A directory on the source and where it must appear on the destination. */
export interface TransferItem {
  readonly label: string;
  readonly from: string;
  readonly to: string;
}

/** The image directory of a run on each node; the same path on both for shared storage. */
export interface ImageDirs {
  readonly source: string;
  readonly destination: string;
}

export interface Transfer {
  readonly name: string;
  /** Where the run's images live on each node (read by runPaths, so strategies stay method-agnostic). */
  imageDirs(plan: Plan, runId: string): ImageDirs;
  /**
   * Work that can happen before the freeze (keys, mounts, checks). Every setting the method
   * depends on is checked here, so a wrong bucket, mount or volume fails while the workload
   * still runs, with an error that names the setting.
   */
  prepare(context: RunContext): Promise<void>;
  /** Moves the items; each sub-step timed on the node (or, for cloud API calls, the controller) that does it. */
  move(context: RunContext, items: readonly TransferItem[]): Promise<TransferMetrics>;
  /** Undoes prepare and move; runs always, also after a failure, and must tolerate a partial prepare. */
  cleanup(context: RunContext): Promise<void>;
  /** The commands prepare and move would issue, for --dry-run. */
  describe(context: Pick<RunContext, 'plan' | 'runId' | 'paths'>, items: readonly TransferItem[]): { prepare: PlannedCommand[]; move: PlannedCommand[] };
}

/** Node-local image directories: checkpoint_dir on the source, dest_dir on the destination. */
export function localImageDirs(plan: Plan, runId: string): ImageDirs {
  return { source: `${plan.checkpoint.checkpointDir}/${runId}`, destination: `${plan.transfer.destDir}/${runId}` };
}
