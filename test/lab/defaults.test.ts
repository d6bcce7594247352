// Every workload at the defaults the spec documents (and jupyter at the original framework's),
// migrated for real on one lab through the `criu-lab run` command a user types, full + rsync:
// each must end verify ok. A default that no test runs is untested (256 MiB memory blocks once
// overflowed). The memory workload's 8 GiB cap is filled with 1 GiB blocks at a short interval,
// which also proves blocks above 256 MiB; its default block size and interval fill a smaller cap.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { RunMetrics } from '../../experiments/metrics.js';
import { workloads } from '../../workloads/registry.js';
import { paramDefault } from '../../workloads/workload.js';
import { runCli } from '../support/cli.js';
import { runLeftovers } from '../support/lab-leftovers.js';
import { useLab } from '../support/lab.js';

const LAB = 'hdf';
const NODES = ['n1', 'n2'] as const;
const lab = useLab({ name: LAB, nodes: 2, subnet: '10.77.213', removeWork: true });
const { work, servers } = lab;

/** `criu-lab run --workload <name> <flags>`, full + rsync; the run's metrics.json and what it printed. */
async function run(workload: string, flags: readonly string[] = []) {
  const { code, stdout, stderr } = await runCli([
    'run',
    '--servers',
    servers,
    '--results-dir',
    join(work, 'results'),
    '--strategy',
    'full',
    '--transfer',
    'rsync',
    '--workload',
    workload,
    ...flags,
  ]);
  const resultsDir = /^Results: (.+)$/m.exec(stdout)?.[1];
  if (!resultsDir) throw new Error(`criu-lab run exited ${code} without results:\n${stdout}\n${stderr}`);
  const metrics = JSON.parse(readFileSync(join(resultsDir, 'metrics.json'), 'utf8')) as RunMetrics;
  return { code, metrics, stdout };
}

/** Every parameter of the workload at its schema default, less those a test sets. */
const defaultsOf = (workload: string, setByTest: Record<string, unknown> = {}) => ({
  ...Object.fromEntries(
    workloads
      .get(workload)
      .params.map((p) => [p.key, paramDefault(p)])
      .filter(([, value]) => value !== undefined),
  ),
  ...setByTest,
});

const failedChecks = (metrics: RunMetrics) => (metrics.verify?.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);

async function expectVerifiedAtDefaults(workload: string, flags: readonly string[] = [], setByTest: Record<string, unknown> = {}) {
  const { code, metrics } = await run(workload, flags);
  expect(failedChecks(metrics)).toEqual([]);
  expect([code, metrics.outcome, metrics.verify?.ok]).toEqual([0, 'ok', true]);
  expect(metrics.workloadParams).toEqual(defaultsOf(workload, setByTest));
  return metrics;
}

describe('each workload at its documented defaults, full + rsync', () => {
  it('memory: 256 MiB blocks every 5 s (the defaults), up to 1 GiB', async () => {
    const metrics = await expectVerifiedAtDefaults('memory', ['--max-memory', '1024'], { max_memory: 1024 });
    expect(metrics.verify?.checks.find((c) => c.name === 'blocks intact')?.detail).toMatch(/^4 blocks \(1024 MiB\) frozen/);
  }, 240_000);

  it('memory: the default 8 GiB heap, in 1 GiB blocks every 0.2 s', async () => {
    const metrics = await expectVerifiedAtDefaults('memory', ['--mb-size', '1024', '--interval', '0.2'], { mb_size: 1024, interval: 0.2 });
    expect(metrics.verify?.checks.find((c) => c.name === 'blocks intact')?.detail).toMatch(/^8 blocks \(8192 MiB\) frozen/);
  }, 900_000);

  it('matmul: 2048×2048 products, forever, one a second', async () => {
    await expectVerifiedAtDefaults('matmul');
  }, 240_000);

  it('redis: 100000 keys of 1024 bytes on port 6379', async () => {
    await expectVerifiedAtDefaults('redis');
  }, 240_000);

  it('ml_training: the medium model on its 50K samples, batch 64, lr 0.001, forever, on the CPU', async () => {
    await expectVerifiedAtDefaults('ml_training');
  }, 300_000);

  it('video: 1920x1080 at 30 fps, live segments (duration 300 s)', async () => {
    await expectVerifiedAtDefaults('video');
  }, 300_000);

  it('dataproc: 1000000 × 50, forever, one operation a second', async () => {
    await expectVerifiedAtDefaults('dataproc');
  }, 240_000);

  it("jupyter: a cell every 3 s, forever (the original framework's defaults)", async () => {
    await expectVerifiedAtDefaults('jupyter');
  }, 240_000);

  it('leaves no process and no run directory on either node', async () => {
    expect(await runLeftovers(lab.info, NODES)).toEqual([]);
  });
});
