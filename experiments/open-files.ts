// Files the restored tree needs at their old paths that no moved directory carries: what it holds
// open outside the work dir (found in /proc at dump time) and what the workload names itself.
// CRIU reopens every file by path, so without them restore fails with "Unable to open fd".
import type { RunContext } from './run-context.js';
import { throughputMiBps } from './metrics.js';
import { copyArgv } from './transfers/staging.js';
import { nodeStep } from './transfers/steps.js';
import type { TransferSession } from './transfers/transfer.js';
import { filesToMove, openRegularFiles, processTree } from '../workloads/proc.js';

/** Where the files are gathered on the source and land on the destination; under the run's control dir, so cleanup removes it on both nodes. */
export const stagingDir = (paths: RunContext['paths']): string => `${paths.sourceControlDir}/open-files`;

/** The paths to move: looked up while the dump leaves the tree stopped, so they are exactly what it had open. */
export async function filesOutsideMovedDirs(ctx: RunContext, pid: number): Promise<string[]> {
  const { paths } = ctx;
  const tree = await processTree(ctx.source, pid);
  const open = await openRegularFiles(
    ctx.source,
    tree.map((p) => p.pid),
  );
  const named = ctx.workload.moveFiles?.({ params: ctx.plan.workload.params, workDir: paths.workDir }) ?? [];
  return [...new Set([...filesToMove(open, [paths.workDir, paths.sourceImageDir, paths.sourceControlDir]), ...named])];
}

// Copied file by file to their absolute paths below the staging dir and back, so no directory
// on the destination (/tmp, say) takes the source's mode or owner.
const gatherArgv = (stage: string, files: readonly string[]) => copyArgv(files.map((f) => ({ from: f, to: `${stage}${f}` })));
const placeArgv = (stage: string, files: readonly string[]) => copyArgv(files.map((f) => ({ from: `${stage}${f}`, to: f })));

/**
 * The transfer session, moving one more directory when the tree holds files outside the moved
 * ones: they are staged on the source, travel with the images, and are placed before restore.
 * Wrapping the session keeps this out of every strategy: each calls move() after its dump.
 */
export function withOpenFiles(ctx: RunContext, transfer: TransferSession, pid: number): TransferSession {
  return {
    ...transfer,
    prepare: () => transfer.prepare(),
    cleanup: () => transfer.cleanup(),
    async move(items) {
      const files = await filesOutsideMovedDirs(ctx, pid);
      if (files.length === 0) return transfer.move(items);
      ctx.progress.note(`  open outside the work dir, moved along: ${files.join(', ')}`);
      const stage = stagingDir(ctx.paths);
      const staged = await nodeStep(ctx, ctx.source, 'stage open files', gatherArgv(stage, files));
      const moved = await transfer.move([...items, { label: 'open-files', from: stage, to: stage }]);
      const placed = await nodeStep(ctx, ctx.destination, 'place open files', placeArgv(stage, files));
      const durationMs = staged.step.durationMs + moved.durationMs + placed.step.durationMs;
      return {
        ...moved,
        durationMs,
        throughputMBps: throughputMiBps(moved.bytes, durationMs),
        steps: [{ name: staged.step.name, durationMs: staged.step.durationMs }, ...moved.steps, { name: placed.step.name, durationMs: placed.step.durationMs }],
      };
    },
  };
}
