// efs: the images live on a network file system mounted at efs_mount on both nodes (AWS EFS over
// NFS 4.1; in the lab, a storage node's directory over sshfs across the lab bridge). The dump
// writes there and the restore reads from there, so the bytes cross the network during those
// phases; the transfer itself is the flush, plus the work dir's copy through the same storage.
import { z } from 'zod';
import { ExternalError } from '../../core/errors.js';
import { ms } from '../units.js';
import { leftoversProblems, mountPathSchema, moveThroughStorage, removeStage, requireMountPoint } from './shared-storage.js';
import type { Transfer, TransferCapabilities } from './transfer.js';

const MOUNT_FIX =
  "mount the shared file system there on both nodes (`criu-lab lab up --storage` in the lab; the stack's user data on AWS), or set transfer.efs_mount to where it is mounted";

const SHARED: TransferCapabilities = { handsStorageOver: false, imagesOnSharedStorage: true };
const leftoversSchema = z.object({ mount: mountPathSchema });

export const efsTransfer: Transfer = {
  name: 'efs',
  capabilities: SHARED,

  imageDirs(plan, runId) {
    const dir = `${plan.transfer.efsMount}/${runId}`;
    return { source: dir, destination: dir };
  },

  open(ctx, { remember } = {}) {
    const mount = ctx.plan.transfer.efsMount;
    return {
      name: 'efs',
      capabilities: SHARED,

      async prepare() {
        // The run's directories on the storage end in its id; the stage dir beside them is what cleanup must know the mount for.
        await remember?.({ mount });
        await requireMountPoint(ctx, [ctx.source, ctx.destination], 'transfer.efs_mount', mount, MOUNT_FIX);
        // Two mounts can both exist and still be different file systems: prove the destination sees what the source writes.
        const options = { step: 'efs prepare', timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal };
        await ctx.source.run(['mkdir', '-p', ctx.paths.sourceImageDir], options);
        const seen = await ctx.destination.run(['test', '-d', ctx.paths.destImageDir], { ...options, check: false });
        if (seen.exitCode !== 0)
          throw new ExternalError(
            `transfer.efs_mount: ${ctx.destination.name} does not see ${ctx.paths.destImageDir}, which ${ctx.source.name} just made; ${mount} is not the same shared file system on both nodes`,
            { node: ctx.destination.name, step: 'efs prepare' },
          );
      },

      move: (items) => moveThroughStorage(ctx, mount, items),

      cleanup: () => removeStage([ctx.source], mount, ctx.runId, ms(ctx.plan.timeouts.commandS)),
    };
  },

  checkLeftovers: (leftovers) => leftoversProblems(leftoversSchema, leftovers),

  async cleanLeftovers({ nodes, leftovers, runId, commandTimeoutMs }) {
    if (Object.keys(leftovers).length === 0) return;
    const { mount } = leftoversSchema.parse(leftovers);
    const node = nodes.source ?? nodes.destination;
    if (node) await removeStage([node], mount, runId, commandTimeoutMs);
  },
};
