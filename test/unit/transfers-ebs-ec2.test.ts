// The EBS transfer's EC2 control plane against a mocked EC2 (the one edge that cannot run here):
// the exact calls of a same-zone and a cross-zone move, the waiters' 1-2 s polling, and each
// failure (missing volume, VolumeInUse, an attach that never completes, throttling) as a clear
// error followed by a cleanup that puts the volume back.
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  AttachVolumeCommand,
  CreateSnapshotCommand,
  CreateVolumeCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2Client,
  type Volume,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2VolumeMover, WAITER_DELAYS_S } from '../../experiments/transfers/ebs-ec2.js';
import { nvmeDevice } from '../../experiments/transfers/ebs-ec2-state.js';
import type { Role } from '../../core/node.js';
import type { StepRunner, VolumeHost } from '../../experiments/transfers/ebs-volume.js';

const ec2 = mockClient(EC2Client);
const VOLUME = 'vol-0a1b2c3d4e5f60718';
const CLONE = 'vol-0ffff00000000c10e';
const SNAPSHOT = 'snap-0123456789abcdef0';
const SOURCE = { name: 'az-a-node-0', ip: '10.42.1.10', instanceId: 'i-0a10000000000000a', zone: 'us-west-2a' };
const SAME_ZONE_DEST = { name: 'az-a-node-1', ip: '10.42.1.11', instanceId: 'i-0a10000000000000b', zone: 'us-west-2a' };
const OTHER_ZONE_DEST = { name: 'az-c-node-0', ip: '10.42.2.10', instanceId: 'i-0c10000000000000a', zone: 'us-west-2c' };

type Dest = typeof SAME_ZONE_DEST;

/** A node side that records what the mover asked for; the volume starts mounted on the source. */
class FakeHost implements VolumeHost {
  readonly mountPath = '/mnt/ebs';
  readonly calls: string[] = [];
  readonly mounted = new Map<Role, string>([['source', nvmeDevice(VOLUME)]]);
  async isMounted(role: Role, device: string) {
    return this.mounted.get(role) === device;
  }
  async anythingMounted(role: Role) {
    return this.mounted.has(role);
  }
  async hasDevice() {
    return true;
  }
  async waitForDevice(role: Role, device: string) {
    this.calls.push(`wait ${role} ${device}`);
  }
  async mount(role: Role, device: string) {
    this.calls.push(`mount ${role} ${device}`);
    this.mounted.set(role, device);
  }
  async unmount(role: Role) {
    this.calls.push(`unmount ${role}`);
    this.mounted.delete(role);
  }
}

const volume = (state: Volume['State'], attachedTo?: string, attachment: 'attached' | 'attaching' = 'attached', id = VOLUME, zone = 'us-west-2a'): Volume => ({
  VolumeId: id,
  State: state,
  AvailabilityZone: zone,
  VolumeType: 'gp3',
  Attachments: attachedTo ? [{ InstanceId: attachedTo, State: attachment, VolumeId: id }] : [],
});

function instances(dest: Dest) {
  return {
    Reservations: [{ Instances: [SOURCE, dest].map((n) => ({ InstanceId: n.instanceId, PrivateIpAddress: n.ip, Placement: { AvailabilityZone: n.zone } })) }],
  };
}

function mover(dest: Dest, waitS = 30) {
  return new Ec2VolumeMover({
    client: new EC2Client({ region: 'us-west-2' }),
    region: 'us-west-2',
    volumeId: VOLUME,
    stack: 'criu-lab',
    source: { name: SOURCE.name, ip: SOURCE.ip },
    destination: { name: dest.name, ip: dest.ip },
    waitS,
    throttleAttempts: 3,
    throttleDelayMs: 10,
  });
}

/** Runs each step and records its name, as the transfer does (it also times them). */
function stepRecorder(): { names: string[]; step: StepRunner } {
  const names: string[] = [];
  return { names, step: (name, work) => (names.push(name), work()) };
}

const callNames = () => ec2.calls().map((call) => (call.args[0] as object).constructor.name.replace(/Command$/, ''));
const inputOf = (index: number) => (ec2.call(index).args[0] as { input: unknown }).input;
const awsError = (name: string, message: string) => Object.assign(new Error(message), { name });

beforeEach(() => {
  ec2.reset();
});
afterEach(() => {
  ec2.reset();
});

