// Pre-dump for real, on the VM lab (lab name v9t): qemu guests booting Debian's kernel, which
// has the soft-dirty tracking this host's kernel lacks. Slow (software emulation, a cold image
// build takes a few minutes), so `npm test` skips it: run it with `npm run test:vm`
// (CRIU_LAB_VM_TESTS=1), as root, on a host prepared by scripts/setup-host.sh.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan, type ConfigOverride } from '../../experiments/config/load.js';
import { ExternalError } from '../../core/errors.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';
import { labDown, labUp } from '../../infra/local/lab.js';
import { ensureVmTools } from '../../infra/local/vm/image.js';
import { customWorkload, definitionSchema } from '../../workloads/custom/custom.js';
import { workloads } from '../../workloads/registry.js';

const root = resolve(import.meta.dirname, '../..');
const LAB = 'v9t';
const QUIET = 'v9_quiet_memory';
/**
 * Pre-copy between TCG guests runs at a few MB/s (rsync over ssh, emulated), so with AWS's 120 s
 * the rule would stop on the deadline after one round; a patient deadline lets it see the trend.
 */
const PATIENT_DEADLINE_S = 900;

/** Why the suite cannot run here, or undefined when it can. */
async function whyNot(): Promise<string | undefined> {
  if (process.env['CRIU_LAB_VM_TESTS'] !== '1')
    return 'VM lab tests run only with `npm run test:vm` (CRIU_LAB_VM_TESTS=1): they take about 6 minutes with a cold image build';
  if (process.getuid?.() !== 0) return 'VM lab tests need root (taps, bridge, debootstrap)';
  if (!existsSync('/usr/local/sbin/criu')) return 'VM lab tests need the host CRIU 4.2.1 (bash scripts/setup-host.sh)';
  try {
    await ensureVmTools();
  } catch (error) {
    return `qemu, qemu-img or debootstrap unavailable and scripts/setup-vm.sh could not install them: ${(error as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

const skipReason = await whyNot();
if (skipReason) console.warn(`skipping test/vm: ${skipReason}`);
const describeVm = skipReason ? describe.skip : describe;

describeVm('predump on the VM lab', () => {
  let work: string;
  let servers: string;

  const migrate = (overrides: Record<string, unknown>) => {
    const list: ConfigOverride[] = Object.entries({ 'experiment.results_dir': join(work, 'results'), ...overrides }).map(([path, value]) => ({
      path,
      value,
      flag: path,
    }));
    const plan = loadPlan({ projectRoot: root, serversFile: servers, overrides: list }).plan;
    // A failed CRIU call's log lives on the guest, gone with the lab: the failure carries its tail.
    return runMigration(plan, { signal: new AbortController().signal, progress: createProgress(process.stderr, true) }).catch((error: unknown) => {
      const logTail = error instanceof ExternalError ? error.details.logTail : undefined;
      throw logTail ? new Error(`${error instanceof Error ? error.message : String(error)}\nlog tail:\n${logTail}`) : error;
    });
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'criu-lab-v9t-'));
    servers = join(work, 'servers.yaml');
    const up = await labUp({ name: LAB, nodes: 2, serversPath: servers, backend: 'vm' });
    console.log(
      `VM lab up: image ${up.vm?.imageBuilt ? `built in ${(up.vm.imageMs / 1000).toFixed(1)} s` : 'cached'}, guests answered SSH after ${((up.vm?.bootMs ?? 0) / 1000).toFixed(1)} s`,
    );
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
  }, 20 * 60_000);

  afterAll(async () => {
    await labDown({ name: LAB, serversPath: servers });
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

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
