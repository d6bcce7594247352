// One VM lab node: a qemu guest (software emulation, TCG) booting the cached image through a
// per-node copy-on-write overlay, a small config disk carrying its identity (hostname, address,
// host key, keys, sshd_config), and a tap device on the lab bridge.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalError } from '../../../core/errors.js';
import { run } from '../exec.js';
import type { LabLayout, NodeLayout } from '../layout.js';
import { ownerTag } from '../network.js';
import { isRunning, nodePidBase } from '../node.js';
import { readSshBanner, renderSshdConfig, SSH_PORT } from '../sshd.js';
import type { VmImage } from './image.js';

/** Enough for a 256 MiB workload, its pre-dump images in the page cache and CRIU, on a shared 24 GiB host. */
export const GUEST_MEMORY_MIB = 1536;
export const GUEST_CPUS = 2;
export const QEMU = '/usr/bin/qemu-system-x86_64';
/** Where the guest's sshd finds the host key the config disk brings. */
const GUEST_HOST_KEY = '/etc/ssh/ssh_host_ed25519_key';

export interface GuestFiles {
  readonly overlayPath: string;
  readonly configDir: string;
  readonly configDiskPath: string;
  readonly pidPath: string;
  readonly consolePath: string;
}

export function guestFiles(node: NodeLayout): GuestFiles {
  return Object.freeze({
    overlayPath: join(node.dir, 'disk.qcow2'),
    configDir: join(node.dir, 'config'),
    configDiskPath: join(node.dir, 'config.img'),
    pidPath: join(node.dir, 'qemu.pid'),
    consolePath: node.logPath,
  });
}

export interface GuestIdentity {
  readonly labPublicKey: string;
  /** Every node's pinned host key, for node-to-node ssh and rsync. */
  readonly knownHosts: string;
  /** ~/.aws/credentials for the lab's S3 (`lab up --storage`). */
  readonly awsCredentials?: string;
}

/** The node's tap device under the name and owner tag a veth would have, so inventory and `lab down` treat it alike. */
export async function createTap(layout: LabLayout, node: NodeLayout): Promise<void> {
  await run(['ip', 'tuntap', 'add', 'dev', node.veth, 'mode', 'tap']);
  await run(['ip', 'link', 'set', node.veth, 'alias', ownerTag(layout.name)]);
  await run(['ip', 'link', 'set', node.veth, 'master', layout.bridge, 'up']);
}

/** The overlay on the shared image and the config disk (ext4 made from a directory, no mount needed). */
export async function prepareGuestDisks(node: NodeLayout, image: VmImage, identity: GuestIdentity): Promise<void> {
  const files = guestFiles(node);
  await rm(files.configDir, { recursive: true, force: true });
  await mkdir(files.configDir, { recursive: true, mode: 0o700 });
  const hostKey = await readFile(node.hostKeyPath, 'utf8');
  const config: Record<string, string> = {
    hostname: `${node.name}\n`,
    address: `${node.ip}/24\n`,
    // Guests booted from one image count PIDs alike, so a restored PID is often taken: each allocates from its own range, as namespace nodes do.
    pid_base: `${nodePidBase(node.index)}\n`,
    ssh_host_ed25519_key: hostKey,
    'ssh_host_ed25519_key.pub': await readFile(`${node.hostKeyPath}.pub`, 'utf8'),
    authorized_keys: `${identity.labPublicKey}\n`,
    known_hosts: identity.knownHosts,
    sshd_config: renderSshdConfig({ ...node, hostKeyPath: GUEST_HOST_KEY }),
    ...(identity.awsCredentials ? { aws_credentials: identity.awsCredentials } : {}),
  };
  for (const [name, text] of Object.entries(config)) await writeFile(join(files.configDir, name), text, { mode: 0o600 });
  await rm(files.configDiskPath, { force: true });
  await run(['mke2fs', '-q', '-t', 'ext4', '-L', 'criu-lab-cfg', '-d', files.configDir, files.configDiskPath, '4M']);
  await rm(files.overlayPath, { force: true });
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.rootfsPath, files.overlayPath]);
}

/** A locally administered MAC derived from a guest's address, stable across boots. */
export function guestMac(ip: string): string {
  const octets = ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
  return `52:54:${octets.join(':')}`;
}

/** What differs between the qemu guests this project boots (lab nodes, rehearsal instances). */
export interface QemuGuest {
  readonly name: string;
  readonly cpus: number;
  readonly memoryMiB: number;
  readonly kernelPath: string;
  readonly initrdPath: string;
  readonly append: string;
  /** `-drive` values, in the order the guest sees them (vda, vdb, ...). */
  readonly drives: readonly string[];
  /** `-device` values after the drives (a disk with a serial: `virtio-blk-pci,drive=<id>,serial=...`). */
  readonly devices?: readonly string[];
  readonly tap: string;
  readonly mac: string;
  readonly consolePath: string;
  readonly pidPath: string;
  /** A QMP socket, for a clean power-down. */
  readonly qmpPath?: string;
}

