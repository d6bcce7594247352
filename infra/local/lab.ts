// The local lab's three operations: `up` (create, or recover from leftovers; idempotent),
// `status` and `down`. Nodes are namespaces on this machine; layout.ts names every piece.
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { ExternalError, UsageError } from '../../core/errors.js';
import { subnetClashes, takeInventory, type LabResource, type Obstacle } from './inventory.js';
import { ensureKeyPair, knownHostsLine } from './keys.js';
import { labKeyDir, labLayout, type LabLayout } from './layout.js';
import { createBridge, createNodeNetwork, deleteLink, deleteNetns, listLinks, listNetns, netnsPids, refuseSshFromHost, snapshotNetwork } from './network.js';
import { isNodeProcess, killNodeProcesses, nodePidBase, prepareNodeFiles, startNode, waitUntilNodeAnswers, writeNodeKnownHosts } from './node.js';
import { MAX_NODES } from './limits.js';
import { resolveLabOptions, type LabOptions, type LabOptionsInput } from './options.js';
import { requirePidSpace, requireRoot, requireTools } from './prerequisites.js';
import { applyProfile, bandwidthProfile } from './profiles.js';
import type { BandwidthProfile } from '../../core/profiles.js';
import { removeServersYaml, writeServersYaml, type ServersRemoval } from './servers.js';
import { checkSshdConfig, readSshBanner } from './sshd.js';
import { requireMotoServer } from './moto.js';
import { storageDown, storageUp } from './storage.js';
import { newLabInfo, readLabInfo, writeLabInfo, type LabInfo, type LabNodeInfo, type LabNodeStatus } from './state.js';
import { addLabUser, labKeyComment, removeLabUser } from './lab-user.js';
import { killLabGuests } from './vm/guest.js';
import { vmLabStatus, vmLabUp, type VmLabTimes } from './vm/lab.js';

export type { LabOptionsInput } from './options.js';
export type { LabInfo, LabNodeInfo, LabNodeStatus } from './state.js';

const SSH_START_TIMEOUT_MS = 20_000;
const STATUS_PROBE_TIMEOUT_MS = 1_500;
/** Everything `lab up` writes at the top of the state dir; anything else there is not ours to delete. */
const STATE_DIR_ENTRIES = new Set(['lab.json', 'lab.json.tmp', 'id_ed25519', 'id_ed25519.pub', 'known_hosts', 'nodes']);

export interface LabUpResult {
  /** `recovered`: leftovers of an earlier lab (crashed or unhealthy) were removed first. */
  readonly outcome: 'created' | 'recovered' | 'already-up';
  readonly info: LabInfo;
  /** What recovery removed, e.g. `netns lab-n1`. */
  readonly cleaned: readonly string[];
  readonly durationMs: number;
  /** The bandwidth profile now on every node link, when `profile` was asked for. */
  readonly profile?: BandwidthProfile;
  /** Image and boot times of `--backend vm`. */
  readonly vm?: VmLabTimes;
}

export interface LabStatus {
  readonly name: string;
  readonly subnet: string;
  readonly bridge: string;
  readonly bridgeExists: boolean;
  /** Whether lab.json exists (the lab was brought up and not taken down). */
  readonly recorded: boolean;
  /** Recorded, bridge present, and every node has processes and answers SSH. */
  readonly healthy: boolean;
  readonly nodes: readonly LabNodeStatus[];
}

export interface LabDownResult {
  readonly removed: readonly string[];
  /** Things under the lab's names that it did not create, untouched, each with how to remove it. */
  readonly leftAlone: readonly string[];
  readonly servers: ServersRemoval;
  readonly serversPath: string;
  readonly durationMs: number;
}

/**
 * Brings the lab up and writes servers.yaml. A healthy lab of the same shape is left
 * running; leftovers the lab owns are removed and the lab recreated; anything else under
 * its names or in its subnet makes it refuse, before it changes anything.
 */
