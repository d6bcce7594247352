// What a run may leave on a lab's nodes, for lab tests that migrate workloads: processes of a run
// (a work dir named <workload>_<date>_<time>), of CRIU, rsync or a payload's helpers, and per-run
// directories under the nodes' work and image roots.
import { existsSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsPids } from '../../infra/local/network.js';
import type { LabInfo } from '../../infra/local/lab.js';

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
