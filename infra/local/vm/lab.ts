// The VM backend of the local lab: the same bridge, addresses, keys and servers.yaml as the
// namespace lab, but each node is a qemu guest running Debian's kernel, which has the
// soft-dirty tracking `criu pre-dump` needs and this host's kernel lacks. With --storage, the
// namespace storage node joins the bridge and serves the guests S3 (moto); no efs or ebs yet.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { ExternalError, UsageError } from '../../../core/errors.js';
import { subnetClashes, takeInventory, type Obstacle } from '../inventory.js';
import { ensureKeyPair, knownHostsLine } from '../keys.js';
import { labLayout, type LabLayout } from '../layout.js';
import { createBridge, snapshotNetwork } from '../network.js';
import { isRunning } from '../node.js';
import { MAX_NODES } from '../limits.js';
import { optionProblem, type LabOptions } from '../options.js';
import { requireRoot, requireTools } from '../prerequisites.js';
import { writeServersYaml } from '../servers.js';
import { readSshBanner } from '../sshd.js';
import { newLabInfo, readLabInfo, writeLabInfo, type LabInfo, type LabNodeInfo, type LabNodeStatus } from '../state.js';
import { createTap, GUEST_CPUS, GUEST_MEMORY_MIB, prepareGuestDisks, startGuest, waitUntilGuestAnswers } from './guest.js';
import { ensureVmImage, type VmImage } from './image.js';
import { requireMotoServer } from '../moto.js';
import { awsCredentialsFile, newS3Credentials, vmStorageUp } from '../storage.js';

/** TCG boots Debian's kernel in seconds, but two guests share two busy host cores. */
const BOOT_TIMEOUT_MS = 240_000;
const STATUS_PROBE_TIMEOUT_MS = 3_000;

export interface VmLabTimes {
  /** The image was built by this `lab up` (false: taken from the cache). */
  readonly imageBuilt: boolean;
  readonly imageMs: number;
  readonly imageDir: string;
  /** From starting the guests until every sshd answered; 0 when the lab was already up. */
  readonly bootMs: number;
}

export interface VmLabUp {
  readonly outcome: 'created' | 'recovered' | 'already-up';
  readonly info: LabInfo;
  readonly cleaned: readonly string[];
  readonly durationMs: number;
  readonly vm: VmLabTimes;
}

/**
 * Brings up a VM lab: the image (cached), then one guest per node. A healthy VM lab of the same
 * shape is kept; leftovers of this lab's name are removed by `removeLeftovers` (`lab down`) first.
 * The caller applies a bandwidth profile to the taps, as to a namespace lab's veths.
 */
export async function vmLabUp(options: LabOptions, removeLeftovers: () => Promise<{ removed: readonly string[] }>): Promise<VmLabUp> {
  const started = performance.now();
  requireRoot();
  requireTools();
  if (options.bastion) {
    throw new UsageError('the VM lab has no bastion yet', [optionProblem('bastion', 'is not supported with --backend vm')], {
      hint: 'drop --bastion, or use the namespace backend for it',
    });
  }
  // Before anything is made: the storage node's S3 is moto.
  if (options.storage) requireMotoServer();
  const layout = labLayout(options);
  const { image, built, durationMs: imageMs } = await ensureVmImage();
  const times = { imageBuilt: built, imageMs, imageDir: image.dir };

  const recorded = await readLabInfo(layout.stateFile);
  // A lab asked for with --storage that runs without it is recreated with it.
  if (recorded?.backend === 'vm' && (!options.storage || recorded.storage !== undefined) && (await vmLabStatus(layout, recorded)).healthy) {
    if (recorded.nodes.length !== options.nodes || recorded.subnet !== options.subnet) {
      throw new ExternalError(`lab '${options.name}' is already up with ${recorded.nodes.length} guests on ${recorded.subnet}.0/24`, {
        hint: `run \`criu-lab lab down --name ${options.name}\` first to change its shape, or ask for the same shape`,
      });
    }
    const info: LabInfo = { ...recorded, serversPath: options.serversPath };
    await writeLabInfo(layout.stateFile, info);
    await writeServersYaml(info.serversPath, info);
    return { outcome: 'already-up', info, cleaned: [], durationMs: performance.now() - started, vm: { ...times, bootMs: 0 } };
  }

  await refuseObstacles(options, layout);
  const cleaned = (await removeLeftovers()).removed;
  let info: LabInfo;
  let bootMs: number;
  try {
    ({ info, bootMs } = await createVmLab(layout, image, options.storage));
  } catch (error) {
    await removeLeftovers();
    throw error;
  }
  return { outcome: cleaned.length > 0 ? 'recovered' : 'created', info, cleaned, durationMs: performance.now() - started, vm: { ...times, bootMs } };
}