export async function labUp(input: LabOptionsInput = {}): Promise<LabUpResult> {
  const started = performance.now();
  const options = resolveLabOptions(input);
  if (options.backend === 'vm' && options.user)
    throw new UsageError("invalid lab options: --user is for the namespaces backend (its nodes share this host's accounts)", [], {
      hint: 'drop --user, or use --backend namespaces',
    });
  if (options.backend === 'vm') {
    const up = await vmLabUp(options, () => labDown(input));
    const profile = await shapeLinks(labLayout(options), options.profile);
    return { ...up, ...(profile ? { profile } : {}) };
  }
  requireRoot();
  requireTools();
  // Before anything is made: the storage node's S3 is moto.
  if (options.storage) requireMotoServer();
  requirePidSpace(options.nodes, nodePidBase);
  const layout = labLayout(options);
  const recorded = await readLabInfo(layout.stateFile);
  // A lab asked for with --storage that runs without it is recreated with it.
  if (recorded !== undefined && (!options.storage || recorded.storage !== undefined) && (await isRunningHealthy(options, recorded))) {
    if (recorded.nodes.length !== options.nodes || recorded.subnet !== options.subnet || (recorded.bastion !== undefined) !== options.bastion) {
      throw new ExternalError(
        `lab '${options.name}' is already up with ${recorded.nodes.length} nodes on ${recorded.subnet}.0/24${recorded.bastion ? ' behind a bastion' : ''}, not ${options.nodes} on ${options.subnet}.0/24${options.bastion ? ' behind a bastion' : ''}`,
        {
          hint: `run \`criu-lab lab down --name ${options.name}\` first to change its shape, or ask for the same shape`,
        },
      );
    }
    const info = await withLabUser(layout, { ...recorded, serversPath: options.serversPath }, options.user);
    await writeLabInfo(layout.stateFile, info);
    await writeServersYaml(info.serversPath, info);
    const profile = await shapeLinks(layout, options.profile);
    return { outcome: 'already-up', info, cleaned: [], durationMs: performance.now() - started, ...(profile ? { profile } : {}) };
  }

  const slots = labLayout({ ...options, nodes: MAX_NODES });
  const host = await snapshotNetwork();
  const inventory = takeInventory(slots, host);
  const wanted = new Set([layout.bridge, ...layout.nodes.flatMap((node) => [node.netns, node.veth])]);
  const obstacles: Obstacle[] = [...inventory.foreign.filter((o) => o.name !== undefined && wanted.has(o.name)), ...subnetClashes(layout, host)];
  const strayFiles = await foreignStateFiles(layout.stateDir);
  if (strayFiles.length > 0) obstacles.push(strayFilesObstacle(layout.stateDir, strayFiles));
  if (obstacles.length > 0) {
    throw new ExternalError(`cannot bring lab '${options.name}' up; in the way:\n${obstacles.map((o) => `  - ${o.what}`).join('\n')}`, {
      hint: obstacles.map((o) => o.fix).join('\n      '),
    });
  }

  const cleaned = (await removeLab(slots, inventory.owned, recorded)).removed;
  let info: LabInfo;
  try {
    info = await createLab(layout, options.storage);
  } catch (error) {
    // No half-made lab stays behind: the error already carries the failing node's log tail.
    await removeLab(slots, takeInventory(slots, await snapshotNetwork()).owned, await readLabInfo(layout.stateFile));
    throw error;
  }
  info = await withLabUser(layout, info, options.user);
  const profile = await shapeLinks(layout, options.profile);
  return {
    outcome: cleaned.length > 0 ? 'recovered' : 'created',
    info,
    cleaned,
    durationMs: performance.now() - started,
    ...(profile ? { profile } : {}),
  };
}

/**
 * --user: the lab's nodes are reached as that user through sudo (or, without --user, as root
 * again: a user an earlier `lab up` added is removed). Rewrites lab.json and servers.yaml.
 */
async function withLabUser(layout: LabLayout, info: LabInfo, user: string | undefined): Promise<LabInfo> {
  if (info.user && info.user.name !== user) await removeLabUser(layout.name, info.user);
  const { user: _previous, ...rest } = info;
  const next: LabInfo = user
    ? { ...rest, user: await addLabUser(layout.name, user, await ensureKeyPair(layout.sshKeyPath, labKeyComment(layout.name))) }
    : rest;
  // A user the lab made earlier and still uses stays marked as made by it.
  const kept: LabInfo = next.user && info.user?.name === next.user.name && info.user.created ? { ...next, user: { ...next.user, created: true } } : next;
  await writeLabInfo(layout.stateFile, kept);
  await writeServersYaml(kept.serversPath, kept);
  return kept;
}

/** Applies the named profile to every node link; without a name the links stay as they are. */
async function shapeLinks(layout: LabLayout, name: string | undefined): Promise<BandwidthProfile | undefined> {
  if (name === undefined) return undefined;
  const profile = bandwidthProfile(name);
  await applyProfile(layout.nodes, profile);
  return profile;
}

