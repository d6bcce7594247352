// Cleanup is structural: every effect registers its undo as it happens, and the stack runs
// in reverse in a finally, on success, failure and Ctrl-C alike.
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalError } from '../core/errors.js';
import type { RemoteNode } from '../core/node.js';
import type { RunPaths } from './run-context.js';

export class CleanupStack {
  private readonly steps: { label: string; undo: () => Promise<unknown> }[] = [];
  readonly failures: string[] = [];

  defer(label: string, undo: () => Promise<unknown>): void {
    this.steps.push({ label, undo });
  }

  /** Runs every undo, newest first; a failing undo is recorded and the rest still run. */
  async run(): Promise<void> {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.undo();
      } catch (error) {
        this.failures.push(`${step.label}: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * A pgrep/pkill pattern matching every process of this run (workload, criu, rsync: all carry
 * the run id in their argv) but not the shell that runs pkill: "[m]emory_…" does not match itself.
 */
export function runProcessPattern(runId: string): string {
  return `[${runId[0]}]${runId.slice(1)}`;
}

export function killArgv(runId: string): string[] {
  return ['pkill', '-KILL', '-f', runProcessPattern(runId)];
}

export function removeArgv(paths: RunPaths): string[] {
  // A record written before the scripts and data dirs existed has neither.
  const extra = [paths.scriptDir, paths.dataDir].filter((dir): dir is string => dir !== undefined && dir !== paths.workDir);
  return ['rm', '-rf', '--one-file-system', paths.workDir, paths.sourceImageDir, paths.destImageDir, paths.sourceControlDir, ...new Set(extra)];
}

/** Kills every process of the run on a node and waits until they are gone (a rollback does this to the destination). */
export async function killRunProcesses(node: RemoteNode, runId: string): Promise<void> {
  const pattern = runProcessPattern(runId);
  await node.run(killArgv(runId), { check: false, timeoutMs: 20_000, idempotent: true, step: 'cleanup' });
  await node.run(['sh', '-c', 'i=0; while pgrep -f "$1" >/dev/null && [ $i -lt 50 ]; do pkill -KILL -f "$1"; sleep 0.1; i=$((i+1)); done', 'sh', pattern], {
    check: false,
    timeoutMs: 20_000,
    idempotent: true,
    step: 'cleanup',
  });
}

/**
 * Ends the workload's whole session, only where a process of this run is in it: the payload
 * starts under setsid and CRIU restores the session with its id, so children whose argv lacks
 * the run id go too; on a node where the run never restored, that number is someone else's session.
 */
export const killSessionArgv = (runId: string, workloadPid: number): string[] => [
  'sh',
  '-c',
  '! pgrep -s "$1" -f "$2" >/dev/null || pkill -KILL -s "$1"',
  'sh',
  String(workloadPid),
  runProcessPattern(runId),
];

/** Kills every process of the run on a node (with its session, given the workload's PID) and waits until they are gone. */
export async function stopRunProcesses(node: RemoteNode, runId: string, workloadPid?: number): Promise<void> {
  if (workloadPid !== undefined) await node.run(killSessionArgv(runId, workloadPid), { check: false, timeoutMs: 20_000, idempotent: true, step: 'cleanup' });
  await killRunProcesses(node, runId);
}

/** Tries of the removal, a second apart, before its failure counts. */
const REMOVE_TRIES = 5;

/**
 * Removes the run's directories on a node. On a network filesystem (EFS over NFS, the lab's
 * sshfs) a file whose last handle is still being released when rm unlinks it is renamed to a
 * hidden name (.nfs…, .fuse_hidden…) and vanishes a moment later; meanwhile rmdir finds the
 * directory not empty. So a failed removal is tried again before it counts.
 */
export async function removeRunDirs(node: RemoteNode, paths: RunPaths): Promise<void> {
  for (let tries = 1; tries < REMOVE_TRIES; tries++) {
    if ((await node.run(removeArgv(paths), { check: false, timeoutMs: 60_000, step: 'cleanup', idempotent: true })).exitCode === 0) return;
    await sleep(1_000);
  }
  await node.run(removeArgv(paths), { timeoutMs: 60_000, step: 'cleanup', idempotent: true });
}

/** Kills every process of the run on a node (with its session, given the workload's PID), waits until they are gone, and removes the run's directories. */
export async function cleanNode(node: RemoteNode, runId: string, paths: RunPaths, workloadPid?: number): Promise<void> {
  await stopRunProcesses(node, runId, workloadPid);
  await removeRunDirs(node, paths);
}

/**
 * Cleans both nodes of a run: processes on both first, then directories one node after the
 * other. On shared storage (efs) both nodes see the same directories, and removing them from
 * two nodes at once races (one rm finds entries the other is removing). Every node is tried
 * even when another fails; the failures are thrown together at the end.
 */
export async function cleanNodes(
  nodes: readonly RemoteNode[],
  runId: string,
  paths: RunPaths,
  workloadPid: number | undefined,
  onCleaned: (node: RemoteNode) => Promise<void>,
): Promise<void> {
  const failures: string[] = [];
  const failed = new Set<RemoteNode>();
  const note = (node: RemoteNode) => (error: unknown) => {
    failed.add(node);
    failures.push(describeFailure(error));
  };
  await Promise.all(nodes.map((node) => stopRunProcesses(node, runId, workloadPid).catch(note(node))));
  for (const node of nodes) {
    if (failed.has(node)) continue;
    await removeRunDirs(node, paths).then(() => onCleaned(node), note(node));
  }
  if (failures.length > 0) throw new Error(failures.join('; '));
}

/** An error's message with the output tail it carries, so a failed cleanup says why. */
function describeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const logTail = error instanceof ExternalError ? error.details.logTail?.trim() : undefined;
  return logTail ? `${message}: ${logTail.split('\n').join(' | ')}` : message;
}
