// efs: the images live on a network file system mounted at efs_mount on both nodes (AWS EFS over
// NFS 4.1; in the lab, a storage node's directory over sshfs across the lab bridge). The dump
// writes there and the restore reads from there, so the bytes cross the network during those
// phases; the transfer itself is the flush, plus the work dir's copy through the same storage.
import { ExternalError } from '../../core/errors.js';
import { ms } from '../units.js';
import { describeThroughStorage, moveThroughStorage, requireMountPoint, stageDir } from './shared-storage.js';
import type { Transfer } from './transfer.js';

const MOUNT_FIX = 'mount the shared file system there on both nodes (`criu-lab lab up --storage` in the lab; the stack\'s user data on AWS), or set transfer.efs_mount to where it is mounted';

export const efsTransfer: Transfer = {
  name: 'efs',

  imageDirs(plan, runId) {
    const dir = `${plan.transfer.efsMount}/${runId}`;
    return { source: dir, destination: dir };
  },

  async prepare(ctx) {
    const mount = ctx.plan.transfer.efsMount;
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

  move: (ctx, items) => moveThroughStorage(ctx, ctx.plan.transfer.efsMount, items),

  async cleanup(ctx) {
    await ctx.source.run(['rm', '-rf', stageDir(ctx.plan.transfer.efsMount, ctx.runId)], { check: false, timeoutMs: ms(ctx.plan.timeouts.commandS), idempotent: true });
  },

  describe(ctx, items) {
    const mount = ctx.plan.transfer.efsMount;
    return {
      prepare: [
        { on: 'source', argv: ['mountpoint', '-q', mount] },
        { on: 'destination', argv: ['mountpoint', '-q', mount] },
        { on: 'source', argv: ['mkdir', '-p', ctx.paths.sourceImageDir] },
        { on: 'destination', argv: ['test', '-d', ctx.paths.destImageDir] },
      ],
      move: describeThroughStorage(ctx, mount, items),
    };
  },
};
