// The rehearsal's instances: one qemu guest per EC2 instance moto launched, at the private
// address moto gave it, booting the rehearsal image with that instance's user data byte for byte
// through cloud-init (NoCloud seed), its serial console being what GetConsoleOutput returns; each
// EBS volume attached to an instance is a disk of its guest, and EFS is an NFS export on one more
// guest holding every mount target's address. All sit on one bridge; the host's address on it
// is the VPC's last, its routes keep every VPC address on the bridge, and a firewall rule lets the
// host open SSH to the bastion alone, as the nodes' security group does on AWS.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalError, UsageError } from '../../../core/errors.js';
import { run } from '../../local/exec.js';
import { isRunning } from '../../local/node.js';
import { guestMac, QEMU, startQemu } from '../../local/vm/guest.js';
import type { VmImage } from '../../local/vm/image.js';
import type { ConsoleReader } from '../boot-report.js';
import { userDataOf, type RehearsalPlan } from './cloud.js';
import { startPackageProxy, type PackageProxy } from './package-proxy.js';
import {
  ec2HostName,
  EFS_READY_LINE,
  efsUserData,
  hostAddress,
  instanceAddresses,
  metaData,
  mirrorAptConf,
  networkConfig,
  vendorData,
  vpcPrefixLength,
} from './seed.js';

/** One rehearsal per host: the bridge, its taps and the firewall table have fixed names. */
export const REHEARSAL_BRIDGE = 'crl-rh';
const TAP_PREFIX = 'crl-rh';
const NFT_TABLE = 'criu_lab_rehearsal';
/** qemu's -name of every rehearsal guest starts with this; leftovers are found by it. */
const QEMU_NAME_PREFIX = 'criu-lab-rehearsal-';
/** An EBS volume's disk: sparse, so its size costs nothing until written. */
export const VOLUME_DISK_GIB = 8;
const EFS_GUEST = 'efs';
const EFS_TIMEOUT_MS = 20 * 60_000;
// The root file system by its label: a node's EBS disk may come first on the PCI bus and be vda.
const KERNEL_ARGS = 'root=LABEL=criu-lab-root rw console=ttyS0 panic=-1 transparent_hugepage=madvise ds=nocloud';

export interface GuestPlan {
  /** The instance's name (bastion, az-a-node-0), or `efs` for the EFS stand-in. */
  readonly name: string;
  /** The EC2 instance id whose console this guest is; the EFS stand-in has its own name. */
  readonly instanceId: string;
  readonly addresses: readonly string[];
  readonly memoryMiB: number;
  readonly cpus: number;
  readonly userData: Buffer;
  readonly metaData: string;
  /** EBS volumes as virtio disks whose serial is the volume id without its dash. */
  readonly volumeSerials: readonly string[];
}

/** The guests that stand in for `plan`'s instances (bastion, nodes, then EFS when the stack has it). */
export function planGuests(plan: RehearsalPlan): GuestPlan[] {
  const prefix = vpcPrefixLength(plan);
  const guests: GuestPlan[] = plan.instances.map((instance) => ({
    name: instance.name,
    instanceId: instance.instanceId,
    addresses: instanceAddresses(instance, prefix),
    // Nodes hold a workload, its images and CRIU; the bastion only forwards SSH.
    memoryMiB: instance.role === 'node' ? 1536 : 512,
    cpus: instance.role === 'node' ? 2 : 1,
    userData: userDataOf(instance),
    metaData: metaData(instance.instanceId, ec2HostName(instance.privateIp), plan.authorizedKey),
    volumeSerials: instance.attachedVolumes.map((volume) => volume.volumeId.replace('-', '')),
  }));
  if (plan.efs !== undefined && plan.efs.mountTargets.length > 0) {
    guests.push({
      name: EFS_GUEST,
      instanceId: EFS_GUEST,
      addresses: plan.efs.mountTargets.map((target) => `${target.ip}/${prefix}`),
      memoryMiB: 512,
      cpus: 1,
      userData: Buffer.from(efsUserData(plan.vpc.cidr)),
      metaData: metaData(plan.efs.fileSystemId, EFS_GUEST, plan.authorizedKey),
      volumeSerials: [],
    });
  }
  return guests;
}

