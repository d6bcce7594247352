// `criu-lab infra bake` against moto: CreateImage of a running instance (leaving the EBS
// transfer's volume out), the wait until the image is available, its tags, the config's `ami` set with a comment and every other line kept, and a
// half-made image taken back (deregistered, its snapshots deleted) on Ctrl-C. What moto cannot do,
// an image that EC2 fails, is mocked at the SDK edge.
import {
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RunInstancesCommand,
  DeregisterImageCommand,
  CreateImageCommand,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ExternalError, UsageError } from '../../core/errors.js';
import { BAKED_CRIU_VERSION, bakeImage, CRIU_VERSION_TAG_KEY, useBakedImage, type BakedImage } from '../../infra/aws/bake.js';
import { IMAGE_VOLUME_DEVICE } from '../../infra/aws/ebs.js';
import type { StackOutputs } from '../../infra/aws/outputs.js';
import { loadInfraProps } from '../../infra/aws/props.js';
import { MOTO_IMAGE_ID } from '../../infra/aws/rehearsal/rehearse.js';
import { REHEARSAL_CREDENTIALS } from '../../infra/aws/rehearsal/target.js';
import { findMotoServer, freeLoopbackPort, killMoto, motoMissingReason, startMoto } from '../../infra/local/moto.js';
import { PROJECT_ROOT } from './helpers.js';

const missing = motoMissingReason();
const describeWithMoto = missing === undefined ? describe : describe.skip;
if (missing !== undefined) process.stderr.write(`test/infra/bake: skipped, ${missing}\n`);

const REGION = 'us-west-2';
const dir = mkdtempSync(join(tmpdir(), 'criu-lab-bake-'));
const quiet = { log: () => undefined };
let motoPid: number | undefined;
let ec2: EC2Client;
let outputs: StackOutputs;
/** The CreateImage requests as sent to moto (form-encoded EC2 query bodies). */
const createImageRequests: URLSearchParams[] = [];

const outputsFor = (instanceId: string): StackOutputs => ({
  stack: 'criu-lab',
  region: REGION,
  ssh_user: 'admin',
  bastion: { name: 'bastion', ip: '10.42.0.4', private_ip: '10.42.0.4', instance_id: 'i-0bastion' },
  nodes: [{ name: 'az-a-node-0', ip: '10.42.10.5', instance_id: instanceId, zone: 'az_a', availability_zone: `${REGION}a` }],
  ebs_volumes: {},
});

afterAll(() => {
  if (motoPid !== undefined) killMoto(motoPid);
  rmSync(dir, { recursive: true, force: true });
});

