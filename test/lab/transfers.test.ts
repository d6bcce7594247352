// The s3, efs and ebs transfers on a real lab with its storage node (`lab up --storage`, lab
// name t7): the memory workload migrates and verifies with each, each writes its transfer block,
// and a wrong bucket, an unmounted EFS path or a missing volume fails before the freeze, naming
// the setting, with nothing left behind. Small sizes: the machine is shared.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { ConfigOverride } from '../../experiments/config/load.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { setting, useLab } from '../support/lab.js';
import { storageLeftovers, storageRunProcesses } from '../support/lab-leftovers.js';
import { describeWithMoto } from '../support/storage-lab.js';

describeWithMoto('test/lab/transfers.test.ts')('the s3, efs and ebs transfers on a storage lab', () => {
  const LAB = 't7';
  const lab = useLab({ name: LAB, nodes: 2, storage: true, upTimeoutMs: 90_000, workload: { mb_size: 32, interval: 0.2, max_memory: 128 } });
  const { work } = lab;

  function migrate(method: string, extra: ConfigOverride[] = []) {
    return lab.migrate([setting('transfer.method', method, '--transfer'), ...extra], { resultsDir: join(work, 'results', method) });
  }

  describe.each([
    ['s3', ['upload images', 'upload workdir', 'download images', 'download workdir']],
    ['efs', ['stage', 'flush', 'unstage']],
    ['ebs', ['stage', 'flush', 'unmount', 'mount', 'unstage']],
  ])('a full migration with --transfer %s', (method, stepNames) => {
    let metrics: RunMetrics;

    beforeAll(async () => {
      ({ metrics } = await migrate(method));
    }, 120_000);

    it('restores the memory workload with its checksum intact', () => {
      expect(metrics.outcome).toBe('ok');
      expect(metrics.verify?.ok).toBe(true);
      expect(metrics.dump!.criuStats['pages_written']).toBeGreaterThan(0);
    });

    it('writes a transfer block with bytes, duration, throughput and each sub-step', () => {
      const transfer = metrics.transfer!;
      expect(transfer.method).toBe(method);
      expect(transfer.bytes).toBeGreaterThan(128 * 1024 * 1024);
      expect(transfer.durationMs).toBeGreaterThan(0);
      expect(transfer.throughputMBps).toBeGreaterThan(0);
      expect(transfer.steps.map((s) => s.name)).toEqual(stepNames);
      for (const step of transfer.steps) expect(step.durationMs).toBeGreaterThanOrEqual(0);
      expect(metrics.phases.filter((p) => p.name.startsWith('transfer.')).map((p) => p.name)).toEqual(
        expect.arrayContaining(stepNames.map((s) => `transfer.${s}`)),
      );
    });

    it('leaves no process, run directory, object or image behind', async () => {
      expect(await storageRunProcesses(lab.info)).toEqual([]);
      expect(await storageLeftovers(lab.info)).toEqual([]);
    });
  });

  describe.each([
    ['s3', 'transfer.s3_bucket', 'no-such-bucket', /^transfer\.s3_bucket: bucket 'no-such-bucket' is not reachable from n1 at http:\/\/.+: .*Not Found/],
    [
      'efs',
      'transfer.efs_mount',
      '/mnt/criu-lab-unmounted',
      /^transfer\.efs_mount: nothing is mounted at \/mnt\/criu-lab-unmounted on n1 and n2; mount the shared file system there/,
    ],
    ['ebs', 'transfer.ebs.volume', '/dev/criu-lab-missing', /^transfer\.ebs\.volume: \/dev\/criu-lab-missing is not a block device on n1/],
  ])('--transfer %s with a wrong %s', (method, path, value, message) => {
    let error: Error & { metrics?: RunMetrics };

    beforeAll(async () => {
      error = await migrate(method, [{ path, value, flag: path }]).then(
        () => new Error('the run succeeded'),
        (caught: unknown) => caught as Error,
      );
    }, 120_000);

    it('fails with an error that names the setting', () => {
      expect(error.message).toMatch(message);
      expect(error.metrics?.outcome).toBe('failed');
    });

    it('fails before the freeze: the workload was never dumped', () => {
      const phases = error.metrics!.phases.map((p) => p.name);
      expect(phases).not.toContain('dump');
      expect(error.metrics!.dump).toBeUndefined();
    });

    it('leaves nothing behind', async () => {
      expect(await storageRunProcesses(lab.info)).toEqual([]);
      expect(await storageLeftovers(lab.info)).toEqual([]);
    });
  });
});
