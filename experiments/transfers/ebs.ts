// ebs: the images live on a volume mounted at ebs_mount on the source. After the dump the source
// flushes and unmounts it, the volume goes to the destination (detach → attach in one zone;
// snapshot → new volume → attach across zones, see ebs-ec2.ts), the destination mounts it and
// CRIU restores from it. In the lab the volume is a loop device with ext4, "attached" to one
// node at a time by being mounted in that node's mount namespace only.
import { EC2Client } from '@aws-sdk/client-ec2';
import { ExternalError } from '../../core/errors.js';
import type { RemoteNode, Role } from '../../core/node.js';
import type { RunContext } from '../run-context.js';
import { ms } from '../units.js';
import { Ec2VolumeMover } from './ebs-ec2.js';
import type { StepRunner, VolumeHost, VolumeMover } from './ebs-volume.js';
import { describeThroughStorage, moveThroughStorage, stageDir } from './shared-storage.js';
import { controllerStep } from './steps.js';
import type { Transfer } from './transfer.js';

type Ctx = Pick<RunContext, 'plan' | 'runId' | 'paths'>;

// Values reach sh as positional parameters, never pasted into the script.
const IS_MOUNTED_SCRIPT = '[ "$(findmnt -n -o SOURCE --mountpoint "$1")" = "$(readlink -f "$2")" ]';
const WAIT_DEVICE_SCRIPT = 'i=0; while [ ! -b "$1" ] && [ "$i" -lt "$2" ]; do sleep 0.2; i=$((i+1)); done; [ -b "$1" ]';
const MOUNT_SCRIPT = 'i=0; while [ ! -b "$1" ] && [ "$i" -lt "$3" ]; do sleep 0.2; i=$((i+1)); done; mkdir -p "$2" && mount "$1" "$2"';

const mountArgv = (c: Ctx, device: string) => ['sh', '-c', MOUNT_SCRIPT, 'sh', device, c.plan.transfer.ebsMount, String(Math.ceil(c.plan.transfer.ebs.waitS * 5))];
const unmountArgv = (c: Ctx) => ['umount', c.plan.transfer.ebsMount];

/** The volume this run moves: transfer.ebs.volume, else the source node's volume in servers.yaml. */
export function volumeOf(c: Ctx): string {
  const volume = c.plan.transfer.ebs.volume ?? c.plan.aws?.ebsVolumes[c.plan.nodes.source.name];
  if (!volume)
    throw new ExternalError(
      `transfer.ebs.volume is not set and servers.yaml names no volume for ${c.plan.nodes.source.name} (aws.ebs_volumes); set it to the source's volume (vol-…, or a block device such as the lab's, from \`criu-lab lab up --storage\`)`,
      { step: 'ebs prepare' },
    );
  return volume;
}

/** A block device every node sees (the lab's loop device): attaching it is mounting it, which the transfer times itself. */
export class LocalVolumeMover implements VolumeMover {
  constructor(
    private readonly device: string,
    private readonly sourceName: string,
  ) {}

  get label(): string {
    return this.device;
  }

  async prepare(host: VolumeHost): Promise<void> {
    if (!(await host.hasDevice('source', this.device)))
      throw new ExternalError(`transfer.ebs.volume: ${this.device} is not a block device on ${this.sourceName}; set transfer.ebs.volume to the volume (the lab's servers.yaml from \`criu-lab lab up --storage\` names it)`, { step: 'ebs prepare' });
    if (await host.isMounted('source', this.device)) return;
    if (await host.isMounted('destination', this.device)) await host.unmount('destination');
    else if (await host.anythingMounted('source'))
      throw new ExternalError(`transfer.ebs_mount: something other than ${this.device} is mounted at ${host.mountPath} on ${this.sourceName}; unmount it or set transfer.ebs_mount`, { step: 'ebs prepare' });
    await host.mount('source', this.device);
  }

  async handOver(): Promise<string> {
    return this.device;
  }

  async cleanup(): Promise<void> {}
}

function moverFor(ctx: RunContext): VolumeMover {
  const volume = volumeOf(ctx);
  if (volume.startsWith('/dev/')) return new LocalVolumeMover(volume, ctx.source.name);
  const aws = ctx.plan.aws;
  if (!aws)
    throw new ExternalError(`transfer.ebs.volume: ${volume} is an EC2 volume, but servers.yaml names no AWS stack (aws.region, aws.stack); use the servers.yaml \`criu-lab infra deploy\` writes`, { step: 'ebs prepare' });
  return new Ec2VolumeMover({
    // Throttling is retried by the mover itself (visible and tested), so the SDK does not retry on top.
    client: new EC2Client({ region: aws.region, maxAttempts: 1 }),
    region: aws.region,
    volumeId: volume,
    stack: aws.stack,
    source: ctx.plan.nodes.source,
    destination: ctx.plan.nodes.destination,
    waitS: ctx.plan.transfer.ebs.waitS,
  });
}

