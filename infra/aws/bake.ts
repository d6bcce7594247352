// `criu-lab infra bake`: an image (AMI) of a node whose bootstrap finished (Debian's packages
// installed, CRIU built from source), so that a later stack boots from it and the same user_data
// finds everything in place: setup-host.sh says "nothing to do" instead of building CRIU, and a
// fresh cell is ready in seconds of setup instead of minutes. Once per region and CRIU version;
// the config's `ami` then names the image, written there with a comment saying where it came from.
import { CreateImageCommand, DeleteSnapshotCommand, DeregisterImageCommand, DescribeImagesCommand, type EC2Client, type Image } from '@aws-sdk/client-ec2';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMap, Pair, parseDocument, Scalar, type YAMLMap } from 'yaml';
import { ExternalError, UsageError } from '../../core/errors.js';
import { IMAGE_VOLUME_DEVICE } from './ebs.js';
import { STACK_TAG_KEY } from './iam.js';
import type { StackOutputs } from './outputs.js';

/** The CRIU setup-host.sh builds: an image is baked for one version (its tag says which). */
export const BAKED_CRIU_VERSION = '4.2.1';
export const CRIU_VERSION_TAG_KEY = 'criu-lab:criu-version';
export const BAKED_FROM_TAG_KEY = 'criu-lab:baked-from';

export interface BakeOptions {
  /** The node to image (a name from the stack's outputs). @default the first node */
  readonly from?: string;
  /** Image without stopping the node: faster, but a filesystem caught mid-write may be in the image. @default false */
  readonly noReboot?: boolean;
  /** How long EC2 may take to make the image available. */
  readonly timeoutMs: number;
  /** Between DescribeImages polls. */
  readonly pollMs: number;
  /** Stamped into the image's name. @default now */
  readonly now?: Date;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}

export interface BakedImage {
  readonly imageId: string;
  readonly name: string;
  readonly region: string;
  readonly fromNode: string;
  readonly fromInstance: string;
  readonly criuVersion: string;
  readonly sshUser: string;
  readonly durationMs: number;
}

const stamp = (now: Date) => now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');

/** Images the node `options.from` of a deployed stack and waits until EC2 says the image is available. */
export async function bakeImage(ec2: EC2Client, outputs: StackOutputs, options: BakeOptions): Promise<BakedImage> {
  const node = options.from === undefined ? outputs.nodes[0] : outputs.nodes.find((n) => n.name === options.from);
  if (node === undefined) {
    const names = outputs.nodes.map((n) => n.name).join(', ');
    throw new UsageError(
      options.from === undefined
        ? `stack ${outputs.stack} has no node to bake from`
        : `--from ${options.from}: no such node in stack ${outputs.stack}; choose one of: ${names}`,
    );
  }
  const started = performance.now();
  const name = `criu-lab-criu-${BAKED_CRIU_VERSION}-${stamp(options.now ?? new Date())}`;
  options.log(
    `baking ${name} from ${node.name} (${node.instance_id})${options.noReboot ? ' without stopping it' : '; EC2 stops and restarts it for a clean filesystem'}`,
  );
  const created = await ec2.send(
    new CreateImageCommand({
      InstanceId: node.instance_id,
      Name: name,
      Description: `criu-lab node image: Debian with the packages setup-host.sh installs and CRIU ${BAKED_CRIU_VERSION}, baked from stack ${outputs.stack}`,
      NoReboot: options.noReboot === true,
      // The EBS transfer's volume holds checkpoint images, not the system: without this the image
      // would snapshot it (100 GiB by default) and every instance booted from it would get a copy.
      BlockDeviceMappings: [{ DeviceName: IMAGE_VOLUME_DEVICE, NoDevice: '' }],
      TagSpecifications: [
        {
          ResourceType: 'image',
          Tags: [
            { Key: 'Name', Value: name },
            { Key: CRIU_VERSION_TAG_KEY, Value: BAKED_CRIU_VERSION },
            { Key: BAKED_FROM_TAG_KEY, Value: `${outputs.stack}/${node.name}` },
            { Key: STACK_TAG_KEY, Value: outputs.stack },
          ],
        },
      ],
    }),
  );
  const imageId = created.ImageId;
  if (imageId === undefined) throw new ExternalError(`CreateImage for ${node.instance_id} answered without an image id`);
  try {
    await untilAvailable(ec2, imageId, options);
  } catch (error) {
    // A half-made image would be found by the next deploy's config: take it and its snapshots back.
    await discardImage(ec2, imageId).catch((cleanup: unknown) =>
      options.log(`could not deregister ${imageId} (${cleanup instanceof Error ? cleanup.message : String(cleanup)}); deregister it in the EC2 console`),
    );
    throw error;
  }
  const durationMs = performance.now() - started;
  options.log(`${imageId} is available after ${(durationMs / 1000).toFixed(0)} s`);
  return {
    imageId,
    name,
    region: outputs.region,
    fromNode: node.name,
    fromInstance: node.instance_id,
    criuVersion: BAKED_CRIU_VERSION,
    sshUser: outputs.ssh_user,
    durationMs,
  };
}

async function describe(ec2: EC2Client, imageId: string): Promise<Image | undefined> {
  const answer = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  return answer.Images?.[0];
}

async function untilAvailable(ec2: EC2Client, imageId: string, options: BakeOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal?.throwIfAborted();
    const image = await describe(ec2, imageId);
    const state = image?.State;
    if (state === 'available') return;
    if (state === 'failed' || state === 'error' || state === 'invalid' || state === 'deregistered') {
      throw new ExternalError(`image ${imageId} ended ${state}: ${image?.StateReason?.Message ?? 'EC2 gave no reason'}`);
    }
    if (Date.now() > deadline) {
      throw new ExternalError(`image ${imageId} is still ${state ?? 'unknown'} after ${options.timeoutMs / 60_000} min; raise --timeout`);
    }
    await sleep(options.pollMs, undefined, { signal: options.signal });
  }
}

/** Deregisters an image and deletes the snapshots CreateImage made for it. */
export async function discardImage(ec2: EC2Client, imageId: string): Promise<void> {
  const image = await describe(ec2, imageId);
  await ec2.send(new DeregisterImageCommand({ ImageId: imageId }));
  const snapshots = (image?.BlockDeviceMappings ?? []).map((mapping) => mapping.Ebs?.SnapshotId).filter((id): id is string => id !== undefined);
  for (const snapshotId of snapshots) await ec2.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
}

/**
 * Sets the config's `ami` to the baked image, keeping the file's comments and every other key.
 * The comment says what the image holds, so a later reader knows when to bake again; `by` and
 * `where` say what made it and where it lives (a rehearsal's image exists only on this machine).
 */
export function useBakedImage(configPath: string, baked: BakedImage, { by = '`criu-lab infra bake`', where = `in ${baked.region}` } = {}): void {
  const document = parseDocument(readFileSync(configPath, 'utf8'));
  if (document.errors.length > 0) throw new UsageError(`${configPath}: ${document.errors[0]?.message}`);
  const settings: unknown = document.contents;
  if (!isMap(settings)) throw new UsageError(`${configPath}: the top level is not a mapping of settings`);
  const map = settings as YAMLMap<unknown, unknown>;
  map.delete('ami');
  const key = new Scalar('ami');
  key.commentBefore = ` baked by ${by}: ${baked.name} ${where}, CRIU ${baked.criuVersion}, from ${baked.fromNode}; delete this key to boot Debian's own image again`;
  map.add(new Pair(key, document.createNode({ id: baked.imageId, ssh_user: baked.sshUser })));
  writeFileSync(configPath, document.toString());
}
