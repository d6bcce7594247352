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
//
// A run opens a session: the session owns the run's state (a volume mover, ...), says what the
// method can do, and writes what it leaves behind into the leftovers record, from which the
// method's `cleanLeftovers` removes it when the controller died before the session's cleanup.
import type { TransferMetrics } from '../metrics.js';
import type { Plan } from '../config/plan.js';
import type { RemoteNode } from '../../core/node.js';
import type { RunContext } from '../run-context.js';

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

/** What a method can do, so strategies ask this instead of naming a method. */
export interface TransferCapabilities {
  /**
   * The image storage goes from the source to the destination at the first move (ebs detaches
   * the volume): a strategy whose CRIU calls keep working in the source's image directory after
   * a move (pre-dump rounds, a lazy dump) cannot use it.
   */
  readonly handsStorageOver: boolean;
  /** The images sit on shared storage: a pre-dump round is only safely there once its file system is synced (sync_after_predump). */
  readonly imagesOnSharedStorage: boolean;
}

/** The method-specific part of a leftovers record: what `cleanLeftovers` needs beyond the run id and paths. */
export type TransferLeftovers = Readonly<Record<string, unknown>>;

/** One run's transfer: prepared before the freeze, moves during the migration, cleaned up in a finally. */
export interface TransferSession {
  readonly name: string;
  readonly capabilities: TransferCapabilities;
  /**
   * Work that can happen before the freeze (keys, mounts, checks). Every setting the method
   * depends on is checked here, so a wrong bucket, mount or volume fails while the workload
   * still runs, with an error that names the setting.
   */
  prepare(): Promise<void>;
  /** Moves the items; each sub-step timed on the node (or, for cloud API calls, the controller) that does it. */
  move(items: readonly TransferItem[]): Promise<TransferMetrics>;
  /** Undoes prepare and move; runs always, also after a failure, and must tolerate a partial prepare. */
  cleanup(): Promise<void>;
}

/** What a session is given besides the run: where to record what it leaves behind. */
export interface SessionOptions {
  /** Called with the method's leftovers whenever they change (before the effect they describe), so an interrupted run can be cleaned. */
  readonly remember?: (leftovers: TransferLeftovers) => Promise<void>;
  /** Cloud API calls are recorded instead of made (the dry run): nothing outside the nodes is touched. */
  readonly dryRun?: boolean;
}

/** A run's leftovers as `criu-lab cleanup` hands them to the method, with whichever nodes it could reach. */
export interface LeftoversContext {
  readonly runId: string;
  readonly paths: RunContext['paths'];
  readonly commandTimeoutMs: number;
  readonly nodes: Partial<Record<'source' | 'destination', RemoteNode>>;
  /** The method's own part of the record, checked by its `leftoversSchema` (empty in records older than it). */
  readonly leftovers: TransferLeftovers;
}

export interface Transfer {
  readonly name: string;
  readonly capabilities: TransferCapabilities;
  /** Where the run's images live on each node (read by runPaths, so strategies stay method-agnostic). */
  imageDirs(plan: Plan, runId: string): ImageDirs;
  /** A session for one run: it owns that run's state. */
  open(context: RunContext, options?: SessionOptions): TransferSession;
  /**
   * Checks the method's part of a leftovers record (a results directory may have been copied or
   * edited, and cleanup runs as root): returns the problems, each with its key, or none.
   */
  checkLeftovers(leftovers: unknown): string[];
  /** Removes what an interrupted run of this method left on the nodes and in the storage; harmless to repeat. */
  cleanLeftovers(context: LeftoversContext): Promise<void>;
}

/** Node-local image directories: checkpoint_dir on the source, dest_dir on the destination. */
export function localImageDirs(plan: Plan, runId: string): ImageDirs {
  return { source: `${plan.checkpoint.checkpointDir}/${runId}`, destination: `${plan.transfer.destDir}/${runId}` };
}

/** Nodes-local methods (rsync, s3) can move images while CRIU still works on the source. */
export const LOCAL_IMAGES: TransferCapabilities = { handsStorageOver: false, imagesOnSharedStorage: false };
