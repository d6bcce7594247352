// The matmul workload: dense float64 matrix products (the seed's HPC scenario). Verify proves
// the inputs survived bit for bit and the results match a recomputation from the seeded inputs.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import { check, defineWorkload, numeric, pythonModule, stringList, verdict, pythonPayloadArgv, withProtocol } from '../workload.js';

export interface MatmulParams {
  readonly matrix_size: number;
  readonly iterations: number;
  readonly interval: number;
}

const short = (digest: unknown) => `${String(digest).slice(0, 16)}…`;

export const matmulWorkload = defineWorkload<MatmulParams>({
  name: 'matmul',
  description: 'continuous multiplication of two seeded --matrix-size² float64 matrices (numpy)',
  params: [
    // At most the original's 16384: three float64 matrices of that size are 6 GiB.
    {
      key: 'matrix_size',
      flag: '--matrix-size',
      description: 'square matrix size N (N×N)',
      schema: numeric(z.number().int().positive().max(16_384)).default(2048),
    },
    { key: 'iterations', flag: '--iterations', description: 'products to compute (0 = forever)', schema: numeric(z.number().int().nonnegative()).default(0) },
    { key: 'interval', flag: '--interval', description: 'minimum seconds between products', schema: numeric(z.number().nonnegative().max(86_400)).default(1) },
  ],
  payloadFiles: withProtocol(assetPath('workloads/matmul/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--matrix-size',
    String(params.matrix_size),
    '--iterations',
    String(params.iterations),
    '--interval',
    String(params.interval),
  ],
  criuFlags: { dump: [], restore: [] },
  requires: [pythonModule('numpy', 'python3-numpy')],
  // Worth migrating once there is a result to check against a recomputation.
  readyToMigrate: (status) => status.counter >= 1,
  verify: ({ frozen, resumed, final }) => {
    // recomputed_digests[0] is an even iteration's product (B @ A), [1] an odd one's (A @ B).
    const recomputed = stringList(final['recomputed_digests']);
    const frozenRecomputed = recomputed[frozen.counter % 2];
    const liveRecomputed = recomputed[final.counter % 2];
    return verdict([
      check('progress continues', resumed.counter > frozen.counter, `iteration ${frozen.counter} at freeze, ${resumed.counter} after restore`),
      check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
      check(
        'inputs intact',
        final['checksum'] === frozen.checksum && final['seeded_checksum'] === frozen.checksum,
        `inputs ${short(frozen.checksum)} at freeze; re-read from memory ${short(final['checksum'])}; regenerated from the seed ` +
          `${short(final['seeded_checksum'])}`,
      ),
      check(
        'results match a recomputation',
        frozenRecomputed !== undefined && frozenRecomputed === frozen['result_digest'] && liveRecomputed === final['result_digest'],
        `iteration ${frozen.counter}: ${short(frozen['result_digest'])} at freeze vs ${short(frozenRecomputed)} recomputed; iteration ${final.counter} in ` +
          `memory ${short(final['result_digest'])} vs ${short(liveRecomputed)} recomputed`,
      ),
    ]);
  },
});
