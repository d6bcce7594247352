// ebs: the images live on a volume mounted at ebs_mount on the source. After the dump the source
// flushes and unmounts it, the volume goes to the destination (detach → attach in one zone;
// snapshot → new volume → attach across zones, see ebs-ec2.ts), the destination mounts it and
// CRIU restores from it. In the lab the volume is a loop device with ext4, "attached" to one
// node at a time by being mounted in that node's mount namespace only.
import { ExternalError } from '../../core/errors.js';
import type { RemoteNode, Role } from '../../core/node.js';
import type { RunContext } from '../run-context.js';
import { ms } from '../units.js';
import { z } from 'zod';
import type { Ec2VolumeOptions } from './ebs-ec2.js';
import { ec2MoveStateSchema, nvmeDevice, type Ec2MoveState } from './ebs-ec2-state.js';
import type { StepRunner, VolumeHost, VolumeMover } from './ebs-volume.js';
import { leftoversProblems, mountPathSchema, moveThroughStorage, removeStage } from './shared-storage.js';
import { controllerStep } from './steps.js';
import type { SessionOptions, Transfer, TransferCapabilities } from './transfer.js';

type Ctx = Pick<RunContext, 'plan' | 'runId' | 'paths'>;

// Values reach sh as positional parameters, never pasted into the script.
const IS_MOUNTED_SCRIPT = '[ "$(findmnt -n -o SOURCE --mountpoint "$1")" = "$(readlink -f "$2")" ]';
const WAIT_DEVICE_SCRIPT = 'i=0; while [ ! -b "$1" ] && [ "$i" -lt "$2" ]; do sleep 0.2; i=$((i+1)); done; [ -b "$1" ]';
const MOUNT_SCRIPT = 'i=0; while [ ! -b "$1" ] && [ "$i" -lt "$3" ]; do sleep 0.2; i=$((i+1)); done; mkdir -p "$2" && mount "$1" "$2"';

const mountArgv = (mount: string, device: string, waitS: number) => ['sh', '-c', MOUNT_SCRIPT, 'sh', device, mount, String(Math.ceil(waitS * 5))];
const unmountArgv = (mount: string) => ['umount', mount];

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
      throw new ExternalError(
        `transfer.ebs.volume: ${this.device} is not a block device on ${this.sourceName}; set transfer.ebs.volume to the volume (the lab's servers.yaml from \`criu-lab lab up --storage\` names it)`,
        { step: 'ebs prepare' },
      );
    if (await host.isMounted('source', this.device)) return;
    if (await host.isMounted('destination', this.device)) await host.unmount('destination');
    else if (await host.anythingMounted('source'))
      throw new ExternalError(
        `transfer.ebs_mount: something other than ${this.device} is mounted at ${host.mountPath} on ${this.sourceName}; unmount it or set transfer.ebs_mount`,
        { step: 'ebs prepare' },
      );
    await host.mount('source', this.device);
  }

  async handOver(): Promise<string> {
    return this.device;
  }

  async cleanup(): Promise<void> {}
}

async function moverFor(ctx: RunContext, options: SessionOptions, remember: (state: Ec2MoveState) => Promise<void>): Promise<VolumeMover> {
  const volume = volumeOf(ctx);
  if (volume.startsWith('/dev/')) return new LocalVolumeMover(volume, ctx.source.name);
  // A dry run touches no cloud: the volume is taken to be where a run finds it, at its NVMe device.
  if (options.dryRun) return new LocalVolumeMover(nvmeDevice(volume), ctx.source.name);
  const aws = ctx.plan.aws;
  if (!aws)
    throw new ExternalError(
      `transfer.ebs.volume: ${volume} is an EC2 volume, but servers.yaml names no AWS stack (aws.region, aws.stack); use the servers.yaml \`criu-lab infra deploy\` writes`,
      { step: 'ebs prepare' },
    );
  return ec2Mover(
    {
      region: aws.region,
      stack: aws.stack,
      volumeId: volume,
      source: ctx.plan.nodes.source,
      destination: ctx.plan.nodes.destination,
      waitS: ctx.plan.transfer.ebs.waitS,
    },
    remember,
  );
}

type Ec2Target = Omit<Ec2VolumeOptions, 'client' | 'onState'>;

/** The AWS SDK loads here, for a run (or cleanup) that moves an EC2 volume, and for no other. */
async function ec2Mover(target: Ec2Target, remember: (state: Ec2MoveState) => Promise<void>) {
  const [{ EC2Client }, { Ec2VolumeMover }] = await Promise.all([import('@aws-sdk/client-ec2'), import('./ebs-ec2.js')]);
  return new Ec2VolumeMover({
    ...target,
    // Throttling is retried by the mover itself (visible and tested), so the SDK does not retry on top.
    client: new EC2Client({ region: target.region, maxAttempts: 1 }),
    onState: remember,
  });
}

