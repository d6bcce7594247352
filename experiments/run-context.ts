// What one run shares between the pipeline, the strategy and the transfer.
import type { Plan } from './config/plan.js';
import type { Phase } from './metrics.js';
import type { Progress } from './progress.js';
import type { CommandResult, RemoteNode } from '../core/node.js';
import type { Workload } from '../workloads/workload.js';

/** Per-run directories on the nodes; each ends in the run id, so cleanup can find all of it (made by transfers/registry.ts runPaths). */
export interface RunPaths {
  /** The workload's working directory, the same path on both nodes (CRIU restores its cwd). */
  readonly workDir: string;
  readonly sourceImageDir: string;
  readonly destImageDir: string;
  /** Scratch space on the source for per-run transfer keys. */
  readonly sourceControlDir: string;
  /** Where the payload files go (paths.scripts_dir/<run id>); the work dir when no scripts dir is set. */
  readonly scriptDir: string;
  /** Made on both nodes for the payload's data (paths.data_dir/<run id>); the work dir when no data dir is set. */
  readonly dataDir: string;
}

/** The phases of a run in the order they ran. */
export class PhaseLog {
  private readonly phases: Phase[] = [];

  /** A phase timed on the node that ran it. */
  fromNode(name: string, result: CommandResult): void {
    const timing = result.nodeTiming;
    if (!timing) throw new Error(`phase ${name} was not run with node timing`);
    this.phases.push({ name, startedAt: new Date(timing.startedAtMs).toISOString(), durationMs: timing.durationMs, measuredOn: result.node });
  }

  /** A phase timed by the controller (no single node runs it). */
  fromController(name: string, startedAtMs: number, durationMs: number): void {
    this.phases.push({ name, startedAt: new Date(startedAtMs).toISOString(), durationMs, measuredOn: 'controller' });
  }

  list(): readonly Phase[] {
    return [...this.phases];
  }
}

export interface RunContext {
  readonly plan: Plan;
  readonly runId: string;
  readonly source: RemoteNode;
  readonly destination: RemoteNode;
  readonly paths: RunPaths;
  readonly workload: Workload<Record<string, unknown>>;
  readonly phases: PhaseLog;
  readonly progress: Progress;
  readonly signal: AbortSignal;
}

export { ms } from './units.js';

/** The first integer in a command's stdout (du -sb, wc -c, ...). */
export function firstNumber(result: CommandResult): number {
  const match = /\d+/.exec(result.stdout);
  return match ? Number(match[0]) : 0;
}