interface GuestFiles {
  readonly dir: string;
  readonly overlay: string;
  readonly seed: string;
  readonly console: string;
  readonly pid: string;
  readonly qmp: string;
}

/** A unix socket's path must fit sun_path. */
const MAX_SOCKET_PATH = 107;

function filesOf(guestsDir: string, name: string): GuestFiles {
  const dir = join(guestsDir, name);
  const qmp = join(dir, 'qmp.sock');
  if (qmp.length > MAX_SOCKET_PATH) {
    throw new UsageError(`the rehearsal directory is too deep for a guest's monitor socket (${qmp} is over ${MAX_SOCKET_PATH} characters)`, [], {
      hint: 'pass a shorter --rehearsal-dir',
    });
  }
  return { dir, overlay: join(dir, 'disk.qcow2'), seed: join(dir, 'seed.iso'), console: join(dir, 'console.log'), pid: join(dir, 'qemu.pid'), qmp };
}

export interface StartedGuest {
  readonly plan: GuestPlan;
  readonly pid: number;
  readonly consolePath: string;
  /** Its copy-on-write disk over the image, and its QMP socket: what `infra bake --rehearsal` saves. */
  readonly overlayPath: string;
  readonly qmpPath: string;
}

export interface RehearsalGuests {
  readonly guests: readonly StartedGuest[];
  /** The host's address on the bridge. */
  readonly hostAddress: string;
  /** GetConsoleOutput's stand-in: the serial console of the guest standing in for an instance. */
  readonly readConsole: ConsoleReader;
  /** Kills the guests, removes the bridge, taps, firewall table and disks (consoles stay); safe to call twice. */
  readonly stop: () => Promise<void>;
}

function ipCommand(args: readonly string[]): void {
  spawnSync('ip', args, { stdio: 'ignore' });
}

/** The qemu processes of rehearsal guests on this host. */
function rehearsalQemuPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0] === QEMU && argv.some((arg) => arg.startsWith(QEMU_NAME_PREFIX))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/**
 * Removes every trace of a rehearsal's guests from this host, synchronously so that a signal
 * handler can call it: qemu killed (the instances' disks are scratch), the bridge (its routes go
 * with it) and taps deleted, the firewall table dropped. Returns what it removed.
 */
export function removeRehearsalGuests(): string[] {
  const removed: string[] = [];
  for (const pid of rehearsalQemuPids()) {
    try {
      process.kill(pid, 'SIGKILL');
      removed.push(`qemu ${pid}`);
    } catch {
      // Already gone.
    }
  }
  const deadline = Date.now() + 10_000;
  while (rehearsalQemuPids().length > 0 && Date.now() < deadline) spawnSync('sleep', ['0.05']);
  for (const link of readdirSync('/sys/class/net').filter((name) => name.startsWith(TAP_PREFIX))) {
    ipCommand(['link', 'del', link]);
    removed.push(`link ${link}`);
  }
  if (spawnSync('nft', ['list', 'table', 'inet', NFT_TABLE], { stdio: 'ignore' }).status === 0) {
    spawnSync('nft', ['delete', 'table', 'inet', NFT_TABLE], { stdio: 'ignore' });
    removed.push(`nft table ${NFT_TABLE}`);
  }
  return removed;
}