/** Mount work on the nodes, over SSH; a role without a node (unreachable at cleanup) fails when used. */
function volumeHost(nodes: Partial<Record<Role, RemoteNode>>, mountPath: string, waitS: number, timeoutMs: number, signal?: AbortSignal): VolumeHost {
  const node = (role: Role): RemoteNode => {
    const found = nodes[role];
    if (!found) throw new ExternalError(`ebs: the ${role} node is not reachable`, { step: 'ebs' });
    return found;
  };
  const options = { step: 'ebs', timeoutMs, ...(signal ? { signal } : {}) };
  const succeeds = async (role: Role, argv: string[]) => (await node(role).run(argv, { ...options, check: false })).exitCode === 0;
  return {
    mountPath,
    isMounted: (role, device) => succeeds(role, ['sh', '-c', IS_MOUNTED_SCRIPT, 'sh', mountPath, device]),
    anythingMounted: (role) => succeeds(role, ['mountpoint', '-q', mountPath]),
    hasDevice: (role, device) => succeeds(role, ['test', '-b', device]),
    async waitForDevice(role, device) {
      if (!(await succeeds(role, ['sh', '-c', WAIT_DEVICE_SCRIPT, 'sh', device, String(Math.ceil(waitS * 5))])))
        throw new ExternalError(`ebs: ${device} did not appear on ${node(role).name} within ${waitS} s of the attach`, { node: node(role).name, step: 'ebs' });
    },
    mount: async (role, device) => void (await node(role).run(mountArgv(mountPath, device, waitS), { ...options, timeoutMs: timeoutMs + waitS * 1000 })),
    unmount: async (role) => void (await node(role).run(unmountArgv(mountPath), options)),
  };
}

const HANDS_OVER: TransferCapabilities = { handsStorageOver: true, imagesOnSharedStorage: true };

// What cleanup needs: the mount and the volume; for an EC2 volume, the stack and nodes, and how far the move got.
const leftoversSchema = z.object({
  mount: mountPathSchema,
  volume: z.string().regex(/^(vol-[0-9a-f]+|\/dev\/[A-Za-z0-9._/-]+)$/, 'must be an EC2 volume id or a block device'),
  waitS: z.number().positive().max(3600),
  ec2: z
    .object({
      region: z.string().regex(/^[a-z0-9-]+$/),
      stack: z.string().regex(/^[A-Za-z0-9._-]+$/),
      source: z.object({ name: z.string(), ip: z.string() }),
      destination: z.object({ name: z.string(), ip: z.string() }),
      state: ec2MoveStateSchema.optional(),
    })
    .optional(),
});
type EbsLeftovers = z.infer<typeof leftoversSchema>;

export const ebsTransfer: Transfer = {
  name: 'ebs',
  capabilities: HANDS_OVER,

  imageDirs(plan, runId) {
    const dir = `${plan.transfer.ebsMount}/${runId}`;
    return { source: dir, destination: dir };
  },

  open(ctx, options = {}) {
    const mount = ctx.plan.transfer.ebsMount;
    const { waitS } = ctx.plan.transfer.ebs;
    const timeoutMs = ms(ctx.plan.timeouts.commandS);
    const host = () => volumeHost({ source: ctx.source, destination: ctx.destination }, mount, waitS, timeoutMs, ctx.signal);
    // The session's own: prepare finds the volume, move hands it over, cleanup undoes what is left.
    let mover: VolumeMover | undefined;
    let record: EbsLeftovers | undefined;
    const remember = async (state: Ec2MoveState) => {
      if (record?.ec2) {
        record = { ...record, ec2: { ...record.ec2, state } };
        await options.remember?.(record);
      }
    };
    return {
      name: 'ebs',
      capabilities: HANDS_OVER,

      async prepare() {
        const volume = volumeOf(ctx);
        const aws = ctx.plan.aws;
        record = {
          mount,
          volume,
          waitS,
          ...(!volume.startsWith('/dev/') && aws
            ? { ec2: { region: aws.region, stack: aws.stack, source: ctx.plan.nodes.source, destination: ctx.plan.nodes.destination } }
            : {}),
        };
        await options.remember?.(record);
        mover = await moverFor(ctx, options, remember);
        await mover.prepare(host());
        await ctx.source.run(['mkdir', '-p', ctx.paths.sourceImageDir], { step: 'ebs prepare', timeoutMs, signal: ctx.signal });
      },

      async move(items) {
        const moving = mover;
        if (!moving) throw new Error('internal: ebs move before prepare');
        return moveThroughStorage(ctx, mount, items, async ({ onNode, record: recordStep }) => {
          await onNode(ctx.source, 'unmount', unmountArgv(mount));
          const apiStep: StepRunner = async (name, work) => {
            const { step, value } = await controllerStep(ctx, name, work);
            recordStep(step);
            return value;
          };
          const device = await moving.handOver(host(), apiStep);
          await onNode(ctx.destination, 'mount', mountArgv(mount, device, waitS));
        });
      },

      async cleanup() {
        await removeStage([ctx.source, ctx.destination], mount, ctx.runId, timeoutMs);
        await mover?.cleanup(host());
      },
    };
  },

  checkLeftovers: (leftovers) => leftoversProblems(leftoversSchema, leftovers),

  /**
   * The staging directory on whichever node has the volume; then the volume goes back where a
   * run finds it: a lab device mounted on the source again, an EC2 move undone from its recorded state.
   */
  async cleanLeftovers({ nodes, leftovers, runId, commandTimeoutMs }) {
    if (Object.keys(leftovers).length === 0) return;
    const { mount, volume, waitS, ec2 } = leftoversSchema.parse(leftovers);
    await removeStage(Object.values(nodes), mount, runId, commandTimeoutMs);
    if (!nodes.source || !nodes.destination) return;
    const host = volumeHost(nodes, mount, waitS, commandTimeoutMs);
    if (volume.startsWith('/dev/')) await new LocalVolumeMover(volume, nodes.source.name).prepare(host);
    else if (ec2?.state)
      await (
        await ec2Mover({ region: ec2.region, stack: ec2.stack, volumeId: volume, source: ec2.source, destination: ec2.destination, waitS }, async () => {})
      )
        .resume(ec2.state)
        .cleanup(host);
  },
};
