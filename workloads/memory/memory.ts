// The memory workload: a heap that grows block by block (the seed's "pre-dump efficiency"
// scenario). Verify proves every block frozen at dump time is byte-identical after restore.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { check, defineWorkload, numeric, verdict, type WorkloadFinal } from '../workload.js';

export interface MemoryParams {
  readonly mb_size: number;
  readonly interval: number;
  readonly max_memory: number;
}

/** sha256 over the first `count` block digests: the payload's own chained checksum. */
export function chainChecksum(digests: readonly string[], count: number): string {
  const hash = createHash('sha256');
  for (const digest of digests.slice(0, count)) hash.update(digest);
  return hash.digest('hex');
}

function blockDigests(final: WorkloadFinal): string[] {
  const digests = final['block_digests'];
  return Array.isArray(digests) ? digests.map(String) : [];
}

export const memoryWorkload = defineWorkload<MemoryParams>({
  name: 'memory',
  description: 'a heap growing by --mb-size MiB every --interval s up to --max-memory MiB',
  params: [
    { key: 'mb_size', flag: '--mb-size', description: 'memory block size (MiB)', schema: numeric(z.number().int().positive().max(1 << 20)).default(256) },
    { key: 'interval', flag: '--interval', description: 'seconds between allocations', schema: numeric(z.number().positive().max(86_400)).default(5) },
    { key: 'max_memory', flag: '--max-memory', description: 'heap size to grow to (MiB)', schema: numeric(z.number().int().positive().max(1 << 24)).default(8192) },
  ],
  payloadFiles: [fileURLToPath(new URL('./payload.py', import.meta.url))],
  startArgv: ({ params, workDir }) => [
    '/usr/bin/python3', `${workDir}/payload.py`, '--working-dir', workDir,
    '--mb-size', String(params.mb_size), '--interval', String(params.interval), '--max-memory', String(params.max_memory),
  ],
  criuFlags: { dump: [], restore: [] },
  // A migration of "a 1 GiB process" means the heap has reached its target size.
  readyToMigrate: (status, params) => Number(status['allocated_mb']) + params.mb_size > params.max_memory,
  verify: ({ frozen, resumed, final }) => {
    const frozenBlocks = Number(frozen['blocks']);
    const digests = blockDigests(final);
    const recomputed = chainChecksum(digests, frozenBlocks);
    return verdict([
        check('progress continues', resumed.counter > frozen.counter, `counter ${frozen.counter} at freeze, ${resumed.counter} after restore`),
        check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
        check('blocks intact', digests.length >= frozenBlocks && recomputed === frozen.checksum,
          `${frozenBlocks} blocks (${frozen['allocated_mb']} MiB) frozen; checksum re-read from memory ${recomputed.slice(0, 16)}… vs ${frozen.checksum.slice(0, 16)}… at freeze`),
    ]);
  },
});
