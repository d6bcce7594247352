// An EC2 volume as the EBS transfer's volume: detach from the source and attach to the
// destination in one zone; across zones, snapshot → new volume in the destination's zone →
// attach. Waiters poll every 1-2 s (the SDK's default is 15 s), throttled calls are retried
// with backoff, and every failure names the volume, the node and what to do.
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  type EC2Client,
  type Tag,
  type Volume,
  waitUntilSnapshotCompleted,
  waitUntilVolumeAvailable,
  waitUntilVolumeInUse,
} from '@aws-sdk/client-ec2';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalError } from '../../core/errors.js';
import type { Role } from '../../core/node.js';
import { nvmeDevice, type Ec2MoveState, type Stage } from './ebs-ec2-state.js';
import type { StepRunner, VolumeHost, VolumeMover } from './ebs-volume.js';

/** Seconds between waiter polls: volume moves take seconds, not the SDK default's 15 s steps. */
export const WAITER_DELAYS_S = { minDelay: 1, maxDelay: 2 } as const;
/** The device name EC2 is asked for; Nitro instances show the volume as an NVMe disk named by its id. */
export const ATTACH_DEVICE = '/dev/sdf';
export const STACK_TAG_KEY = 'criu-lab:stack';
const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'TooManyRequestsException']);

export interface Ec2VolumeOptions {
  readonly client: EC2Client;
  readonly region: string;
  readonly volumeId: string;
  /** The stack tag value every volume and snapshot the move creates carries (the node role's IAM conditions need it). */
  readonly stack: string;
  readonly source: { readonly name: string; readonly ip: string };
  readonly destination: { readonly name: string; readonly ip: string };
  /** Longest wait for one state change (detach, attach, snapshot, new volume). */
  readonly waitS: number;
  /** Tries of a throttled call before giving up. @default 5 */
  readonly throttleAttempts?: number;
  /** First pause after a throttled call, doubling each time. @default 1000 */
  readonly throttleDelayMs?: number;
  /** Called with the move's state each time it changes, for the leftovers record. @default - not recorded */
  readonly onState?: (state: Ec2MoveState) => Promise<void>;
}

interface NodeInstance {
  readonly name: string;
  readonly instanceId: string;
  readonly zone: string;
}

const errorName = (error: unknown): string => (error as { name?: string }).name ?? 'Error';
const errorText = (error: unknown): string => `${errorName(error)}: ${(error as Error).message}`;

export class Ec2VolumeMover implements VolumeMover {
  private stage: Stage = 'unchecked';
  private nodes: Record<Role, NodeInstance> | undefined;
  private original: Volume | undefined;
  private snapshotId: string | undefined;
  private cloneId: string | undefined;

  constructor(private readonly options: Ec2VolumeOptions) {}

  /** Takes up a move from its recorded state (cleanup of an interrupted run). */
  resume(state: Ec2MoveState): this {
    this.stage = state.stage;
    this.nodes = state.nodes;
    this.snapshotId = state.snapshotId;
    this.cloneId = state.cloneId;
    return this;
  }

  private async changed(change: Partial<Ec2MoveState>): Promise<void> {
    if (change.stage) this.stage = change.stage;
    if (change.nodes) this.nodes = change.nodes;
    if (change.snapshotId) this.snapshotId = change.snapshotId;
    if (change.cloneId) this.cloneId = change.cloneId;
    await this.options.onState?.({
      stage: this.stage,
      ...(this.nodes ? { nodes: this.nodes } : {}),
      ...(this.snapshotId ? { snapshotId: this.snapshotId } : {}),
      ...(this.cloneId ? { cloneId: this.cloneId } : {}),
    });
  }

  get label(): string {
    return `${this.options.volumeId} (${this.options.region})`;
  }