async function createNetwork(plan: RehearsalPlan, host: string, guests: readonly GuestPlan[]): Promise<void> {
  const bastion = plan.instances.find((instance) => instance.role === 'bastion');
  await run(['ip', 'link', 'add', REHEARSAL_BRIDGE, 'type', 'bridge']);
  await run(['ip', 'addr', 'add', `${host}/32`, 'dev', REHEARSAL_BRIDGE]);
  await run(['ip', 'link', 'set', REHEARSAL_BRIDGE, 'up']);
  // Every VPC address and the bastion's public one stay on the bridge: nothing of the rehearsal's leaves this host.
  await run(['ip', 'route', 'add', plan.vpc.cidr, 'dev', REHEARSAL_BRIDGE, 'src', host]);
  if (bastion?.publicIp !== undefined) await run(['ip', 'route', 'add', `${bastion.publicIp}/32`, 'dev', REHEARSAL_BRIDGE, 'src', host]);
  for (const [index] of guests.entries()) {
    const tap = `${TAP_PREFIX}${index}`;
    await run(['ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await run(['ip', 'link', 'set', tap, 'master', REHEARSAL_BRIDGE, 'up']);
  }
  // The nodes' security group takes SSH from the bastion only; the host is the operator's machine.
  const allowed = [bastion?.publicIp, bastion?.privateIp].filter((ip) => ip !== undefined);
  const rules = `table inet ${NFT_TABLE} {
  chain output {
    type filter hook output priority 0;
    oifname "${REHEARSAL_BRIDGE}" tcp dport 22 ip daddr != { ${allowed.join(', ')} } reject with tcp reset
  }
}
`;
  const nft = spawnSync('nft', ['-f', '-'], { input: rules, encoding: 'utf8' });
  if (nft.status !== 0) throw new ExternalError(`nft refused the rehearsal's SSH rule: ${nft.stderr.trim()}`);
}

/** How this host reads its Debian mirror (see mirrorAptConf); empty where apt-config is missing. */
function hostMirrorConf(): string {
  const dump = spawnSync('apt-config', ['dump'], { encoding: 'utf8' });
  return dump.status === 0 ? mirrorAptConf(dump.stdout) : '';
}

async function prepareGuest(guest: GuestPlan, files: GuestFiles, image: VmImage, vendor: string): Promise<{ drives: string[]; devices: string[] }> {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const seedDir = join(files.dir, 'seed');
  mkdirSync(seedDir, { recursive: true });
  writeFileSync(join(seedDir, 'user-data'), guest.userData);
  writeFileSync(join(seedDir, 'meta-data'), guest.metaData);
  writeFileSync(join(seedDir, 'network-config'), networkConfig(guestMac(guest.addresses[0]?.split('/')[0] ?? ''), guest.addresses));
  writeFileSync(join(seedDir, 'vendor-data'), vendor);
  const seedFiles = ['user-data', 'meta-data', 'network-config', 'vendor-data'].map((name) => join(seedDir, name));
  await run(['genisoimage', '-quiet', '-output', files.seed, '-volid', 'cidata', '-joliet', '-rock', ...seedFiles], {
    hint: 'install genisoimage (bash scripts/setup-vm.sh)',
  });
  rmSync(files.overlay, { force: true });
  await run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image.rootfsPath, files.overlay]);
  const volumes = guest.volumeSerials.map((serial, index) => {
    const path = join(files.dir, `${serial}.img`);
    writeFileSync(path, '');
    spawnSync('truncate', ['-s', `${VOLUME_DISK_GIB}G`, path]);
    return { drive: `file=${path},if=none,id=ebs${index},format=raw,cache=unsafe`, device: `virtio-blk-pci,drive=ebs${index},serial=${serial}` };
  });
  return {
    drives: [
      `file=${files.overlay},if=virtio,format=qcow2,cache=unsafe`,
      `file=${files.seed},if=virtio,format=raw,readonly=on`,
      ...volumes.map((v) => v.drive),
    ],
    devices: volumes.map((v) => v.device),
  };
}

