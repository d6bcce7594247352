// The memory workload: a heap that grows block by block (the seed's "pre-dump efficiency"
// scenario). Verify proves every block frozen at dump time is byte-identical after restore.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import {
  chainChecksum,
  check,
  defineWorkload,
  flagBoolean,
  numeric,
  stringList,
  verdict,
  type WorkloadFinal,
  pythonPayloadArgv,
  withProtocol,
} from '../workload.js';

export interface MemoryParams {
  readonly mb_size: number;
  readonly interval: number;
  readonly max_memory: number;
  readonly check_lazy_loading: boolean | undefined;
}

/** Touching every page right after the flag goes is when lazily restored pages must arrive from the source. */
function lazyLoadingCheck(final: WorkloadFinal) {
  const pages = Number(final['pages_touched']);
  const touchMs = Number(final['touch_ms']);
  return check('every page touched after restore', pages > 0 && Number.isFinite(touchMs), `${pages} pages touched in ${touchMs.toFixed(1)} ms`);
}

export const memoryWorkload = defineWorkload<MemoryParams>({
  name: 'memory',
  description: 'a heap growing by --mb-size MiB every --interval s up to --max-memory MiB',
  params: [
    {
      key: 'mb_size',
      flag: '--mb-size',
      description: 'memory block size (MiB)',
      schema: numeric(
        z
          .number()
          .int()
          .positive()
          .max(1 << 20),
      ).default(256),
    },
    { key: 'interval', flag: '--interval', description: 'seconds between allocations', schema: numeric(z.number().positive().max(86_400)).default(5) },
    {
      key: 'max_memory',
      flag: '--max-memory',
      description: 'heap size to grow to (MiB)',
      schema: numeric(
        z
          .number()
          .int()
          .positive()
          .max(1 << 24),
      ).default(8192),
    },
    {
      key: 'check_lazy_loading',
      flag: '--check-lazy-loading',
      description: 'after restore, touch every page of the heap and report how long it took (lazy pages arrive then)',
      schema: flagBoolean().optional(),
      isSwitch: true,
    },
  ],
  payloadFiles: withProtocol(assetPath('workloads/memory/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--mb-size',
    String(params.mb_size),
    '--interval',
    String(params.interval),
    '--max-memory',
    String(params.max_memory),
    ...(params.check_lazy_loading ? ['--check-lazy-loading'] : []),
  ],
  criuFlags: { dump: [], restore: [] },
  requires: [],
  validate: ({ mb_size, max_memory }) =>
    mb_size > max_memory
      ? [
          {
            key: 'mb_size',
            message: `${mb_size} MiB blocks cannot exceed workload.max_memory (${max_memory} MiB)`,
            fix: 'a smaller --mb-size or a larger --max-memory',
          },
        ]
      : [],
  // A migration of "a 1 GiB process" means the heap has reached its target size.
  readyToMigrate: (status, params) => Number(status['allocated_mb']) + params.mb_size > params.max_memory,
  verify: ({ params, frozen, resumed, final }) => {
    const frozenBlocks = Number(frozen['blocks']);
    const digests = stringList(final['block_digests']);
    const recomputed = chainChecksum(digests, frozenBlocks);
    return verdict([
      check('progress continues', resumed.counter > frozen.counter, `counter ${frozen.counter} at freeze, ${resumed.counter} after restore`),
      check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
      check(
        'blocks intact',
        digests.length >= frozenBlocks && recomputed === frozen.checksum,
        `${frozenBlocks} blocks (${frozen['allocated_mb']} MiB) frozen; checksum re-read from memory ${recomputed.slice(0, 16)}… vs ` +
          `${frozen.checksum.slice(0, 16)}… at freeze`,
      ),
      ...(params.check_lazy_loading ? [lazyLoadingCheck(final)] : []),
    ]);
  },
});
