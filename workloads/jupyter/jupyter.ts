// The jupyter workload: a notebook kernel session executing one cell after another (the original
// framework's interactive data-science scenario). Verify proves cells go on executing and every
// variable the session held at the freeze is byte-identical after restore.
import { assetPath } from '../../core/package-root.js';
import { z } from 'zod';
import { chainChecksum, check, defineWorkload, numeric, pythonModule, pythonPayloadArgv, stringList, verdict, withProtocol } from '../workload.js';

export interface JupyterParams {
  readonly num_cells: number;
  readonly cell_interval: number;
}

/** Cells executed (the first, the import, included) before the session is worth migrating: with the seed, it then holds a data set and results. */
export const READY_CELLS = 5;

export const jupyterWorkload = defineWorkload<JupyterParams>({
  name: 'jupyter',
  description:
    'a simulated notebook kernel session: a seeded mix of import, markdown, data_load, computation, visualization and model cells, one every --cell-interval s (numpy)',
  params: [
    {
      key: 'num_cells',
      flag: '--num-cells',
      description: 'cells to execute after the first (0 = forever)',
      schema: numeric(z.number().int().nonnegative()).default(0),
    },
    {
      key: 'cell_interval',
      flag: '--cell-interval',
      description: 'seconds from the end of a cell to the next',
      schema: numeric(z.number().positive().max(86_400)).default(3),
    },
  ],
  payloadFiles: withProtocol(assetPath('workloads/jupyter/payload.py')),
  startArgv: ({ params, workDir, scriptDir }) => [
    ...pythonPayloadArgv({ workDir, scriptDir }),
    '--num-cells',
    String(params.num_cells),
    '--cell-interval',
    String(params.cell_interval),
  ],
  criuFlags: { dump: [], restore: [] },
  requires: [pythonModule('numpy', 'python3-numpy')],
  readyToMigrate: (status, params) => status.counter >= (params.num_cells > 0 ? Math.min(READY_CELLS, params.num_cells + 1) : READY_CELLS),
  verify: ({ frozen, resumed, final }) => {
    const frozenVariables = Number(frozen['variables']);
    const digests = stringList(final['variable_digests']);
    const recomputed = chainChecksum(digests, frozenVariables);
    const last = (s: typeof frozen) => (s['last_cell'] as { kind?: string } | undefined)?.kind ?? 'none';
    return verdict([
      check(
        'progress continues',
        resumed.counter > frozen.counter,
        `cell ${frozen.counter} (${last(frozen)}) at freeze, ${resumed.counter} (${last(resumed)}) after restore`,
      ),
      check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
      check(
        'notebook state intact',
        digests.length >= frozenVariables && recomputed === frozen.checksum,
        `${frozenVariables} variables (${String(frozen['memory_mb'])} MiB) at freeze; checksum re-read from memory ${recomputed.slice(0, 16)}… vs ${frozen.checksum.slice(0, 16)}… at freeze`,
      ),
    ]);
  },
});