describe('an EBS move within one zone', () => {
  it('detaches from the source and attaches to the destination, in exactly these calls', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('available')] })
      .resolvesOnce({ Volumes: [volume('in-use', SAME_ZONE_DEST.instanceId)] });
    ec2.on(DetachVolumeCommand).resolves({});
    ec2.on(AttachVolumeCommand).resolves({});
    const host = new FakeHost();
    const move = mover(SAME_ZONE_DEST);
    const { names, step } = stepRecorder();

    await move.prepare(host);
    const device = await move.handOver(host, step);
    await move.cleanup(host);

    expect(callNames()).toEqual(['DescribeVolumes', 'DescribeInstances', 'DetachVolume', 'DescribeVolumes', 'AttachVolume', 'DescribeVolumes']);
    expect(inputOf(1)).toEqual({
      Filters: [
        { Name: 'private-ip-address', Values: [SOURCE.ip, SAME_ZONE_DEST.ip] },
        { Name: 'tag:criu-lab:stack', Values: ['criu-lab'] },
        { Name: 'instance-state-name', Values: ['running'] },
      ],
    });
    expect(inputOf(2)).toEqual({ VolumeId: VOLUME, InstanceId: SOURCE.instanceId });
    expect(inputOf(4)).toEqual({ VolumeId: VOLUME, InstanceId: SAME_ZONE_DEST.instanceId, Device: '/dev/sdf' });
    expect(names).toEqual(['detach', 'attach']);
    expect(device).toBe('/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0a1b2c3d4e5f60718');
    // Already mounted on the source, and left on the destination after a successful move.
    expect(host.calls).toEqual([]);
  });

  it('brings a volume an earlier run left on the destination back to the source before the freeze', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SAME_ZONE_DEST.instanceId)] })
      .resolvesOnce({ Volumes: [volume('available')] })
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] });
    ec2.on(DetachVolumeCommand).resolves({});
    ec2.on(AttachVolumeCommand).resolves({});
    const host = new FakeHost();
    host.mounted.clear();
    host.mounted.set('destination', nvmeDevice(VOLUME));

    await mover(SAME_ZONE_DEST).prepare(host);

    expect(callNames()).toEqual(['DescribeVolumes', 'DescribeInstances', 'DetachVolume', 'DescribeVolumes', 'AttachVolume', 'DescribeVolumes']);
    expect(inputOf(2)).toEqual({ VolumeId: VOLUME, InstanceId: SAME_ZONE_DEST.instanceId });
    expect(inputOf(4)).toMatchObject({ InstanceId: SOURCE.instanceId });
    expect(host.calls).toEqual(['unmount destination', `wait source ${nvmeDevice(VOLUME)}`, `mount source ${nvmeDevice(VOLUME)}`]);
  });

  it('polls a volume state change every 1-2 s, not at the SDK default of 15 s', async () => {
    expect(WAITER_DELAYS_S).toEqual({ minDelay: 1, maxDelay: 2 });
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolves({ Volumes: [volume('available')] });
    ec2.on(DetachVolumeCommand).resolves({});
    ec2.on(AttachVolumeCommand).rejects(awsError('VolumeInUse', 'stop here'));
    const move = mover(SAME_ZONE_DEST);
    await move.prepare(new FakeHost());
    const started = Date.now();
    await expect(move.handOver(new FakeHost(), stepRecorder().step)).rejects.toThrow(/VolumeInUse/);
    const elapsedS = (Date.now() - started) / 1000;
    // Two "still attached" answers, then "available": two pauses of 1-2 s each.
    expect(elapsedS).toBeGreaterThanOrEqual(1.5);
    expect(elapsedS).toBeLessThan(5);
    expect(callNames().slice(2, 6)).toEqual(['DetachVolume', 'DescribeVolumes', 'DescribeVolumes', 'DescribeVolumes']);
  }, 15_000);
});