async function waitForConsoleLine(guest: StartedGuest, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(guest.consolePath) ? await readFile(guest.consolePath, 'utf8') : '';
    if (text.includes(line)) return;
    if (!(await isRunning(guest.pid)) || Date.now() > deadline) {
      throw new ExternalError(
        `the EFS stand-in did not serve within ${timeoutMs / 60_000} min; its console ends with:\n${text.trimEnd().split('\n').slice(-15).join('\n')}`,
      );
    }
    await sleep(2_000);
  }
}

/**
 * Boots a guest for every instance of `plan` (and the EFS stand-in), under `dir`/guests, and
 * waits until EFS serves; the instances' own boot is what the deploy then waits for on their consoles.
 */
export async function bootGuests(plan: RehearsalPlan, dir: string, image: VmImage, log: (line: string) => void): Promise<RehearsalGuests> {
  const leftovers = removeRehearsalGuests();
  if (leftovers.length > 0) log(`removed an earlier rehearsal's leftovers: ${leftovers.join(', ')}`);
  const guestsDir = join(dir, 'guests');
  rmSync(guestsDir, { recursive: true, force: true });
  const guests = planGuests(plan);
  const host = hostAddress(plan.vpc.cidr);
  const taken = guests.find((guest) => guest.addresses.some((address) => address.startsWith(`${host}/`)));
  if (taken !== undefined) throw new ExternalError(`moto gave ${taken.name} the address ${host}, which the rehearsal keeps for the host`);
  let proxy: PackageProxy | undefined;
  const stop = async () => {
    await proxy?.close();
    proxy = undefined;
    removeRehearsalGuests();
    for (const guest of guests) {
      const files = filesOf(guestsDir, guest.name);
      if (!existsSync(files.dir)) continue;
      for (const scratch of readdirSync(files.dir, { withFileTypes: true }).filter((entry) => entry.name !== 'console.log')) {
        rmSync(join(files.dir, scratch.name), { recursive: true, force: true });
      }
    }
  };
  try {
    await createNetwork(plan, host, guests);
    proxy = await startPackageProxy(host);
    const vendor = vendorData(proxy.url, hostMirrorConf()); // the same for every guest: read the host's apt settings once
    const started: StartedGuest[] = [];
    for (const [index, guest] of guests.entries()) {
      const files = filesOf(guestsDir, guest.name);
      const { drives, devices } = await prepareGuest(guest, files, image, vendor);
      const pid = await startQemu(
        {
          name: `${QEMU_NAME_PREFIX}${guest.name}`,
          cpus: guest.cpus,
          memoryMiB: guest.memoryMiB,
          kernelPath: image.kernelPath,
          initrdPath: image.initrdPath,
          append: KERNEL_ARGS,
          drives,
          devices,
          tap: `${TAP_PREFIX}${index}`,
          mac: guestMac(guest.addresses[0]?.split('/')[0] ?? ''),
          consolePath: files.console,
          pidPath: files.pid,
          qmpPath: files.qmp,
        },
        `look at ${files.dir}`,
      );
      started.push({ plan: guest, pid, consolePath: files.console, overlayPath: files.overlay, qmpPath: files.qmp });
      log(`guest ${guest.name} (${guest.instanceId}) booting at ${guest.addresses.join(' ')}, console ${files.console}`);
    }
    const consoles = new Map(started.map((guest) => [guest.plan.instanceId, guest.consolePath]));
    const efs = started.find((guest) => guest.plan.name === EFS_GUEST);
    if (efs !== undefined) {
      await waitForConsoleLine(efs, EFS_READY_LINE, EFS_TIMEOUT_MS);
      log(`EFS stand-in serves ${plan.efs?.fileSystemId ?? ''} at ${efs.plan.addresses.join(' ')}`);
    }
    return {
      guests: started,
      hostAddress: host,
      readConsole: async (instanceId) => {
        const path = consoles.get(instanceId);
        if (path === undefined) throw new ExternalError(`no rehearsal guest stands in for instance ${instanceId}`);
        return existsSync(path) ? readFile(path, 'utf8') : '';
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
