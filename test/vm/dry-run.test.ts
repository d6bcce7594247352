// A predump dry run against the real run on the VM lab (lab name v9d), where pre-dump works
// (the guests' kernel has soft-dirty tracking). The VM lab has no storage node yet, so the pair is
// predump × rsync; predump × s3 needs `--storage` on the VM backend. What the dry run of predump +
// s3 adds over rsync (the bucket checks, the uploads and downloads, the removal of the objects)
// is compared with real runs of full, pageserver and lazy over s3 in test/lab/sessions.test.ts.
// Run with `npm run test:vm` (CRIU_LAB_VM_TESTS=1), as root.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan } from '../../experiments/config/load.js';
import { labDown, labUp } from '../../infra/local/lab.js';
import { ensureVmTools } from '../../infra/local/vm/image.js';
import { compareWithDryRun } from '../lab/dry-run-compare.js';

const root = resolve(import.meta.dirname, '../..');
const LAB = 'v9d';

async function whyNot(): Promise<string | undefined> {
  if (process.env['CRIU_LAB_VM_TESTS'] !== '1') return 'VM lab tests run only with `npm run test:vm` (CRIU_LAB_VM_TESTS=1)';
  if (process.getuid?.() !== 0) return 'VM lab tests need root (taps, bridge, debootstrap)';
  if (!existsSync('/usr/local/sbin/criu')) return 'VM lab tests need the host CRIU 4.2.1 (bash scripts/setup-host.sh)';
  try {
    await ensureVmTools();
  } catch (error) {
    return `qemu, qemu-img or debootstrap unavailable: ${(error as Error).message.split('\n')[0]}`;
  }
  return undefined;
}

const skipReason = await whyNot();
if (skipReason) console.warn(`skipping test/vm/dry-run: ${skipReason}`);
const describeVm = skipReason ? describe.skip : describe;

describeVm('a predump dry run on the VM lab', () => {
  let work: string;
  let servers: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'criu-lab-v9d-'));
    servers = join(work, 'servers.yaml');
    await labUp({ name: LAB, nodes: 2, serversPath: servers, backend: 'vm' });
  }, 20 * 60_000);

  afterAll(async () => {
    await labDown({ name: LAB, serversPath: servers });
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it(
    'lists the commands the real predump run issues: soft-dirty check, pre-freeze check, rounds, open-file lookups, relink, cleanup',
    async () => {
      const overrides = {
        'checkpoint.strategy.mode': 'predump',
        'checkpoint.strategy.predump_iterations': 2,
        'checkpoint.strategy.predump_interval': 1,
        'transfer.method': 'rsync',
        'workload.type': 'memory',
        'workload.mb_size': 16,
        'workload.max_memory': 64,
        'workload.interval': 0.2,
        'experiment.results_dir': join(work, 'results'),
      };
      const plan = loadPlan({
        projectRoot: root,
        serversFile: servers,
        overrides: Object.entries(overrides).map(([path, value]) => ({ path, value, flag: path })),
      }).plan;
      const { outcome, differences } = await compareWithDryRun(plan);
      expect(outcome).toBe('ok');
      expect(differences).toEqual({ missing: [], unplanned: [] });
    },
    20 * 60_000,
  );
});
