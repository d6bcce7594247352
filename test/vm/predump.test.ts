// Pre-dump for real, on the VM lab (lab name v9t): qemu guests booting Debian's kernel, which
// has the soft-dirty tracking this host's kernel lacks. Slow (software emulation, a cold image
// build takes a few minutes), so `npm test` skips it: run it with `npm run test:vm`
// (CRIU_LAB_VM_TESTS=1), as root, on a host prepared by scripts/setup-host.sh.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, expect, it } from '@jest/globals';
import { ExternalError } from '../../core/errors.js';
import { customWorkload, definitionSchema } from '../../workloads/custom/custom.js';
import { workloads } from '../../workloads/registry.js';
import { setting, useLab } from '../support/lab.js';
import { describeOnVm, VM_LAB_TIMEOUTS } from '../support/vm.js';

const root = resolve(import.meta.dirname, '../..');
const QUIET = 'v9_quiet_memory';
/**
 * Pre-copy between TCG guests runs at a few MB/s (rsync over ssh, emulated), so with AWS's 120 s
 * the rule would stop on the deadline after one round; a patient deadline lets it see the trend.
 */
const PATIENT_DEADLINE_S = 900;

const describeVm = await describeOnVm('test/vm/predump');

describeVm('predump on the VM lab', () => {
  const lab = useLab({ name: 'v9t', nodes: 2, backend: 'vm', ...VM_LAB_TIMEOUTS });

  // A failed CRIU call's log lives on the guest, gone with the lab: the failure carries its tail.
  const migrate = (overrides: Record<string, unknown>) =>
    lab.migrate(Object.entries(overrides).map(([path, value]) => setting(path, value))).catch((error: unknown) => {
      const logTail = error instanceof ExternalError ? error.details.logTail : undefined;
      throw logTail ? new Error(`${error instanceof Error ? error.message : String(error)}\nlog tail:\n${logTail}`) : error;
    });

  beforeAll(() => {
    const script = join(root, 'test/vm/fixtures/quiet_memory.py');
    workloads.register(
      customWorkload(
        QUIET,
        definitionSchema.parse({
          description: 'fills memory once, then sleeps',
          script,
          args: ['--working_dir', '{work_dir}', '--mb', '{mb}'],
          params: { mb: { flag: '--mb', type: 'integer', default: 64 } },
        }),
        script,
      ),
    );
  });

  it(
    'migrates a 128 MiB memory workload after 3 pre-dumps, restoring through the parent chain on the destination',
    async () => {
      const { metrics, resultsDir } = await migrate({
        'checkpoint.strategy.mode': 'predump',
        'checkpoint.strategy.predump_iterations': 3,
        'checkpoint.strategy.predump_interval': 2,
        'workload.type': 'memory',
        'workload.mb_size': 32,
        'workload.max_memory': 128,
        'workload.interval': 0.2,
      });
      expect(metrics.verify?.ok).toBe(true);
      const written = metrics.predump!.iterations.map((round) => round.criuStats['pages_written'] ?? 0);
      expect(metrics.predump!.stopReason).toBe('iterations');
      expect(written).toHaveLength(3);
      // Round 1 copies the whole heap; later rounds only what the workload dirtied since.
      expect(written[0]!).toBeGreaterThanOrEqual((128 * 1024 * 1024) / 4096);
      expect(written[1]!).toBeLessThan(written[0]! / 10);
      expect(written[2]!).toBeLessThan(written[0]! / 10);
      expect(metrics.dump!.criuStats!['pages_written']!).toBeLessThan(written[0]! / 10);
      // CRIU on the destination opened the final dump and its three parents, and read pages from them.
      const restoreLog = readFileSync(join(resultsDir, 'dest/criu-restore.log'), 'utf8');
      expect(restoreLog).toMatch(/Opened local page read 4 \(parent 3\)/);
      expect(restoreLog).toMatch(/Read from parent/);
    },
    10 * 60_000,
  );

  it(
    'stops pre-copy as converged (--predump-iterations auto) on a workload that dirties memory slowly',
    async () => {
      const { metrics } = await migrate({
        'checkpoint.strategy.mode': 'predump',
        'checkpoint.strategy.predump_iterations': 'auto',
        'checkpoint.strategy.predump_interval': 1,
        'workload.type': QUIET,
        'workload.mb': 64,
        'checkpoint.strategy.deadline': PATIENT_DEADLINE_S,
      });
      expect({ reason: metrics.predump!.stopReason, detail: metrics.predump!.stopDetail }).toMatchObject({ reason: 'converged' });
      expect(metrics.predump!.iterations.length).toBeGreaterThanOrEqual(2);
      expect(metrics.verify?.ok).toBe(true);
    },
    10 * 60_000,
  );

  it(
    'stops pre-copy as diverging (--predump-iterations auto) on a workload that dirties memory faster than it is copied',
    async () => {
      const { metrics } = await migrate({
        'checkpoint.strategy.mode': 'predump',
        'checkpoint.strategy.predump_iterations': 'auto',
        'checkpoint.strategy.predump_interval': 1,
        'workload.type': 'memory',
        'workload.mb_size': 8,
        'workload.interval': 0.1,
        'workload.max_memory': 192,
        'experiment.migrate_after': 1,
        'checkpoint.strategy.deadline': PATIENT_DEADLINE_S,
      });
      expect({ reason: metrics.predump!.stopReason, detail: metrics.predump!.stopDetail }).toMatchObject({ reason: 'diverging' });
      const written = metrics.predump!.iterations.map((round) => round.criuStats['pages_written'] ?? 0);
      expect(written[written.length - 1]!).toBeGreaterThanOrEqual(written[written.length - 2]! * 1.1);
      expect(metrics.verify?.ok).toBe(true);
    },
    10 * 60_000,
  );
});