/** The qemu command line of a daemonized, software-emulated (TCG) guest with one tap NIC and a serial console file. */
export function qemuCommand(guest: QemuGuest): string[] {
  return [
    QEMU,
    '-name',
    guest.name,
    '-machine',
    'q35,accel=tcg',
    // TCG's `max` model: the same CPU features on every guest, so CRIU's cpuinfo check passes on restore.
    '-cpu',
    'max',
    '-smp',
    String(guest.cpus),
    '-m',
    String(guest.memoryMiB),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-kernel',
    guest.kernelPath,
    '-initrd',
    guest.initrdPath,
    '-append',
    guest.append,
    ...guest.drives.flatMap((drive) => ['-drive', drive]),
    ...(guest.devices ?? []).flatMap((device) => ['-device', device]),
    '-netdev',
    `tap,id=lab,ifname=${guest.tap},script=no,downscript=no`,
    '-device',
    `virtio-net-pci,netdev=lab,mac=${guest.mac}`,
    '-serial',
    `file:${guest.consolePath}`,
    ...(guest.qmpPath === undefined ? [] : ['-qmp', `unix:${guest.qmpPath},server=on,wait=off`]),
    '-pidfile',
    guest.pidPath,
    '-daemonize',
  ];
}

function labGuest(node: NodeLayout, image: VmImage): QemuGuest {
  const files = guestFiles(node);
  return {
    name: `criu-lab-${node.netns}`,
    cpus: GUEST_CPUS,
    memoryMiB: GUEST_MEMORY_MIB,
    kernelPath: image.kernelPath,
    initrdPath: image.initrdPath,
    // THP only on request (Ubuntu's cloud default): with Debian's `always`, khugepaged collapsing an
    // idle heap marks 512 pages soft-dirty per huge page, so an idle process never looks converged.
    append: 'root=/dev/vda rw console=ttyS0 init=/sbin/criu-lab-init panic=-1 quiet transparent_hugepage=madvise',
    drives: [`file=${files.overlayPath},if=virtio,format=qcow2,cache=unsafe`, `file=${files.configDiskPath},if=virtio,format=raw,readonly=on`],
    tap: node.veth,
    mac: guestMac(node.ip),
    consolePath: files.consolePath,
    pidPath: files.pidPath,
  };
}

export function qemuArgv(node: NodeLayout, image: VmImage): string[] {
  return qemuCommand(labGuest(node, image));
}

/** Starts a guest in the background; returns qemu's PID. */
export async function startQemu(guest: QemuGuest, hint: string): Promise<number> {
  await run(qemuCommand(guest), { hint });
  const pid = Number((await readFile(guest.pidPath, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new ExternalError(`qemu for ${guest.name} wrote no PID`, { hint: `look at ${guest.consolePath}` });
  return pid;
}

export function startGuest(node: NodeLayout, image: VmImage): Promise<number> {
  return startQemu(labGuest(node, image), `check the tap ${node.veth} and the image files in ${image.dir}`);
}

async function consoleTail(node: NodeLayout, lines = 15): Promise<string> {
  try {
    return (await readFile(guestFiles(node).consolePath, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no console log)';
  }
}

/** Waits for the guest's sshd banner; fails with the serial console's tail when qemu exits or time runs out. */
export async function waitUntilGuestAnswers(node: NodeLayout, qemuPid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await readSshBanner(node.ip, 1_000)) !== undefined) return;
    const running = await isRunning(qemuPid);
    if (!running || Date.now() > deadline) {
      const why = running ? `did not answer SSH on ${node.ip}:${SSH_PORT} within ${timeoutMs / 1000} s` : 'qemu exited while booting';
      throw new ExternalError(`guest ${node.name} (${node.ip}) ${why}; its console ends with:\n${await consoleTail(node)}`, {
        hint: 'fix the cause shown on the console, then run `criu-lab lab up --backend vm` again (the failed lab was removed)',
      });
    }
    await sleep(500);
  }
}

/** PIDs of the qemu processes running a guest of this lab (their drives live under its node dirs). */
export async function labGuestPids(slots: LabLayout): Promise<number[]> {
  const nodesDir = `${join(slots.stateDir, 'nodes')}/`;
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (argv[0] === QEMU && argv.some((arg) => arg.includes(nodesDir))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** SIGKILLs the lab's guests (their disks are scratch) and waits until they are gone; returns how many there were. */
export async function killLabGuests(slots: LabLayout, timeoutMs = 10_000): Promise<number> {
  const pids = await labGuestPids(slots);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + timeoutMs;
  while ((await labGuestPids(slots)).length > 0) {
    if (Date.now() > deadline)
      throw new ExternalError(`qemu processes of lab '${slots.name}' survive SIGKILL`, { hint: `look at them with \`ps -fp ${pids.join(',')}\`` });
    await sleep(50);
  }
  return pids.length;
}
