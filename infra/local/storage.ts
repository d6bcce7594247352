// `lab up --storage`: the lab's stand-ins for the AWS stack's transfer targets, so the s3, efs
// and ebs transfers run unchanged against the lab. A storage node (its own netns on the lab
// bridge, so traffic to it crosses a shapeable link) runs sshd and moto (moto.ts) as the S3;
// every node mounts the storage node's /srv/efs at /mnt/efs over sshfs (this kernel has FUSE,
// no NFS client); a loop device with ext4 is the "EBS volume", mounted in n1's namespace.
// A VM lab's guests reach the same storage node over the bridge, for S3 only: the mounts above
// are made from the host into a node's namespaces, which a qemu guest does not share.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import { ensureKeyPair, knownHostsLine } from './keys.js';
import { nodeFiles, type LabLayout, type NodeLayout } from './layout.js';
import { createNodeNetwork, deleteLink, deleteNetns, listLinks, listNetns, ownerTag } from './network.js';
import { requireMotoServer, startMoto } from './moto.js';
import { killNodeProcesses, prepareNodeFiles, startNode, waitUntilNodeAnswers, type LabKey } from './node.js';
import { checkSshdConfig } from './sshd.js';

export const EFS_MOUNT = '/mnt/efs';
export const EBS_MOUNT = '/mnt/ebs';
export const S3_PORT = 9000;
/** Sparse: only what the images fill takes disk space. */
const VOLUME_SIZE = '4G';
const VOLUME_LABEL = 'criu-lab-images';
const START_TIMEOUT_MS = 20_000;

/** What `lab up --storage` made: recorded in lab.json and written to servers.yaml's `transfer:`. */
export interface LabStorage {
  readonly ip: string;
  /** moto's endpoint and the bucket made in it; startupMs: from its start until it answered. */
  readonly s3: { readonly endpointUrl: string; readonly bucket: string; readonly profile: string; readonly startupMs?: number };
  /** Absent on a VM lab (S3 only). */
  readonly efsMount?: string;
  readonly ebs?: { readonly device: string; readonly mount: string };
}

