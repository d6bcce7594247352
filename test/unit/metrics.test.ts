import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { decodeCriuStats } from '../../experiments/criu/stats.js';
import { deadlineVerdicts, formatSummary, samplesOf, throughputMiBps, type RunMetrics } from '../../experiments/metrics.js';
import { transferredBytes } from '../../experiments/transfers/rsync.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, 'fixtures', name));

describe('CRIU statistics images', () => {
  it('decodes stats-dump written by CRIU 4.2.1', () => {
    const { dump, restore } = decodeCriuStats(fixture('stats-dump'));
    expect(restore).toBeUndefined();
    expect(Object.keys(dump!)).toEqual(
      expect.arrayContaining([
        'freezing_time',
        'frozen_time',
        'memdump_time',
        'memwrite_time',
        'pages_scanned',
        'pages_skipped_parent',
        'pages_written',
        'pages_lazy',
      ]),
    );
    expect(dump!['pages_written']).toBeGreaterThan(0);
    expect(dump!['pages_scanned']).toBeGreaterThanOrEqual(dump!['pages_written']!);
    expect(dump!['frozen_time']).toBeGreaterThanOrEqual(dump!['memdump_time']!);
  });

  it('decodes stats-restore written by CRIU 4.2.1', () => {
    const { restore } = decodeCriuStats(fixture('stats-restore'));
    expect(Object.keys(restore!)).toEqual(expect.arrayContaining(['pages_compared', 'pages_skipped_cow', 'forking_time', 'restore_time']));
    expect(restore!['restore_time']).toBeGreaterThan(0);
  });

  it('refuses a file that is not a CRIU stats image', () => {
    expect(() => decodeCriuStats(Buffer.from('definitely not protobuf'))).toThrow(/not a CRIU stats image/);
  });
});

const metrics: RunMetrics = {
  experiment: 'unit',
  runId: 'memory_20261126_000000',
  workload: 'memory',
  workloadParams: { mb_size: 64, max_memory: 1024 },
  strategy: 'full',
  source: { name: 'n1', ip: '10.77.0.11' },
  destination: { name: 'n2', ip: '10.77.0.12' },
  startedAt: '2026-11-26T00:00:00.000Z',
  phases: [
    { name: 'dump', startedAt: '2026-11-26T00:00:01.000Z', durationMs: 2150, measuredOn: 'n1' },
    { name: 'transfer.images', startedAt: '2026-11-26T00:00:03.150Z', durationMs: 3450, measuredOn: 'n1' },
  ],
  dump: { durationMs: 2150, criuStats: { frozen_time: 2_000_000, pages_written: 262_144 }, imageBytes: 1 << 30 },
  transfer: { method: 'rsync', bytes: 2048 * 1024 * 1024, durationMs: 3450, throughputMBps: throughputMiBps(2048 * 1024 * 1024, 3450), steps: [] },
  restore: { durationMs: 1230, criuStats: { restore_time: 900_000 } },
  downtimeMs: 6900,
  migrationMs: 6900,
  totalDurationMs: 95_670,
  verify: { ok: true, checks: [{ name: 'blocks intact', ok: true, detail: '16 blocks' }] },
  deadlines: deadlineVerdicts(6900),
  versions: { criu: '4.2.1' },
  outcome: 'ok',
};

describe('metrics', () => {
  it('computes throughput in MiB/s, which the summary prints as MB/s as the seed did', () => {
    expect(throughputMiBps(2048 * 1024 * 1024, 3450)).toBeCloseTo(593.62, 2);
    expect(throughputMiBps(100, 0)).toBe(0);
  });

  it('judges the AWS 120 s and GCP 30 s deadlines', () => {
    expect(deadlineVerdicts(29_999)).toEqual({ aws: { deadlineS: 120, met: true }, gcp: { deadlineS: 30, met: true } });
    expect(deadlineVerdicts(30_001).gcp.met).toBe(false);
    expect(deadlineVerdicts(120_001)).toEqual({ aws: { deadlineS: 120, met: false }, gcp: { deadlineS: 30, met: false } });
  });

  it('prints the summary in the seed shape', () => {
    const text = formatSummary(metrics);
    expect(text).toContain('CRIU Experiment Metrics: unit\nWorkload Type: memory');
    expect(text).toContain('Final Dump:\n  Duration: 2.15s');
    expect(text).toContain('Transfer:\n  Method: rsync\n  Duration: 3.45s\n  Size: 2048.00 MB\n  Throughput: 593.62 MB/s');
    expect(text).toContain('Restore:\n  Duration: 1.23s');
    expect(text).toContain('Total Experiment Duration: 95.67s');
    expect(text).toContain('Deadlines: AWS 120s met, GCP 30s met');
  });

  it('turns a run into samples with the run identity as metadata', () => {
    const samples = samplesOf(metrics);
    const downtime = samples.find((s) => s.metric === 'downtime')!;
    expect(downtime).toMatchObject({
      value: 6900,
      unit: 'ms',
      metadata: { run_id: 'memory_20261126_000000', workload: 'memory', strategy: 'full', transfer: 'rsync', mb_size: 64 },
    });
    expect(samples.find((s) => s.metric === 'phase.dump')).toMatchObject({
      value: 2150,
      metadata: { measured_on: 'n1' },
      timestamp: Date.parse('2026-11-26T00:00:01.000Z') / 1000,
    });
    expect(samples.find((s) => s.metric === 'criu.dump.frozen_time')).toMatchObject({ value: 2_000_000, unit: 'us' });
    expect(samples.find((s) => s.metric === 'transfer.throughput')).toMatchObject({ value: expect.closeTo(593.62, 2), unit: 'MiB/s' });
    expect(samples.find((s) => s.metric === 'verify.ok')?.value).toBe(1);
  });

  it('reads the bytes rsync moved from its --stats output', () => {
    expect(transferredBytes('Number of files: 12\nTotal file size: 1,080,144,826 bytes\nTotal transferred file size: 1,080,144,826 bytes\n')).toBe(
      1_080_144_826,
    );
    expect(transferredBytes('no stats')).toBe(0);
  });
});