describe('an EBS move across zones', () => {
  it('snapshots, creates a tagged volume in the destination zone, attaches it, and deletes both afterwards', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(OTHER_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('available', undefined, 'attached', CLONE, 'us-west-2c')] })
      .resolvesOnce({ Volumes: [volume('in-use', OTHER_ZONE_DEST.instanceId, 'attached', CLONE, 'us-west-2c')] })
      .resolvesOnce({ Volumes: [volume('in-use', OTHER_ZONE_DEST.instanceId, 'attached', CLONE, 'us-west-2c')] })
      .resolvesOnce({ Volumes: [volume('available', undefined, 'attached', CLONE, 'us-west-2c')] });
    ec2.on(CreateSnapshotCommand).resolves({ SnapshotId: SNAPSHOT });
    ec2.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotId: SNAPSHOT, State: 'completed' }] });
    ec2.on(CreateVolumeCommand).resolves({ VolumeId: CLONE });
    ec2.on(AttachVolumeCommand).resolves({});
    ec2.on(DetachVolumeCommand).resolves({});
    ec2.on(DeleteVolumeCommand).resolves({});
    ec2.on(DeleteSnapshotCommand).resolves({});
    const host = new FakeHost();
    const move = mover(OTHER_ZONE_DEST);
    const { names, step } = stepRecorder();

    await move.prepare(host);
    host.mounted.delete('source'); // the transfer unmounts the source before the hand-over
    const device = await move.handOver(host, step);
    host.mounted.set('destination', device);
    await move.cleanup(host);

    expect(names).toEqual(['snapshot', 'create volume', 'attach']);
    expect(device).toBe(nvmeDevice(CLONE));
    expect(callNames()).toEqual([
      'DescribeVolumes',
      'DescribeInstances',
      'CreateSnapshot',
      'DescribeSnapshots',
      'CreateVolume',
      'DescribeVolumes',
      'AttachVolume',
      'DescribeVolumes',
      'DescribeVolumes',
      'DetachVolume',
      'DescribeVolumes',
      'DeleteVolume',
      'DeleteSnapshot',
    ]);
    const stackTag = { Key: 'criu-lab:stack', Value: 'criu-lab' };
    expect(inputOf(2)).toMatchObject({ VolumeId: VOLUME, TagSpecifications: [{ ResourceType: 'snapshot', Tags: expect.arrayContaining([stackTag]) }] });
    expect(inputOf(4)).toMatchObject({
      SnapshotId: SNAPSHOT,
      AvailabilityZone: 'us-west-2c',
      VolumeType: 'gp3',
      TagSpecifications: [{ ResourceType: 'volume', Tags: expect.arrayContaining([stackTag]) }],
    });
    expect(inputOf(6)).toEqual({ VolumeId: CLONE, InstanceId: OTHER_ZONE_DEST.instanceId, Device: '/dev/sdf' });
    expect(inputOf(9)).toEqual({ VolumeId: CLONE, InstanceId: OTHER_ZONE_DEST.instanceId, Force: true });
    expect(inputOf(11)).toEqual({ VolumeId: CLONE });
    expect(inputOf(12)).toEqual({ SnapshotId: SNAPSHOT });
    // The copy is unmounted before its detach; the original goes back into service on the source.
    expect(host.calls).toEqual(['unmount destination', `mount source ${nvmeDevice(VOLUME)}`]);
  });
});

