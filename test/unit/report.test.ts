// The report's figures from a sweep dir: grouping, mean and 95 % CI, the CSV, phase groups.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { PHASE_GROUPS, buildCharts, phaseSeconds } from '../../experiments/report/charts.js';
import { loadReportInput, type ReportInput } from '../../experiments/report/load.js';
import { studentTCdf, studentTQuantile, summarize, tQuantile975 } from '../../experiments/report/stats.js';
import { summaryCsv, summaryRows } from '../../experiments/report/summary.js';
import { writeFixtureSweep } from '../report/fixture.js';

let input: ReportInput;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-lab-report-unit-'));
  writeFixtureSweep(dir);
  input = loadReportInput(dir);
});

describe('summary statistics', () => {
  it('gives the mean and a Student-t 95 % interval over the repetitions', () => {
    const s = summarize([2, 4, 6])!;
    expect(s.mean).toBe(4);
    expect(s.min).toBe(2);
    expect(s.max).toBe(6);
    // sd 2, n 3: t(2) = 4.3027, half-width 4.3027 × 2 / √3
    expect(s.ci95).toBeCloseTo((4.3027 * 2) / Math.sqrt(3), 3);
    expect(summarize([5])!.ci95).toBeUndefined();
    expect(summarize([])).toBeUndefined();
  });

  it("computes t's 97.5 % quantile for any degrees of freedom, as the printed tables give it", () => {
    const table: [df: number, t: number][] = [
      [1, 12.706],
      [2, 4.303],
      [5, 2.571],
      [10, 2.228],
      [30, 2.042],
      [31, 2.04],
      [40, 2.021],
      [60, 2.0],
      [100, 1.984],
      [120, 1.98],
      [1000, 1.962],
    ];
    for (const [df, t] of table) expect({ df, t: Number(tQuantile975(df).toFixed(3)) }).toEqual({ df, t });
    expect(tQuantile975(1e7)).toBeCloseTo(1.95996, 5);
    expect(tQuantile975(1)).toBeCloseTo(12.7062047, 6);
  });

  it('inverts its own CDF at other probabilities and half-integer degrees of freedom', () => {
    expect(studentTQuantile(0.5, 7)).toBeCloseTo(0, 12);
    expect(studentTQuantile(0.95, 10)).toBeCloseTo(1.812461, 6);
    expect(studentTQuantile(0.995, 20)).toBeCloseTo(2.84534, 6);
    expect(studentTQuantile(0.025, 40)).toBeCloseTo(-2.021075, 6);
    for (const [p, df] of [
      [0.9, 2.5],
      [0.999, 3],
      [0.6, 0.5],
    ] as const)
      expect(studentTCdf(studentTQuantile(p, df), df)).toBeCloseTo(p, 10);
  });
});

describe('the summary table of a sweep', () => {
  it('groups the runs by cell and counts only the runs that ended ok', () => {
    const rows = summaryRows(input);
    expect(rows).toHaveLength(8);
    const failedCell = rows.find((r) => r.label === 'cipher=chacha20-poly1305@openssh.com · max_memory=256 · placement=cross-az')!;
    expect([failedCell.ok, failedCell.runs]).toEqual([2, 3]);
    const sameAz = rows.find((r) => r.label === 'cipher=aes128-gcm@openssh.com · max_memory=128 · placement=same-az')!;
    expect(sameAz.migrationS!.n).toBe(3);
    expect(sameAz.migrationS!.mean).toBeCloseTo(0.328 + 2.2 + 0.15, 6);
    expect(sameAz.rawLinkMbit).toBe(478);
    expect(sameAz.placement).toBe('same-az');
  });

  it('writes the same table as CSV, one line per group with mean, CI, min and max', () => {
    const csv = summaryCsv(summaryRows(input)).trim().split('\n');
    expect(csv).toHaveLength(9);
    const header = csv[0]!.split(',');
    expect(header.slice(0, 5)).toEqual(['group', 'transfer.rsync.cipher', 'workload.max_memory', 'experiment.placement', 'experiment.profile']);
    expect(header).toEqual(
      expect.arrayContaining(['migration_s_mean', 'migration_s_ci95', 'migration_s_min', 'migration_s_max', 'raw_link_mbit_s', 'met_30s', 'met_120s']),
    );
    const first = csv[1]!.split(',');
    expect(Number(first[header.indexOf('migration_s_min')])).toBeCloseTo(2.478, 3);
    expect(Number(first[header.indexOf('migration_s_max')])).toBeCloseTo(2.878, 3);
  });
});

describe('the charts', () => {
  it('puts each phase in its stack: pre-dumps, dump, transfer, restore, lazy tail', () => {
    expect(PHASE_GROUPS.map((g) => g.name)).toEqual(['pre-dumps', 'dump', 'transfer', 'restore', 'lazy tail']);
    const m = input.runs[0]!.metrics!;
    expect(phaseSeconds(m)).toEqual({ 'pre-dumps': 0, dump: 0.328, transfer: 2, restore: 0.15, 'lazy tail': 0 });
    const round = { startedAt: m.startedAt, criuStats: {}, shippedBytes: 1, iteration: 1, durationMs: 400, shipMs: 100 };
    const predump = { planned: 1, iterations: [round], totalMs: 400, averageMs: 400, stopReason: 'iterations' as const, stopDetail: '' };
    expect(phaseSeconds({ ...m, predump })['pre-dumps']).toBe(0.5);
    // A page server streams during the dump: that part is transfer, not dump.
    const pageStream = { durationMs: 300, pages: 1, bytes: 4096, throughputMBps: 1, tls: true };
    expect(phaseSeconds({ ...m, pageStream })).toMatchObject({ dump: 0.028, transfer: 2.3 });
    const lazy = { imagesDumpedMs: 100, restoreReadyMs: 900, allPagesArrivedMs: 2900, sourceReleasedMs: 3000, pagesTransferred: 1, pagesTotal: 1, tls: true };
    expect(phaseSeconds({ ...m, lazy })).toMatchObject({ dump: 0.1, 'lazy tail': 2 });
  });

  it('draws same-AZ beside cross-AZ for every other combination, with whiskers from the CI', () => {
    const charts = buildCharts(input, summaryRows(input));
    expect(charts.map((c) => c.id)).toEqual(['phases', 'downtime', 'migration', 'throughput', 'placement-transfer', 'placement-migration']);
    const transfer = charts.find((c) => c.id === 'placement-transfer')!.config as {
      data: { labels: string[]; datasets: { label: string; data: number[]; errorBars: ([number, number] | null)[] }[] };
    };
    expect(transfer.data.labels).toHaveLength(4);
    expect(transfer.data.datasets.map((d) => d.label)).toEqual(['same-az', 'cross-az']);
    const [same, cross] = transfer.data.datasets;
    for (let i = 0; i < 4; i++) expect(cross!.data[i]!).toBeGreaterThan(same!.data[i]!);
    expect(same!.errorBars[0]![0]).toBeLessThan(same!.data[0]!);
  });
});
