// The images a rehearsal guest boots, as AMIs are on AWS: the prepared image (packages and CRIU in
// place, image.ts), a stock one that stands in for Debian's own AMI (the same without CRIU, so a
// node builds it at boot as on AWS), and images baked by `infra bake --rehearsal`, each a guest's
// disk saved under the id moto gave the image, which the config's `ami` then names.
import { existsSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../local/exec.js';
import { isRunning } from '../../local/node.js';
import { ensureCachedImage, imageAt, READY_MARKER, type VmImage, type VmImageResult } from '../../local/vm/image.js';
import { GUEST_IMAGE_CACHE } from './image.js';

/** Where `infra bake --rehearsal` keeps its images, one directory per image id. */
export const BAKED_IMAGE_STORE = join(GUEST_IMAGE_CACHE, 'baked');
const IMAGE_CRIU = '/usr/local/sbin/criu';
const POWER_DOWN_TIMEOUT_MS = 180_000;

async function copyBoot(from: VmImage, dir: string): Promise<void> {
  await copyFile(from.kernelPath, join(dir, 'vmlinuz'));
  await copyFile(from.initrdPath, join(dir, 'initrd.img'));
}

/** The image baked as `imageId` when the store has it. */
export function storedImage(imageId: string, store: string = BAKED_IMAGE_STORE): VmImage | undefined {
  const dir = join(store, imageId);
  return existsSync(join(dir, READY_MARKER)) ? imageAt(dir, imageId) : undefined;
}

/** Debian's AMI as the rehearsal has it: the prepared image without CRIU, so setup-host.sh builds it at boot. */
export function stockImage(prepared: VmImage): Promise<VmImageResult> {
  return ensureCachedImage(GUEST_IMAGE_CACHE, `${prepared.recipeHash}-stock`, async (partial) => {
    await run(['mkdir', '-p', partial]);
    await run(['cp', '--sparse=always', prepared.rootfsPath, join(partial, 'rootfs.img')], { timeoutMs: 300_000 });
    await run(['debugfs', '-w', '-R', `rm ${IMAGE_CRIU}`, join(partial, 'rootfs.img')]);
    await copyBoot(prepared, partial);
  });
}

/** Sends a QMP command to a guest's monitor socket. */
function qmp(socketPath: string, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(socketPath);
    let greeted = false;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      if (!greeted && text.includes('"QMP"')) {
        greeted = true;
        socket.write('{"execute":"qmp_capabilities"}\n');
        socket.write(`{"execute":"${command}"}\n`);
        socket.end();
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
}

/** Powers a guest down as EC2's CreateImage stops an instance (ACPI), and waits until qemu exits. */
async function powerDown(qmpPath: string, pid: number, log: (line: string) => void): Promise<void> {
  await qmp(qmpPath, 'system_powerdown');
  const deadline = Date.now() + POWER_DOWN_TIMEOUT_MS;
  let stopped = false;
  while (await isRunning(pid)) {
    if (!stopped && Date.now() > deadline) {
      stopped = true;
      log(`the guest did not power down within ${POWER_DOWN_TIMEOUT_MS / 1000} s; stopping qemu (its disk is flushed, the guest's page cache is not)`);
      process.kill(pid, 'SIGTERM');
    }
    await sleep(1_000);
  }
}

export interface GuestDisk {
  readonly pid: number;
  readonly qmpPath: string;
  readonly overlayPath: string;
}

/** Saves a running guest's disk as the image `imageId`: powered down, flattened onto its base, booting with `base`'s kernel. */
export async function saveGuestImage(guest: GuestDisk, base: VmImage, imageId: string, store: string, log: (line: string) => void): Promise<VmImage> {
  await powerDown(guest.qmpPath, guest.pid, log);
  const saved = await ensureCachedImage(store, imageId, async (partial) => {
    await run(['mkdir', '-p', partial]);
    await run(['qemu-img', 'convert', '-O', 'raw', guest.overlayPath, join(partial, 'rootfs.img')], { timeoutMs: 600_000 });
    await copyBoot(base, partial);
  });
  return saved.image;
}

/** Removes a baked image from the store (a bake that failed after saving it). */
export async function discardStoredImage(imageId: string, store: string = BAKED_IMAGE_STORE): Promise<void> {
  await run(['rm', '-rf', join(store, imageId)]);
}
