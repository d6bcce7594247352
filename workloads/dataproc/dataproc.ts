// The dataproc workload: pandas-like operations over a large seeded numpy table (the seed's ETL
// scenario). Verify proves the operations go on and the table is bit-identical after restore.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import { check, defineWorkload, numeric, pythonModule, verdict, pythonPayloadArgv, withProtocol } from '../workload.js';

export interface DataprocParams {
  readonly num_rows: number;
  readonly num_cols: number;
  readonly operations: number;
  readonly interval: number;
}

export const dataprocWorkload = defineWorkload<DataprocParams>({
  name: 'dataproc',
  description: 'filter, aggregate, sort, group_aggregate, join, transform and window in rotation over a seeded --num-rows × --num-cols table (numpy)',
  params: [
    { key: 'num_rows', flag: '--num-rows', description: 'table rows', schema: numeric(z.number().int().positive().max(1e10)).default(1_000_000) },
    { key: 'num_cols', flag: '--num-cols', description: 'table columns', schema: numeric(z.number().int().positive().max(100_000)).default(50) },
    { key: 'operations', flag: '--operations', description: 'operations to run (0 = forever)', schema: numeric(z.number().int().nonnegative()).default(0) },
    { key: 'interval', flag: '--interval', description: 'seconds between operations', schema: numeric(z.number().nonnegative().max(86_400)).default(1) },
  ],
  payloadFiles: withProtocol(assetPath('workloads/dataproc/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--num-rows',
    String(params.num_rows),
    '--num-cols',
    String(params.num_cols),
    '--operations',
    String(params.operations),
    '--interval',
    String(params.interval),
  ],
  criuFlags: { dump: [], restore: [] },
  requires: [pythonModule('numpy', 'python3-numpy')],
  verify: ({ frozen, resumed, final }) => {
    const last = (s: typeof frozen) => (s['last_operation'] as { operation?: string } | undefined)?.operation ?? 'none yet';
    return verdict([
      check(
        'progress continues',
        resumed.counter > frozen.counter,
        `operation ${frozen.counter} (${last(frozen)}) at freeze, ${resumed.counter} (${last(resumed)}) after restore`,
      ),
      check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
      check(
        'table intact',
        final['checksum'] === frozen.checksum,
        `${String(frozen['rows'])}×${String(frozen['cols'])} table (${String(frozen['table_mb'])} MiB): ${frozen.checksum.slice(0, 16)}… at freeze; re-read ` +
          `from memory after restore ${String(final['checksum']).slice(0, 16)}…`,
      ),
    ]);
  },
});
