// The rehearsal guests' image: the VM lab's image made into a stand-in for Debian's AMI by
// build-guest-image.sh (systemd, cloud-init with NoCloud, the login user admin, setup-host.sh's
// packages), cached beside the lab's under the hash of both recipes and setup-host.sh.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assetPath } from '../../../core/package-root.js';
import { run } from '../../local/exec.js';
import { BUILD_TIMEOUT_MS, DEFAULT_IMAGE_CACHE, ensureCachedImage, ensureVmImage, type VmImageResult } from '../../local/vm/image.js';
import { SETUP_HOST_PATH } from '../user-data.js';

export const GUEST_IMAGE_SCRIPT = assetPath('infra/aws/rehearsal/build-guest-image.sh');
export const GUEST_IMAGE_CACHE = join(DEFAULT_IMAGE_CACHE, 'rehearsal');

/** The rehearsal image for the current recipes, built (and the lab image under it) when missing. */
export async function ensureGuestImage(cacheDir: string = GUEST_IMAGE_CACHE): Promise<VmImageResult & { readonly labImageMs: number }> {
  const lab = await ensureVmImage();
  const hash = createHash('sha256').update(lab.image.recipeHash);
  for (const path of [GUEST_IMAGE_SCRIPT, SETUP_HOST_PATH]) hash.update(await readFile(path));
  const result = await ensureCachedImage(cacheDir, hash.digest('hex').slice(0, 16), (partial) =>
    run(['bash', GUEST_IMAGE_SCRIPT, partial, lab.image.dir, SETUP_HOST_PATH], {
      timeoutMs: BUILD_TIMEOUT_MS,
      hint: `run \`bash ${GUEST_IMAGE_SCRIPT} /tmp/guest-image ${lab.image.dir} ${SETUP_HOST_PATH}\` by hand to see the whole output`,
    }),
  );
  return { ...result, labImageMs: lab.durationMs };
}