/** Mount work on the nodes, over SSH. */
function nodeVolumeHost(ctx: RunContext): VolumeHost {
  const node = (role: Role): RemoteNode => (role === 'source' ? ctx.source : ctx.destination);
  const mountPath = ctx.plan.transfer.ebsMount;
  const options = { step: 'ebs', timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal };
  const succeeds = async (role: Role, argv: string[]) => (await node(role).run(argv, { ...options, check: false })).exitCode === 0;
  return {
    mountPath,
    isMounted: (role, device) => succeeds(role, ['sh', '-c', IS_MOUNTED_SCRIPT, 'sh', mountPath, device]),
    anythingMounted: (role) => succeeds(role, ['mountpoint', '-q', mountPath]),
    hasDevice: (role, device) => succeeds(role, ['test', '-b', device]),
    async waitForDevice(role, device) {
      const waitS = ctx.plan.transfer.ebs.waitS;
      if (!(await succeeds(role, ['sh', '-c', WAIT_DEVICE_SCRIPT, 'sh', device, String(Math.ceil(waitS * 5))])))
        throw new ExternalError(`ebs: ${device} did not appear on ${node(role).name} within ${waitS} s of the attach`, { node: node(role).name, step: 'ebs' });
    },
    mount: async (role, device) => void (await node(role).run(mountArgv(ctx, device), { ...options, timeoutMs: ms(ctx.plan.timeouts.commandS + ctx.plan.transfer.ebs.waitS) })),
    unmount: async (role) => void (await node(role).run(unmountArgv(ctx), options)),
  };
}

// One mover per run: prepare finds the volume, move hands it over, cleanup undoes what is left.
const movers = new Map<string, VolumeMover>();

export const ebsTransfer: Transfer = {
  name: 'ebs',

  imageDirs(plan, runId) {
    const dir = `${plan.transfer.ebsMount}/${runId}`;
    return { source: dir, destination: dir };
  },

  async prepare(ctx) {
    const mover = moverFor(ctx);
    movers.set(ctx.runId, mover);
    await mover.prepare(nodeVolumeHost(ctx));
    await ctx.source.run(['mkdir', '-p', ctx.paths.sourceImageDir], { step: 'ebs prepare', timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal });
  },

  move(ctx, items) {
    const mover = movers.get(ctx.runId);
    if (!mover) throw new Error('internal: ebs move before prepare');
    return moveThroughStorage(ctx, ctx.plan.transfer.ebsMount, items, async ({ onNode, record }) => {
      await onNode(ctx.source, 'unmount', unmountArgv(ctx));
      const apiStep: StepRunner = async (name, work) => {
        const { step, value } = await controllerStep(ctx, name, work);
        record(step);
        return value;
      };
      const device = await mover.handOver(nodeVolumeHost(ctx), apiStep);
      await onNode(ctx.destination, 'mount', mountArgv(ctx, device));
    });
  },

  async cleanup(ctx) {
    const stage = stageDir(ctx.plan.transfer.ebsMount, ctx.runId);
    const timeoutMs = ms(ctx.plan.timeouts.commandS);
    await Promise.all([ctx.source, ctx.destination].map((node) => node.run(['rm', '-rf', stage], { check: false, timeoutMs, idempotent: true })));
    const mover = movers.get(ctx.runId);
    movers.delete(ctx.runId);
    await mover?.cleanup(nodeVolumeHost(ctx));
  },

  describe(ctx, items) {
    const mount = ctx.plan.transfer.ebsMount;
    const volume = ctx.plan.transfer.ebs.volume ?? ctx.plan.aws?.ebsVolumes[ctx.plan.nodes.source.name] ?? '<transfer.ebs.volume>';
    const device = volume.startsWith('/dev/') ? volume : `<the device of ${volume} after the move>`;
    return {
      prepare: [
        { on: 'source', argv: ['sh', '-c', IS_MOUNTED_SCRIPT, 'sh', mount, volume] },
        { on: 'source', argv: ['mkdir', '-p', ctx.paths.sourceImageDir] },
      ],
      move: describeThroughStorage(ctx, mount, items, [
        { on: 'source', argv: unmountArgv(ctx) },
        { on: 'destination', argv: mountArgv(ctx, device) },
      ]),
    };
  },
};
