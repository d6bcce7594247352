// Where criu-lab's own files are (payloads, default config, profiles, scripts): the directory
// holding its package.json, found from this module whether it runs from the sources (ts-jest,
// tsx) or from the build in dist/, in a checkout or installed with `npm install -g`. The user's
// files (config/servers.yaml, results/) are relative to the working directory instead.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'criu-lab';

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
    // An internal error: the package's files were moved apart from its code.
    if (dirname(dir) === dir) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}

/** The installed (or checked-out) criu-lab package: the directory with its package.json. */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** A file shipped with the package, by its path from the package root: `assetPath('workloads/memory/payload.py')`. */
export const assetPath = (relativePath: string): string => join(PACKAGE_ROOT, relativePath);