  async prepare(host: VolumeHost): Promise<void> {
    const { volumeId, source } = this.options;
    const volume = await this.describeVolume(volumeId);
    this.original = volume;
    const nodes = await this.findInstances();
    await this.changed({ nodes });
    if (volume.AvailabilityZone !== nodes.source.zone)
      throw new ExternalError(
        `transfer.ebs.volume: ${volumeId} is in ${volume.AvailabilityZone}, but the source ${source.name} runs in ${nodes.source.zone}; a volume attaches only in its own zone, so name the source node's volume (servers.yaml aws.ebs_volumes)`,
        { step: 'ebs prepare' },
      );
    const attachedTo = volume.Attachments?.find((a) => a.State === 'attached' || a.State === 'attaching')?.InstanceId;
    const device = nvmeDevice(volumeId);
    if (attachedTo === nodes.source.instanceId) {
      if (!(await host.isMounted('source', device))) {
        await host.waitForDevice('source', device);
        await host.mount('source', device);
      }
    } else if (attachedTo === nodes.destination.instanceId) {
      // An earlier run left it on the destination: bring it back before anything is frozen.
      if (await host.isMounted('destination', device)) await host.unmount('destination');
      await this.detach(volumeId, nodes.destination);
      await this.attach(volumeId, nodes.source);
      await host.waitForDevice('source', device);
      await host.mount('source', device);
    } else if (attachedTo !== undefined) {
      throw new ExternalError(
        `transfer.ebs.volume: ${volumeId} is attached to ${attachedTo}, which is neither the source ${source.name} (${nodes.source.instanceId}) nor the destination; detach it there first (aws ec2 detach-volume --volume-id ${volumeId})`,
        { step: 'ebs prepare' },
      );
    } else {
      await this.attach(volumeId, nodes.source);
      await host.waitForDevice('source', device);
      await host.mount('source', device);
    }
    await this.changed({ stage: 'on-source' });
  }

  async handOver(_host: VolumeHost, step: StepRunner): Promise<string> {
    const nodes = this.requireNodes();
    const { volumeId } = this.options;
    await this.changed({ stage: 'unmounted' });
    if (nodes.destination.zone === nodes.source.zone) {
      await step('detach', () => this.detach(volumeId, nodes.source));
      await this.changed({ stage: 'attaching' });
      await step('attach', () => this.attach(volumeId, nodes.destination));
      await this.changed({ stage: 'on-destination' });
      return nvmeDevice(volumeId);
    }
    // Across zones the volume cannot follow: its data does, through a snapshot.
    const snapshotId = await step('snapshot', () => this.snapshot(volumeId));
    const cloneId = await step('create volume', () => this.createVolume(snapshotId, nodes.destination.zone));
    await this.changed({ stage: 'attaching' });
    await step('attach', () => this.attach(cloneId, nodes.destination));
    await this.changed({ stage: 'on-destination' });
    return nvmeDevice(cloneId);
  }

