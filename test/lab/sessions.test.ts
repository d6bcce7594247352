// Transfer sessions on a real lab with its storage node (lab name ts6, subnet 10.77.226):
// `criu-lab cleanup` of a run interrupted before its transfer cleaned up removes what every method
// leaves (s3 objects, the efs stage dir, the ebs stage dir and the volume away from the source),
// and a dry run lists the commands a real run issues, for every strategy × transfer pair the lab
// can run (predump needs soft-dirty tracking, which this kernel lacks: test/vm/dry-run.test.ts).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan, type ConfigOverride } from '../../experiments/config/load.js';
import { cleanLeftovers, LEFTOVERS_FILE } from '../../experiments/leftovers.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';
import { transfers } from '../../experiments/transfers/registry.js';
import type { Transfer } from '../../experiments/transfers/transfer.js';
import { labDown, labUp, type LabInfo } from '../../infra/local/lab.js';
import { storageLeftovers, storageRunProcesses } from '../support/lab-leftovers.js';
import { describeWithMoto } from '../support/storage-lab.js';
import { compareWithDryRun } from './dry-run-compare.js';

const execFileAsync = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const LAB = 'ts6';
let work: string;
let servers: string;
let info: LabInfo;

/** Where the ebs volume is mounted now, seen from inside each node's mount namespace. */
async function volumeMountedOn(): Promise<string[]> {
  const on: string[] = [];
  for (const node of info.nodes) {
    const { stdout } = await execFileAsync('nsenter', [`--target=${node.hostPid}`, '--mount', '--', 'sh', '-c', 'mountpoint -q /mnt/ebs && echo yes || true']);
    if (stdout.trim() === 'yes') on.push(node.name);
  }
  return on;
}

function planFor(overrides: ConfigOverride[]) {
  return loadPlan({
    projectRoot: root,
    serversFile: servers,
    overrides: [
      { path: 'workload.mb_size', value: 16, flag: '--mb-size' },
      { path: 'workload.interval', value: 0.2, flag: '--interval' },
      { path: 'workload.max_memory', value: 64, flag: '--max-memory' },
      { path: 'experiment.results_dir', value: join(work, 'results'), flag: '--results-dir' },
      ...overrides,
    ],
  }).plan;
}

describeWithMoto('test/lab/sessions.test.ts')('transfer sessions on a storage lab', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'criu-lab-ts6-'));
    servers = join(work, 'servers.yaml');
    ({ info } = await labUp({ name: LAB, nodes: 2, subnet: '10.77.226', serversPath: servers, storage: true }));
  }, 120_000);

  afterAll(async () => {
    await labDown({ name: LAB, serversPath: servers });
  }, 60_000);

  describe.each(['s3', 'efs', 'ebs'])('criu-lab cleanup of an interrupted %s run', (method) => {
    // The controller "dies" after the migration: its transfer never cleans up and, with --no-cleanup, neither do the nodes.
    const name = `${method}-interrupted`;
    const base = transfers.get(method);
    const interrupted: Transfer = { ...base, name, open: (ctx, options) => ({ ...base.open(ctx, options), cleanup: async () => {} }) };
    let resultsDir: string;
    let before: string[];

    beforeAll(async () => {
      if (!transfers.has(name)) transfers.register(interrupted);
      const plan = planFor([
        { path: 'transfer.method', value: name, flag: '--transfer' },
        { path: 'experiment.cleanup', value: false, flag: '--no-cleanup' },
      ]);
      const outcome = await runMigration(plan, { signal: new AbortController().signal, progress: createProgress(process.stderr, true) });
      expect(outcome.metrics.outcome).toBe('ok');
      resultsDir = outcome.resultsDir;
      before = await storageLeftovers(info);
    }, 180_000);

    it('finds the run and its transfer debris left behind, and the method part in leftovers.json', () => {
      expect(before.length).toBeGreaterThan(0);
      const record = JSON.parse(readFileSync(join(resultsDir, LEFTOVERS_FILE), 'utf8')) as { transferLeftovers?: Record<string, unknown> };
      expect(Object.keys(record.transferLeftovers ?? {}).length).toBeGreaterThan(0);
      if (method === 's3') expect(before.some((f) => f.startsWith(`s3://${info.storage!.s3.bucket}/`))).toBe(true);
      if (method === 'efs') expect(before.some((f) => f.includes('.stage/'))).toBe(true);
      if (method === 'ebs') expect(before.some((f) => f.startsWith('n2:/mnt/ebs/'))).toBe(true);
    });

    it('leaves nothing behind: no process, run directory, object, stage dir or image; the volume back on the source', async () => {
      const report = await cleanLeftovers(resultsDir, () => undefined);
      expect(report.failures).toEqual([]);
      expect(report.cleaned).toEqual(['n1', 'n2']);
      expect(await storageRunProcesses(info)).toEqual([]);
      expect(await storageLeftovers(info)).toEqual([]);
      if (method === 'ebs') expect(await volumeMountedOn()).toEqual(['n1']);
    }, 60_000);
  });

  const PAIRS = ['full', 'pageserver', 'lazy']
    .flatMap((strategy) => ['rsync', 's3', 'efs', 'ebs'].map((method) => [strategy, method] as const))
    // A lazy dump keeps serving from the source's image directory, which ebs takes away at the move: preflight refuses the pair.
    // pageserver over ebs: preflight refuses it too (the page server writes under the mount point before the volume is mounted over it).
    .filter(([strategy, method]) => method !== 'ebs' || strategy === 'full');

  describe.each(PAIRS)('a dry run of %s over %s', (strategy, method) => {
    it('lists the commands the real run issues on the lab', async () => {
      const plan = planFor([
        { path: 'checkpoint.strategy.mode', value: strategy, flag: '--strategy' },
        { path: 'transfer.method', value: method, flag: '--transfer' },
      ]);
      const { outcome, differences } = await compareWithDryRun(plan);
      expect(outcome).toBe('ok');
      expect(differences).toEqual({ missing: [], unplanned: [] });
      expect(await storageLeftovers(info)).toEqual([]);
    }, 180_000);
  });
});
