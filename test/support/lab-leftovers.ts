// What a run may leave on a lab's nodes, for lab tests that migrate workloads: processes of a run
// (a work dir named <workload>_<date>_<time>), of CRIU, rsync or a payload's helpers, and per-run
// directories under the nodes' work and image roots.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { netnsPids } from '../../infra/local/network.js';
import type { LabInfo } from '../../infra/local/lab.js';

const execFileAsync = promisify(execFile);

export async function runLeftovers(info: LabInfo, nodes: readonly string[]): Promise<string[]> {
  const found: string[] = [];
  for (const node of nodes) {
    for (const sub of ['srv/criu-lab/work', 'srv/criu-lab/img']) {
      const dir = join(info.stateDir, 'nodes', node, sub);
      if (existsSync(dir)) found.push(...readdirSync(dir).map((entry) => `${node}:${sub}/${entry}`));
    }
    for (const pid of await netnsPids(`${info.name}-${node}`)) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
      if (/_\d{8}_\d{6}|criu |rsync|redis-server|ffmpeg/.test(cmdline)) found.push(`${node}: ${cmdline}`);
    }
  }
  return found;
}

/** Where a storage lab's stand-ins keep their data on the host: the S3 bucket's objects and the shared (efs) directory. */
export const storageDir = (info: LabInfo): string => join(info.stateDir, 'nodes', 'storage', 'srv');

/** Files (not directories) under a host path, recursively: the S3 stand-in keeps nothing but objects, parts of open uploads and bodies arriving. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** What a run may leave on a storage lab: run dirs on either node, objects in the bucket, files on the shared directory or the volume. */
export async function storageLeftovers(info: LabInfo): Promise<string[]> {
  const found: string[] = [];
  for (const node of ['n1', 'n2'])
    for (const sub of ['srv/criu-lab/work', 'srv/criu-lab/img']) found.push(...filesUnder(join(info.stateDir, 'nodes', node, sub)));
  found.push(...filesUnder(join(storageDir(info), 's3')), ...filesUnder(join(storageDir(info), 'efs')));
  // The volume is mounted in whichever node has it now; look from inside each node's mount namespace.
  for (const node of info.nodes) {
    const { stdout } = await execFileAsync('nsenter', [
      `--target=${node.hostPid}`,
      '--mount',
      '--',
      'sh',
      '-c',
      'mountpoint -q /mnt/ebs && ls -A /mnt/ebs || true',
    ]);
    found.push(
      ...stdout
        .split('\n')
        .filter((entry) => entry && entry !== 'lost+found')
        .map((entry) => `${node.name}:/mnt/ebs/${entry}`),
    );
  }
  return found;
}

/** Processes of a run (its work dir name), of CRIU or of the aws CLI still alive on a lab's nodes. */
export async function storageRunProcesses(info: LabInfo): Promise<string[]> {
  const found: string[] = [];
  for (const node of info.nodes)
    for (const pid of await netnsPids(node.netns)) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
      if (/memory_\d{8}|criu |\/usr\/bin\/aws /.test(cmdline)) found.push(`${node.name}: ${cmdline}`);
    }
  return found;
}