describeWithMoto('infra bake against moto', () => {
  beforeAll(async () => {
    const found = findMotoServer();
    if (!('command' in found)) throw new Error(found.missing);
    const moto = await startMoto(found.command, {
      address: '127.0.0.1',
      port: await freeLoopbackPort(),
      logPath: join(dir, 'moto.log'),
      timeoutMs: 30_000,
      diesWithOwner: true,
      onSpawn: (pid) => (motoPid = pid),
    });
    ec2 = new EC2Client({ endpoint: moto.endpoint, region: REGION, credentials: REHEARSAL_CREDENTIALS, maxAttempts: 2 });
    ec2.middlewareStack.add(
      (next, context) => async (args) => {
        const body = (args.request as { body?: unknown }).body;
        if (context.commandName === 'CreateImageCommand' && typeof body === 'string') createImageRequests.push(new URLSearchParams(body));
        return next(args);
      },
      { step: 'finalizeRequest', name: 'captureCreateImage' },
    );
    const launched = await ec2.send(new RunInstancesCommand({ ImageId: MOTO_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
    outputs = outputsFor(launched.Instances?.[0]?.InstanceId ?? '');
  }, 60_000);

  let baked: BakedImage;
  it('images the first node and waits until the image is available, tagged with the CRIU version', async () => {
    baked = await bakeImage(ec2, outputs, { timeoutMs: 60_000, pollMs: 100, now: new Date('2026-12-06T04:00:00Z'), ...quiet });
    expect(baked).toMatchObject({ name: `criu-lab-criu-${BAKED_CRIU_VERSION}-20261206-040000`, fromNode: 'az-a-node-0', region: REGION, sshUser: 'admin' });
    const image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [baked.imageId] }))).Images?.[0];
    expect(image?.State).toBe('available');
    expect(image?.Tags).toEqual(
      expect.arrayContaining([
        { Key: CRIU_VERSION_TAG_KEY, Value: BAKED_CRIU_VERSION },
        { Key: 'criu-lab:stack', Value: 'criu-lab' },
      ]),
    );
  });

  it("sets the config's ami to it, keeping every other line and saying where the image came from", () => {
    const config = join(dir, 'infra.yaml');
    copyFileSync(join(PROJECT_ROOT, 'config', 'infra.example.yaml'), config);
    writeFileSync(config, `${readFileSync(config, 'utf8')}operator_cidr: 198.51.100.7/32\n`);
    const before = readFileSync(config, 'utf8');
    useBakedImage(config, baked);
    const after = readFileSync(config, 'utf8');
    for (const line of before.split('\n').filter((l) => l.trim() !== '')) expect(after).toContain(line);
    expect(after).toContain(`# baked by \`criu-lab infra bake\`: ${baked.name} in ${REGION}, CRIU ${BAKED_CRIU_VERSION}, from az-a-node-0`);
    expect(loadInfraProps(config).machineImage).toEqual({ kind: 'image-id', imageId: baked.imageId, sshUser: 'admin' });
    // Baking again replaces the image, it does not add a second ami key.
    useBakedImage(config, { ...baked, imageId: 'ami-0123456789abcdef0' });
    expect(readFileSync(config, 'utf8').match(/^ami:/gm)).toHaveLength(1);
    expect(loadInfraProps(config).machineImage).toMatchObject({ imageId: 'ami-0123456789abcdef0' });
  });

  it("leaves the node's EBS volume out of the image, so it is not snapshotted nor copied to new instances", () => {
    // moto ignores CreateImage's BlockDeviceMappings (its image holds one root snapshot whatever
    // the instance has attached), so this reads the request as it went over the wire.
    const request = createImageRequests[0];
    expect(request?.get('BlockDeviceMapping.1.DeviceName')).toBe(IMAGE_VOLUME_DEVICE);
    expect(request?.get('BlockDeviceMapping.1.NoDevice')).toBe('');
  });

  it('refuses an unknown --from, naming the nodes', async () => {
    await expect(bakeImage(ec2, outputs, { from: 'nope', timeoutMs: 1000, pollMs: 100, ...quiet })).rejects.toThrow(
      new UsageError('--from nope: no such node in stack criu-lab; choose one of: az-a-node-0'),
    );
  });

  it('takes a half-made image back on Ctrl-C: deregistered, its snapshots deleted', async () => {
    const controller = new AbortController();
    controller.abort(new UsageError('interrupted'));
    const snapshotsBefore = (await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots?.length ?? 0;
    await expect(bakeImage(ec2, outputs, { timeoutMs: 60_000, pollMs: 100, signal: controller.signal, ...quiet })).rejects.toThrow('interrupted');
    const images = (await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }))).Images ?? [];
    expect(images.map((image) => image.ImageId)).toEqual([baked.imageId]);
    expect((await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots?.length ?? 0).toBe(snapshotsBefore);
  });
});

describe('infra bake when EC2 fails the image (mocked: moto cannot)', () => {
  it('names the state and reason and deregisters the image', async () => {
    const client = new EC2Client({ region: REGION });
    const mock = mockClient(client);
    mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0fa11ed0000000000' });
    mock
      .on(DescribeImagesCommand)
      .resolves({ Images: [{ ImageId: 'ami-0fa11ed0000000000', State: 'failed', StateReason: { Message: 'Client.InternalError' } }] });
    mock.on(DeregisterImageCommand).resolves({});
    const failed = bakeImage(client, outputsFor('i-0123'), { timeoutMs: 60_000, pollMs: 10, ...quiet });
    await expect(failed).rejects.toThrow(new ExternalError('image ami-0fa11ed0000000000 ended failed: Client.InternalError'));
    expect(mock.commandCalls(DeregisterImageCommand)).toHaveLength(1);
  });
});