describe('EBS failures', () => {
  it('fails before anything moves when the volume does not exist, naming the setting', async () => {
    ec2.on(DescribeVolumesCommand).rejects(awsError('InvalidVolume.NotFound', `The volume '${VOLUME}' does not exist.`));
    const host = new FakeHost();
    const move = mover(SAME_ZONE_DEST);

    await expect(move.prepare(host)).rejects.toThrow(`transfer.ebs.volume: volume ${VOLUME} does not exist in us-west-2`);
    await move.cleanup(host);

    expect(callNames()).toEqual(['DescribeVolumes']);
    expect(host.calls).toEqual([]);
  });

  it('reports VolumeInUse on attach, then re-attaches the volume to the source and mounts it', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('available')] })
      .resolvesOnce({ Volumes: [volume('available')] })
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] });
    ec2.on(DetachVolumeCommand).resolves({});
    ec2
      .on(AttachVolumeCommand)
      .rejectsOnce(awsError('VolumeInUse', `${VOLUME} is already attached to an instance`))
      .resolves({});
    const host = new FakeHost();
    const move = mover(SAME_ZONE_DEST);
    await move.prepare(host);
    host.mounted.delete('source');

    await expect(move.handOver(host, stepRecorder().step)).rejects.toThrow(
      `cannot attach ${VOLUME} to ${SAME_ZONE_DEST.name} (${SAME_ZONE_DEST.instanceId}): VolumeInUse: ${VOLUME} is already attached to an instance; it is still attached to another instance`,
    );
    await move.cleanup(host);

    expect(callNames()).toEqual([
      'DescribeVolumes',
      'DescribeInstances',
      'DetachVolume',
      'DescribeVolumes',
      'AttachVolume',
      'DescribeVolumes',
      'AttachVolume',
      'DescribeVolumes',
    ]);
    expect(inputOf(6)).toMatchObject({ VolumeId: VOLUME, InstanceId: SOURCE.instanceId });
    expect(host.calls).toEqual([`wait source ${nvmeDevice(VOLUME)}`, `mount source ${nvmeDevice(VOLUME)}`]);
  });

  it('gives up on an attach that never completes within transfer.ebs.wait_s, then force-detaches it and returns it to the source', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('available')] })
      // The attach hangs: the volume stays "available" with the attachment pending until the waiter gives up.
      .resolvesOnce({ Volumes: [volume('available', SAME_ZONE_DEST.instanceId, 'attaching')] })
      .resolvesOnce({ Volumes: [volume('available', SAME_ZONE_DEST.instanceId, 'attaching')] })
      .resolvesOnce({ Volumes: [volume('available', SAME_ZONE_DEST.instanceId, 'attaching')] })
      // cleanup: still pending on the destination → force detach → available → attach to the source → in use
      .resolvesOnce({ Volumes: [volume('available', SAME_ZONE_DEST.instanceId, 'attaching')] })
      .resolvesOnce({ Volumes: [volume('available')] })
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] });
    ec2.on(DetachVolumeCommand).resolves({});
    ec2.on(AttachVolumeCommand).resolves({});
    const host = new FakeHost();
    const move = mover(SAME_ZONE_DEST, 2);
    await move.prepare(host);
    host.mounted.delete('source');

    await expect(move.handOver(host, stepRecorder().step)).rejects.toThrow(
      `ebs: waited 2 s for ${VOLUME} to attach to ${SAME_ZONE_DEST.name} (${SAME_ZONE_DEST.instanceId}); it did not happen (raise transfer.ebs.wait_s if the zone is slow)`,
    );
    const afterTimeout = ec2.calls().length;
    await move.cleanup(host);

    expect(callNames().slice(afterTimeout)).toEqual(['DescribeVolumes', 'DetachVolume', 'DescribeVolumes', 'AttachVolume', 'DescribeVolumes']);
    expect(inputOf(afterTimeout + 1)).toEqual({ VolumeId: VOLUME, InstanceId: SAME_ZONE_DEST.instanceId, Force: true });
    expect(inputOf(afterTimeout + 3)).toMatchObject({ InstanceId: SOURCE.instanceId });
    expect(host.calls).toEqual([`wait source ${nvmeDevice(VOLUME)}`, `mount source ${nvmeDevice(VOLUME)}`]);
  }, 15_000);

  it('retries a throttled call and goes on', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [volume('in-use', SOURCE.instanceId)] })
      .resolvesOnce({ Volumes: [volume('available')] })
      .resolvesOnce({ Volumes: [volume('in-use', SAME_ZONE_DEST.instanceId)] });
    ec2.on(DetachVolumeCommand).rejectsOnce(awsError('RequestLimitExceeded', 'Request limit exceeded.')).resolves({});
    ec2.on(AttachVolumeCommand).resolves({});
    const move = mover(SAME_ZONE_DEST);
    await move.prepare(new FakeHost());

    await expect(move.handOver(new FakeHost(), stepRecorder().step)).resolves.toBe(nvmeDevice(VOLUME));
    expect(callNames()).toEqual(['DescribeVolumes', 'DescribeInstances', 'DetachVolume', 'DetachVolume', 'DescribeVolumes', 'AttachVolume', 'DescribeVolumes']);
  });

  it('stops retrying a call EC2 keeps throttling, with an error that says so', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instances(SAME_ZONE_DEST));
    ec2.on(DescribeVolumesCommand).resolves({ Volumes: [volume('in-use', SOURCE.instanceId)] });
    ec2.on(DetachVolumeCommand).rejects(awsError('ThrottlingException', 'Rate exceeded'));
    const host = new FakeHost();
    const move = mover(SAME_ZONE_DEST);
    await move.prepare(host);
    host.mounted.delete('source');

    await expect(move.handOver(host, stepRecorder().step)).rejects.toThrow(
      "EC2 throttled DetachVolume 3 times in a row (ThrottlingException: Rate exceeded); the account's API rate is exhausted, try again in a minute",
    );
    await move.cleanup(host);
    // Still attached to the source: cleanup only mounts it again.
    expect(host.calls).toEqual([`wait source ${nvmeDevice(VOLUME)}`, `mount source ${nvmeDevice(VOLUME)}`]);
  });
});
