// The VM lab's guest image: built once with build-image.sh (debootstrap, Debian's kernel, the
// host's CRIU) and cached under a directory named by the hash of its recipe, so only a changed
// recipe (the build script, the guest init, or the CRIU binary) builds it again.
import { assetPath } from '../../../core/package-root.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ExternalError } from '../../../core/errors.js';
import { run } from '../exec.js';

export const BUILD_SCRIPT = assetPath('infra/local/vm/build-image.sh');
export const GUEST_INIT = assetPath('infra/local/vm/guest-init.sh');
const SETUP_VM_SCRIPT = assetPath('scripts/setup-vm.sh');
/** CRIU as scripts/setup-host.sh installs it; the guests run the same binary. */
export const HOST_CRIU = '/usr/local/sbin/criu';
export const DEFAULT_IMAGE_CACHE = '/var/cache/criu-lab/vm';
/** debootstrap of ~200 packages plus the initrd; a cold build takes a few minutes. */
export const BUILD_TIMEOUT_MS = 30 * 60_000;
export const READY_MARKER = 'ready';

export interface VmImage {
  /** `<cache>/<recipe hash>`. */
  readonly dir: string;
  readonly recipeHash: string;
  readonly kernelPath: string;
  readonly initrdPath: string;
  /** Raw ext4, the read-only base of every node's qcow2 overlay. */
  readonly rootfsPath: string;
}

export interface VmImageResult {
  readonly image: VmImage;
  /** False when the cached image was used. */
  readonly built: boolean;
  readonly durationMs: number;
}

/** The image's cache key: the recipe's files and the CRIU binary it copies in. */
export async function recipeHash(criuPath: string = HOST_CRIU): Promise<string> {
  const hash = createHash('sha256');
  for (const path of [BUILD_SCRIPT, GUEST_INIT, criuPath]) {
    hash.update(path === criuPath ? 'criu' : path.slice(assetPath('infra/local/vm').length));
    hash.update(await readFile(path));
  }
  return hash.digest('hex').slice(0, 16);
}

export function imageAt(dir: string, hash: string): VmImage {
  return Object.freeze({
    dir,
    recipeHash: hash,
    kernelPath: join(dir, 'vmlinuz'),
    initrdPath: join(dir, 'initrd.img'),
    rootfsPath: join(dir, 'rootfs.img'),
  });
}

/** Installs qemu, qemu-img and debootstrap with scripts/setup-vm.sh when one is missing. */
export async function ensureVmTools(): Promise<void> {
  const tools = ['/usr/bin/qemu-system-x86_64', '/usr/bin/qemu-img', '/usr/sbin/debootstrap', '/usr/sbin/mke2fs', '/usr/bin/genisoimage'];
  if (tools.every((tool) => existsSync(tool))) return;
  await run(['bash', SETUP_VM_SCRIPT], { timeoutMs: 15 * 60_000, hint: `run \`bash ${SETUP_VM_SCRIPT}\` as root and fix what it reports` });
}

/** The cached image for the current recipe, built first when there is none. */
export async function ensureVmImage(cacheDir: string = DEFAULT_IMAGE_CACHE): Promise<VmImageResult> {
  if (!existsSync(HOST_CRIU)) {
    throw new ExternalError(`the VM image copies the host's CRIU, and ${HOST_CRIU} is missing`, {
      hint: 'build it with `bash scripts/setup-host.sh` (as root)',
    });
  }
  await ensureVmTools();
  return ensureCachedImage(cacheDir, await recipeHash(), (partial) =>
    run(['bash', BUILD_SCRIPT, partial, HOST_CRIU, GUEST_INIT], {
      timeoutMs: BUILD_TIMEOUT_MS,
      hint: `run \`bash ${BUILD_SCRIPT} /tmp/vm-image ${HOST_CRIU} ${GUEST_INIT}\` by hand to see the whole output`,
    }),
  );
}

/**
 * The image `<cacheDir>/<hash>`, made by `build(partialDir)` when it is not there yet: built
 * beside its final place and renamed, so an interrupted build never looks ready.
 */
export async function ensureCachedImage(cacheDir: string, hash: string, build: (partialDir: string) => Promise<unknown>): Promise<VmImageResult> {
  const started = performance.now();
  const dir = join(cacheDir, hash);
  const image = imageAt(dir, hash);
  if (existsSync(join(dir, READY_MARKER))) return { image, built: false, durationMs: performance.now() - started };
  await mkdir(cacheDir, { recursive: true });
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
  await build(partial);
  await writeFile(join(partial, READY_MARKER), `${new Date().toISOString()}\n`);
  await rename(partial, dir);
  return { image, built: true, durationMs: performance.now() - started };
}