  async cleanup(host: VolumeHost): Promise<void> {
    const failures: string[] = [];
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        failures.push(`${what}: ${(error as Error).message}`);
      }
    };
    const nodes = this.nodes;
    const { volumeId } = this.options;
    if (nodes && this.cloneId) {
      const cloneId = this.cloneId;
      await attempt(`unmount ${cloneId} on ${nodes.destination.name}`, async () => {
        if (await host.isMounted('destination', nvmeDevice(cloneId))) await host.unmount('destination');
      });
      await attempt(`detach ${cloneId}`, async () => {
        const clone = await this.describeVolume(cloneId);
        if ((clone.Attachments ?? []).length > 0) await this.detach(cloneId, nodes.destination, true);
      });
      await attempt(`delete ${cloneId}`, () => this.retry('DeleteVolume', () => this.options.client.send(new DeleteVolumeCommand({ VolumeId: cloneId }))));
    }
    if (this.snapshotId) {
      const snapshotId = this.snapshotId;
      await attempt(`delete ${snapshotId}`, () =>
        this.retry('DeleteSnapshot', () => this.options.client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }))),
      );
    }
    if (nodes && this.stage !== 'on-destination' && this.stage !== 'unchecked' && this.stage !== 'on-source') {
      // The original volume was left between nodes by a failed move: put it back on the source.
      await attempt(`return ${volumeId} to ${nodes.source.name}`, async () => {
        const volume = await this.describeVolume(volumeId);
        const attachedTo = volume.Attachments?.[0]?.InstanceId;
        if (attachedTo !== undefined && attachedTo !== nodes.source.instanceId) await this.detach(volumeId, nodes.destination, true);
        if (attachedTo !== nodes.source.instanceId) await this.attach(volumeId, nodes.source);
        await host.waitForDevice('source', nvmeDevice(volumeId));
        if (!(await host.isMounted('source', nvmeDevice(volumeId)))) await host.mount('source', nvmeDevice(volumeId));
      });
    } else if (nodes && this.cloneId && this.stage === 'on-destination') {
      // Across zones the original stayed on the source, unmounted for a consistent snapshot.
      await attempt(`remount ${volumeId} on ${nodes.source.name}`, async () => {
        if (!(await host.isMounted('source', nvmeDevice(volumeId)))) await host.mount('source', nvmeDevice(volumeId));
      });
    }
    if (failures.length > 0) throw new ExternalError(`ebs cleanup left something behind:\n  - ${failures.join('\n  - ')}`, { step: 'ebs cleanup' });
  }

  private requireNodes(): Record<Role, NodeInstance> {
    if (!this.nodes) throw new Error('internal: ebs handOver before prepare');
    return this.nodes;
  }

  /** One EC2 call; throttling is retried with doubling pauses, anything else thrown as it is. */
  private async retry<T>(operation: string, call: () => Promise<T>): Promise<T> {
    const attempts = this.options.throttleAttempts ?? 5;
    const firstDelayMs = this.options.throttleDelayMs ?? 1000;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (!THROTTLING.has(errorName(error))) throw error;
        if (attempt >= attempts)
          throw new ExternalError(
            `EC2 throttled ${operation} ${attempts} times in a row (${errorText(error)}); the account's API rate is exhausted, try again in a minute`,
            { step: 'ebs' },
          );
        await sleep(firstDelayMs * 2 ** (attempt - 1));
      }
    }
  }

  private waiter() {
    return { client: this.options.client, maxWaitTime: this.options.waitS, ...WAITER_DELAYS_S };
  }

  private async describeVolume(volumeId: string): Promise<Volume> {
    try {
      const result = await this.retry('DescribeVolumes', () => this.options.client.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] })));
      const volume = result.Volumes?.[0];
      if (volume) return volume;
    } catch (error) {
      if (errorName(error) !== 'InvalidVolume.NotFound' && errorName(error) !== 'InvalidVolumeID.Malformed')
        throw this.external(`cannot describe ${volumeId}`, error);
    }
    throw new ExternalError(
      `transfer.ebs.volume: volume ${volumeId} does not exist in ${this.options.region}; set transfer.ebs.volume to an existing volume (servers.yaml aws.ebs_volumes lists the stack's)`,
      { step: 'ebs prepare' },
    );
  }

  private async findInstances(): Promise<Record<Role, NodeInstance>> {
    const { source, destination, stack } = this.options;
    const result = await this.retry('DescribeInstances', () =>
      this.options.client.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: 'private-ip-address', Values: [source.ip, destination.ip] },
            { Name: `tag:${STACK_TAG_KEY}`, Values: [stack] },
            { Name: 'instance-state-name', Values: ['running'] },
          ],
        }),
      ),
    );
    const instances = (result.Reservations ?? []).flatMap((r) => r.Instances ?? []);
    const find = (node: { name: string; ip: string }): NodeInstance => {
      const instance = instances.find((i) => i.PrivateIpAddress === node.ip);
      if (!instance?.InstanceId || !instance.Placement?.AvailabilityZone)
        throw new ExternalError(
          `ebs: no running instance of stack ${stack} has the address ${node.ip} (${node.name}); is servers.yaml from this stack's deploy?`,
          { step: 'ebs prepare' },
        );
      return { name: node.name, instanceId: instance.InstanceId, zone: instance.Placement.AvailabilityZone };
    };
    return { source: find(source), destination: find(destination) };
  }

  private async detach(volumeId: string, from: NodeInstance, force = false): Promise<void> {
    try {
      await this.retry('DetachVolume', () =>
        this.options.client.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: from.instanceId, ...(force ? { Force: true } : {}) })),
      );
    } catch (error) {
      throw this.external(`cannot detach ${volumeId} from ${from.name} (${from.instanceId})`, error);
    }
    await this.wait(`${volumeId} to detach from ${from.name} (${from.instanceId})`, () => waitUntilVolumeAvailable(this.waiter(), { VolumeIds: [volumeId] }));
  }

  private async attach(volumeId: string, to: NodeInstance): Promise<void> {
    try {
      await this.retry('AttachVolume', () =>
        this.options.client.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: to.instanceId, Device: ATTACH_DEVICE })),
      );
    } catch (error) {
      const hint =
        errorName(error) === 'VolumeInUse' ? '; it is still attached to another instance: detach it there, or wait for an earlier detach to finish' : '';
      throw this.external(`cannot attach ${volumeId} to ${to.name} (${to.instanceId})`, error, hint);
    }
    await this.wait(`${volumeId} to attach to ${to.name} (${to.instanceId})`, () => waitUntilVolumeInUse(this.waiter(), { VolumeIds: [volumeId] }));
  }

  private async snapshot(volumeId: string): Promise<string> {
    const created = await this.retry('CreateSnapshot', () =>
      this.options.client.send(
        new CreateSnapshotCommand({
          VolumeId: volumeId,
          Description: `criu-lab images of ${volumeId} for a cross-zone move`,
          TagSpecifications: [{ ResourceType: 'snapshot', Tags: this.tags(`${volumeId}-move`) }],
        }),
      ),
    ).catch((error: unknown) => {
      throw this.external(`cannot snapshot ${volumeId}`, error);
    });
    const snapshotId = created.SnapshotId;
    if (!snapshotId) throw new ExternalError(`EC2 CreateSnapshot of ${volumeId} returned no snapshot id`, { step: 'ebs' });
    await this.changed({ snapshotId });
    await this.wait(`snapshot ${snapshotId} of ${volumeId} to complete`, () => waitUntilSnapshotCompleted(this.waiter(), { SnapshotIds: [snapshotId] }));
    return snapshotId;
  }

  private async createVolume(snapshotId: string, zone: string): Promise<string> {
    const created = await this.retry('CreateVolume', () =>
      this.options.client.send(
        new CreateVolumeCommand({
          SnapshotId: snapshotId,
          AvailabilityZone: zone,
          VolumeType: this.original?.VolumeType ?? 'gp3',
          TagSpecifications: [{ ResourceType: 'volume', Tags: this.tags(`${this.options.volumeId}-copy`) }],
        }),
      ),
    ).catch((error: unknown) => {
      throw this.external(`cannot create a volume from ${snapshotId} in ${zone}`, error);
    });
    const volumeId = created.VolumeId;
    if (!volumeId) throw new ExternalError(`EC2 CreateVolume from ${snapshotId} returned no volume id`, { step: 'ebs' });
    await this.changed({ cloneId: volumeId });
    await this.wait(`${volumeId} (from ${snapshotId}) to become available in ${zone}`, () =>
      waitUntilVolumeAvailable(this.waiter(), { VolumeIds: [volumeId] }),
    );
    return volumeId;
  }

  private tags(name: string): Tag[] {
    return [
      { Key: STACK_TAG_KEY, Value: this.options.stack },
      { Key: 'Name', Value: name },
    ];
  }

  private async wait(what: string, waiter: () => Promise<unknown>): Promise<void> {
    try {
      await waiter();
    } catch (error) {
      if (errorName(error) === 'TimeoutError')
        throw new ExternalError(`ebs: waited ${this.options.waitS} s for ${what}; it did not happen (raise transfer.ebs.wait_s if the zone is slow)`, {
          step: 'ebs',
        });
      throw this.external(`ebs: waiting for ${what} failed`, error);
    }
  }

  private external(what: string, error: unknown, hint = ''): ExternalError {
    if (error instanceof ExternalError) return error;
    return new ExternalError(`${what}: ${errorText(error)}${hint}`, { step: 'ebs' });
  }
}