/** Inspects the lab named in `input`; from lab.json when there is one, else from the netns under its names. */
export async function labStatus(input: Pick<LabOptionsInput, 'name' | 'stateDir'> = {}): Promise<LabStatus> {
  const options = resolveLabOptions(input);
  requireRoot();
  const recorded = await readLabInfo(labLayout(options).stateFile);
  if (recorded?.backend === 'vm') {
    const layout = recordedLayout(options, recorded);
    const guests = await vmLabStatus(layout, recorded);
    return {
      name: layout.name,
      subnet: layout.subnet,
      bridge: layout.bridge,
      bridgeExists: existsSync(`/sys/class/net/${layout.bridge}`),
      recorded: true,
      ...guests,
    };
  }
  if (recorded !== undefined) return inspectLab(recordedLayout(options, recorded), recorded);
  const slots = labLayout({ ...options, nodes: MAX_NODES });
  const present = new Set(await listNetns());
  return inspectLab({ ...slots, nodes: slots.nodes.filter((node) => present.has(node.netns)) }, undefined);
}

/**
 * Kills every node process, deletes the lab's netns, veths, bridge, state dir (keys
 * included) and the servers.yaml it generated. Harmless to run twice; needs no lab.json.
 */
export async function labDown(input: Pick<LabOptionsInput, 'name' | 'stateDir' | 'serversPath'> = {}): Promise<LabDownResult> {
  const started = performance.now();
  const options = resolveLabOptions(input);
  requireRoot();
  const slots = labLayout({ ...options, nodes: MAX_NODES });
  const recorded = await readLabInfo(slots.stateFile);
  const inventory = takeInventory(slots, await snapshotNetwork());
  const { removed, leftAlone } = await removeLab(slots, inventory.owned, recorded);
  if (recorded?.user) removed.push(...(await removeLabUser(options.name, recorded.user)));
  const serversPath = input.serversPath !== undefined ? options.serversPath : (recorded?.serversPath ?? options.serversPath);
  const servers = await removeServersYaml(serversPath, options.name);
  return {
    removed,
    leftAlone: [...inventory.foreign.map((o) => `${o.what} (${o.fix})`), ...leftAlone],
    servers,
    serversPath,
    durationMs: performance.now() - started,
  };
}

async function createLab(layout: LabLayout, withStorage: boolean): Promise<LabInfo> {
  // sshd's privilege-separation directory; /run is shared by all nodes.
  await mkdir('/run/sshd', { recursive: true });
  await mkdir(layout.stateDir, { recursive: true, mode: 0o700 });
  const publicKey = await ensureKeyPair(layout.sshKeyPath, labKeyComment(layout.name));
  await createBridge(layout);
  for (const node of layout.nodes) await createNodeNetwork(layout, node);
  const labKey = { privateKeyPath: layout.sshKeyPath, publicKey };
  const hostKeyLines = await Promise.all(layout.nodes.map(async (node) => knownHostsLine(node.ip, await prepareNodeFiles(node, labKey))));
  const knownHosts = `${hostKeyLines.join('\n')}\n`;
  await writeFile(layout.knownHostsPath, knownHosts);
  await Promise.all(layout.nodes.map((node) => writeNodeKnownHosts(node, knownHosts)));
  await Promise.all(layout.nodes.map((node) => checkSshdConfig(node)));

  const running = await Promise.all(layout.nodes.map(async (node) => ({ node, hostPid: await startNode(node) })));
  const nodes: LabNodeInfo[] = running.map(({ node, hostPid }) => ({
    name: node.name,
    ip: node.ip,
    netns: node.netns,
    veth: node.veth,
    hostPid,
    dir: node.dir,
  }));
  const info = newLabInfo(layout, 'namespaces', nodes, layout.bastion ? { bastion: layout.nodes[0]!.name } : {});
  // Recorded before the wait, so a `lab up` killed while waiting leaves the PIDs behind for cleanup.
  await writeLabInfo(layout.stateFile, info);
  await Promise.all(running.map(({ node, hostPid }) => waitUntilNodeAnswers(node, hostPid, SSH_START_TIMEOUT_MS)));
  // Closed only once every sshd has answered the host's probe.
  const [, ...behindBastion] = layout.nodes;
  if (layout.bastion) for (const node of behindBastion) await refuseSshFromHost(layout, node);
  const storage = withStorage ? await storageUp(layout, running, labKey) : undefined;
  const finished: LabInfo = storage ? { ...info, storage } : info;
  await writeLabInfo(layout.stateFile, finished);
  await writeServersYaml(layout.serversPath, finished);
  return finished;
}

/**
 * Removes the lab's own resources: processes first (a live node pins the other nodes'
 * netns through its copy of the mount table), then netns (taking their veth pairs along),
 * the remaining links, and the state dir if it holds nothing but the lab's files.
 */