/** The S3 credentials a lab's nodes use: made up per lab (moto takes any), under a profile named for the lab. */
export interface S3Credentials {
  readonly profile: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export function newS3Credentials(layout: LabLayout): S3Credentials {
  return {
    profile: profileName(layout),
    accessKeyId: `CRIULAB${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
}

/** The nodes' ~/.aws/credentials. */
export function awsCredentialsFile(credentials: S3Credentials): string {
  return `[${credentials.profile}]\naws_access_key_id = ${credentials.accessKeyId}\naws_secret_access_key = ${credentials.secretAccessKey}\n`;
}

/** The storage node: a node layout at <subnet>.2, outside the n1..nN slots, its files under the state dir's nodes/. */
export function storageNodeLayout(layout: LabLayout): NodeLayout {
  const dir = join(layout.stateDir, 'nodes', 'storage');
  return Object.freeze({
    index: 0,
    name: 'storage',
    ip: `${layout.subnet}.2`,
    netns: `${layout.name}-st`,
    veth: `v${layout.name}-st`,
    ...nodeFiles(dir),
  });
}

const volumeFile = (storage: NodeLayout) => join(storage.dir, 'ebs-volume.img');
const storageKnownHosts = (storage: NodeLayout) => join(storage.dir, 'known_hosts');
/** The key nodes mount the shared directory with: it opens the storage node only, never the nodes. */
const storageClientKey = (storage: NodeLayout) => join(storage.dir, 'client_ed25519');
const profileName = (layout: LabLayout) => `criu-lab-${layout.name}`;

/** The running lab nodes, by their `unshare` PID (which sits in the node's mount and network namespaces). */
export interface RunningNode {
  readonly node: NodeLayout;
  readonly hostPid: number;
}

/** The storage node itself (netns on the lab bridge, sshd) and moto in it with the lab's bucket; removes leftovers of an earlier one first. */
async function storageNodeUp(layout: LabLayout, labKey: LabKey): Promise<{ storage: NodeLayout; s3: LabStorage['s3'] }> {
  await storageDown(layout);
  const storage = storageNodeLayout(layout);
  await createNodeNetwork(layout, storage);
  const hostKey = await prepareNodeFiles(storage, labKey);
  const clientKey = await ensureKeyPair(storageClientKey(storage), `criu-lab ${layout.name} storage client`);
  await appendFile(join(storage.rootDir, '.ssh', 'authorized_keys'), `${clientKey}\n`);
  await writeFile(storageKnownHosts(storage), `${knownHostsLine(storage.ip, hostKey)}\n`, { mode: 0o600 });
  await checkSshdConfig(storage);
  await mkdir(join(storage.srvDir, 'efs'), { recursive: true });
  const hostPid = await startNode(storage);
  await waitUntilNodeAnswers(storage, hostPid, START_TIMEOUT_MS);
  return { storage, s3: await startS3(layout, storage) };
}

/** Starts the storage node, moto (the lab's S3), the sshfs mounts and the loop volume; removes leftovers of an earlier one first. */
export async function storageUp(layout: LabLayout, nodes: readonly RunningNode[], labKey: LabKey): Promise<LabStorage> {
  const { storage, s3 } = await storageNodeUp(layout, labKey);
  const credentials = awsCredentialsFile(newS3Credentials(layout));
  for (const { node } of nodes) {
    await mkdir(join(node.rootDir, '.aws'), { recursive: true, mode: 0o700 });
    await writeFile(join(node.rootDir, '.aws', 'credentials'), credentials, { mode: 0o600 });
  }

  await mkdir(EFS_MOUNT, { recursive: true });
  for (const running of nodes) await mountEfs(layout, storage, running);

  const device = await createVolume(storage);
  await mkdir(EBS_MOUNT, { recursive: true });
  const first = nodes[0];
  if (first) await inNode(first, ['mount', device, EBS_MOUNT], `mount the lab volume in ${first.node.name}`);
  return { ip: storage.ip, s3, efsMount: EFS_MOUNT, ebs: { device, mount: EBS_MOUNT } };
}

/**
 * The storage node for a VM lab: S3 (moto) only. The guests carry the credentials on their config
 * disk (`newS3Credentials`, made before they boot); moto answers any, so none are passed to it.
 */
export async function vmStorageUp(layout: LabLayout, labKey: LabKey): Promise<LabStorage> {
  const { storage, s3 } = await storageNodeUp(layout, labKey);
  return { ip: storage.ip, s3 };
}

/** Removes the storage node (its processes, netns, veth) and detaches the lab's loop volume; returns what it removed. Harmless when there is none. */
export async function storageDown(layout: LabLayout): Promise<string[]> {
  const storage = storageNodeLayout(layout);
  const removed: string[] = [];
  if ((await listNetns()).includes(storage.netns) && (await isOurs(layout, storage.netns))) {
    const killed = await killNodeProcesses([storage.netns], []);
    await deleteNetns(storage.netns);
    removed.push(`netns ${storage.netns} (storage node, ${killed} processes)`);
  }
  const veth = (await listLinks()).find((link) => link.name === storage.veth);
  if (veth?.alias === ownerTag(layout.name)) {
    await deleteLink(storage.veth);
    removed.push(`veth ${storage.veth}`);
  }
  const file = volumeFile(storage);
  if (existsSync(file)) {
    const { stdout } = await run(['losetup', '--noheadings', '--output', 'NAME', '--associated', file], { check: false });
    for (const device of stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)) {
      // A device still mounted in a live namespace is detached by the kernel once unmounted (autoclear).
      await run(['losetup', '--detach', device], { check: false });
      removed.push(`loop device ${device}`);
    }
    await rm(file, { force: true });
  }
  return removed;
}

async function isOurs(layout: LabLayout, netns: string): Promise<boolean> {
  return (await listLinks(netns)).find((link) => link.name === 'lo')?.alias === ownerTag(layout.name);
}

/** Runs a command inside a lab node's mount and network namespaces (from the host, so it also works behind a bastion). */
async function inNode(running: RunningNode, argv: readonly string[], what: string): Promise<void> {
  await run(['nsenter', `--target=${running.hostPid}`, '--mount', '--net', '--', ...argv], {
    hint: `could not ${what}; see the error above, then \`criu-lab lab down\` and retry`,
    timeoutMs: START_TIMEOUT_MS,
  });
}

async function mountEfs(layout: LabLayout, storage: NodeLayout, running: RunningNode): Promise<void> {
  const options = [
    `IdentityFile=${storageClientKey(storage)}`,
    `UserKnownHostsFile=${storageKnownHosts(storage)}`,
    'StrictHostKeyChecking=yes',
    'BatchMode=yes',
    'Ciphers=aes128-gcm@openssh.com',
    // Two nodes share the directory: no cached listings, so the destination sees what the source just wrote.
    'dir_cache=no',
    'max_conns=4',
  ].join(',');
  await inNode(
    running,
    ['sshfs', '-o', options, `root@${storage.ip}:/srv/efs`, EFS_MOUNT],
    `mount the shared directory at ${EFS_MOUNT} in ${running.node.name}`,
  );
}

async function createVolume(storage: NodeLayout): Promise<string> {
  const file = volumeFile(storage);
  await run(['truncate', '--size', VOLUME_SIZE, file]);
  const { stdout } = await run(['losetup', '--find', '--show', file]);
  const device = stdout.trim();
  await run(['mkfs.ext4', '-q', '-L', VOLUME_LABEL, device]);
  return device;
}

/** moto inside the storage node's netns and the lab's bucket made in it (moto answers any credentials). */
async function startS3(layout: LabLayout, storage: NodeLayout): Promise<LabStorage['s3']> {
  const command = requireMotoServer();
  const bucket = `criu-lab-${layout.name}`;
  const { startupMs } = await startMoto(command, {
    netns: storage.netns,
    address: storage.ip,
    port: S3_PORT,
    bucket,
    logPath: join(storage.dir, 's3.log'),
    timeoutMs: START_TIMEOUT_MS,
  });
  return { endpointUrl: `http://${storage.ip}:${S3_PORT}`, bucket, profile: profileName(layout), startupMs: Math.round(startupMs) };
}
