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

/** Where a storage lab keeps its files on the host: the shared (efs) directory (moto keeps the S3 bucket in memory). */
export const storageDir = (info: LabInfo): string => join(info.stateDir, 'nodes', 'storage', 'srv');

/** Files (not directories) under a host path, recursively. */
export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * What the storage lab's bucket holds, asked of moto (which checks no signatures): objects as
 * s3://bucket/key, and multipart uploads begun and never completed or aborted.
 */
export async function bucketObjects(info: LabInfo): Promise<string[]> {
  if (!info.storage) return [];
  const { endpointUrl, bucket } = info.storage.s3;
  const keys = async (query: string) => {
    const response = await fetch(`${endpointUrl}/${bucket}?${query}`, { signal: AbortSignal.timeout(10_000) });
    const xml = await response.text();
    if (!response.ok) throw new Error(`moto at ${endpointUrl} answered ${response.status} to ?${query}: ${xml}`);
    return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => `s3://${bucket}/${match[1]}`);
  };
  return [...(await keys('list-type=2')), ...(await keys('uploads')).map((key) => `${key} (unfinished multipart upload)`)];
}

/** What a run may leave on a storage lab: run dirs on either node, objects in the bucket, files on the shared directory or the volume. */
export async function storageLeftovers(info: LabInfo): Promise<string[]> {
  const found: string[] = [];
  for (const node of ['n1', 'n2'])
    for (const sub of ['srv/criu-lab/work', 'srv/criu-lab/img']) found.push(...filesUnder(join(info.stateDir, 'nodes', node, sub)));
  found.push(...(await bucketObjects(info)), ...filesUnder(join(storageDir(info), 'efs')));
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