async function removeLab(slots: LabLayout, owned: readonly LabResource[], recorded: LabInfo | undefined): Promise<{ removed: string[]; leftAlone: string[] }> {
  const removed: string[] = [];
  const leftAlone: string[] = [];
  const netns = owned.filter((r) => r.kind === 'netns').map((r) => r.name);
  const killed = await killNodeProcesses(netns, await recordedNodePids(slots, recorded));
  if (killed > 0) removed.push(`${killed} node processes`);
  const guests = await killLabGuests(slots);
  if (guests > 0) removed.push(`${guests} qemu guests`);
  for (const name of netns) {
    await deleteNetns(name);
    removed.push(`netns ${name}`);
  }
  removed.push(...(await storageDown(slots)));
  const present = new Set((await listLinks()).map((link) => link.name));
  for (const resource of owned.filter((r) => r.kind !== 'netns')) {
    if (present.has(resource.name)) await deleteLink(resource.name);
    removed.push(`${resource.kind} ${resource.name}`);
  }
  const keyDir = labKeyDir(slots.name);
  if (existsSync(keyDir)) {
    await rm(keyDir, { recursive: true, force: true });
    removed.push(`lab key ${keyDir}`);
  }
  if (existsSync(slots.stateDir)) {
    const strayFiles = await foreignStateFiles(slots.stateDir);
    if (strayFiles.length > 0) {
      const obstacle = strayFilesObstacle(slots.stateDir, strayFiles);
      leftAlone.push(`${obstacle.what} (${obstacle.fix})`);
    } else {
      await rm(slots.stateDir, { recursive: true, force: true });
      removed.push(`state dir ${slots.stateDir}`);
    }
  }
  return { removed, leftAlone };
}

/** The recorded `unshare` PIDs that are still this lab's nodes (PIDs get reused). */
async function recordedNodePids(slots: LabLayout, recorded: LabInfo | undefined): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of recorded?.nodes ?? []) {
    const node = slots.nodes.find((n) => n.name === entry.name);
    if (node !== undefined && (await isNodeProcess(entry.hostPid, node))) pids.push(entry.hostPid);
  }
  return pids;
}

async function isRunningHealthy(options: LabOptions, recorded: LabInfo): Promise<boolean> {
  if (!existsSync(recorded.sshKeyPath) || !existsSync(recorded.knownHostsPath)) return false;
  return (await inspectLab(recordedLayout(options, recorded), recorded)).healthy;
}

function recordedLayout(options: LabOptions, recorded: LabInfo): LabLayout {
  return labLayout({ ...options, nodes: recorded.nodes.length, subnet: recorded.subnet, bastion: recorded.bastion !== undefined });
}

async function inspectLab(layout: LabLayout, recorded: LabInfo | undefined): Promise<LabStatus> {
  const [links, netnsNames] = await Promise.all([listLinks(), listNetns()]);
  const present = new Set(netnsNames);
  const nodes = await Promise.all(
    layout.nodes.map(async (node): Promise<LabNodeStatus> => {
      const netnsExists = present.has(node.netns);
      const pids = netnsExists ? await netnsPids(node.netns) : [];
      // Behind a bastion, a node answers only inside the lab: probe it from the bastion's netns.
      const via = recorded?.bastion && recorded.bastion !== node.name ? recorded.nodes.find((n) => n.name === recorded.bastion)?.netns : undefined;
      const sshBanner = pids.length > 0 ? await readSshBanner(node.ip, STATUS_PROBE_TIMEOUT_MS, via) : undefined;
      return {
        name: node.name,
        ip: node.ip,
        netns: node.netns,
        netnsExists,
        pids,
        hostPid: recorded?.nodes.find((n) => n.name === node.name)?.hostPid,
        sshBanner,
        healthy: netnsExists && pids.length > 0 && sshBanner !== undefined,
      };
    }),
  );
  const bridgeExists = links.some((link) => link.name === layout.bridge);
  return {
    name: layout.name,
    subnet: layout.subnet,
    bridge: layout.bridge,
    bridgeExists,
    recorded: recorded !== undefined,
    healthy: recorded !== undefined && bridgeExists && nodes.length > 0 && nodes.every((n) => n.healthy),
    nodes,
  };
}

async function foreignStateFiles(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(stateDir)).filter((entry) => !STATE_DIR_ENTRIES.has(entry));
  } catch {
    return [];
  }
}

function strayFilesObstacle(stateDir: string, strayFiles: readonly string[]): Obstacle {
  return {
    name: stateDir,
    what: `the state dir ${stateDir} holds files criu-lab did not write (${strayFiles.join(', ')})`,
    fix: `move them out of ${stateDir}, or use another state dir`,
  };
}