/** Someone else's interfaces under the lab's names, or a subnet clash, stop `lab up` before it changes anything. */
async function refuseObstacles(options: LabOptions, layout: LabLayout): Promise<void> {
  const host = await snapshotNetwork();
  const slots = labLayout({ ...options, nodes: MAX_NODES });
  const wanted = new Set([layout.bridge, ...layout.nodes.map((node) => node.veth)]);
  const obstacles: Obstacle[] = [
    ...takeInventory(slots, host).foreign.filter((o) => o.name !== undefined && wanted.has(o.name)),
    ...subnetClashes(layout, host),
  ];
  if (obstacles.length > 0) {
    throw new ExternalError(`cannot bring lab '${layout.name}' up; in the way:\n${obstacles.map((o) => `  - ${o.what}`).join('\n')}`, {
      hint: obstacles.map((o) => o.fix).join('\n      '),
    });
  }
}

async function createVmLab(layout: LabLayout, image: VmImage, withStorage: boolean): Promise<{ info: LabInfo; bootMs: number }> {
  await mkdir(layout.stateDir, { recursive: true, mode: 0o700 });
  const labPublicKey = await ensureKeyPair(layout.sshKeyPath, `criu-lab lab ${layout.name}`);
  await createBridge(layout);
  for (const node of layout.nodes) {
    await mkdir(node.dir, { recursive: true, mode: 0o700 });
    await createTap(layout, node);
  }
  // Host keys are made here and pinned before any guest boots: never trusted on first use.
  const hostKeyLines = await Promise.all(
    layout.nodes.map(async (node) => knownHostsLine(node.ip, await ensureKeyPair(node.hostKeyPath, `criu-lab node ${node.name}`))),
  );
  const knownHosts = `${hostKeyLines.join('\n')}\n`;
  await writeFile(layout.knownHostsPath, knownHosts);
  // The S3 credentials travel on the config disk: the guests have them from their first boot.
  const awsCredentials = withStorage ? awsCredentialsFile(newS3Credentials(layout)) : undefined;
  for (const node of layout.nodes) await prepareGuestDisks(node, image, { labPublicKey, knownHosts, awsCredentials });

  const bootStarted = performance.now();
  const running = await Promise.all(layout.nodes.map(async (node) => ({ node, qemuPid: await startGuest(node, image) })));
  const nodes: LabNodeInfo[] = running.map(({ node, qemuPid }) => ({
    name: node.name,
    ip: node.ip,
    netns: '',
    veth: node.veth,
    hostPid: qemuPid,
    dir: node.dir,
  }));
  const info = newLabInfo(layout, 'vm', nodes, { vm: { imageDir: image.dir, recipeHash: image.recipeHash, memoryMiB: GUEST_MEMORY_MIB, cpus: GUEST_CPUS } });
  // Recorded before the wait, so a `lab up` killed while booting leaves its PIDs for cleanup.
  await writeLabInfo(layout.stateFile, info);
  await Promise.all(running.map(({ node, qemuPid }) => waitUntilGuestAnswers(node, qemuPid, BOOT_TIMEOUT_MS)));
  const bootMs = performance.now() - bootStarted;
  const storage = withStorage ? await vmStorageUp(layout, { privateKeyPath: layout.sshKeyPath, publicKey: labPublicKey }) : undefined;
  const finished: LabInfo = storage ? { ...info, storage } : info;
  await writeLabInfo(layout.stateFile, finished);
  await writeServersYaml(layout.serversPath, finished);
  return { info: finished, bootMs };
}

/** Each guest healthy when its qemu runs, its tap exists and its sshd answers; no netns (`netns` is ''). */
export async function vmLabStatus(layout: LabLayout, recorded: LabInfo): Promise<{ healthy: boolean; nodes: LabNodeStatus[] }> {
  const nodes = await Promise.all(
    recorded.nodes.map(async (node): Promise<LabNodeStatus> => {
      const running = await isRunning(node.hostPid);
      const sshBanner = running ? await readSshBanner(node.ip, STATUS_PROBE_TIMEOUT_MS) : undefined;
      return {
        name: node.name,
        ip: node.ip,
        netns: '',
        netnsExists: false,
        pids: running ? [node.hostPid] : [],
        hostPid: node.hostPid,
        sshBanner,
        healthy: running && existsSync(`/sys/class/net/${node.veth}`) && sshBanner !== undefined,
      };
    }),
  );
  // The storage node, when there is one, must answer too: its sshd runs beside moto in its netns.
  const storageAnswers = recorded.storage === undefined || (await readSshBanner(recorded.storage.ip, STATUS_PROBE_TIMEOUT_MS)) !== undefined;
  return { healthy: nodes.length > 0 && existsSync(`/sys/class/net/${layout.bridge}`) && nodes.every((n) => n.healthy) && storageAnswers, nodes };
}
