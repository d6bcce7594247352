// The printed summary for each strategy: pre-dump iterations as the seed printed them, the page
// stream, restore-ready vs all-pages-arrived, downtime, migration, deadline verdicts and rollback.
import { describe, expect, it } from '@jest/globals';
import { deadlineVerdicts, formatSummary, samplesOf, type RunMetrics } from '../../experiments/metrics.js';

const base: RunMetrics = {
  experiment: 'baseline-predump',
  runId: 'memory_20261126_000000',
  workload: 'memory',
  workloadParams: {},
  strategy: 'predump',
  source: { name: 'n1', ip: '10.9.0.11' },
  destination: { name: 'n2', ip: '10.9.0.12' },
  startedAt: '2026-11-26T00:00:00.000Z',
  phases: [],
  totalDurationMs: 95_670,
  versions: {},
  outcome: 'ok',
};

const round = (iteration: number, durationMs: number, written: number) => ({
  iteration,
  startedAt: '2026-11-26T00:00:01.000Z',
  durationMs,
  criuStats: { pages_scanned: 262_144, pages_skipped_parent: 262_144 - written, pages_written: written },
  shippedBytes: written * 4096,
  shipMs: 400,
});

describe('the summary', () => {
  it("prints the pre-dump iterations in the seed's shape, with pages and why they stopped", () => {
    const text = formatSummary({
      ...base,
      predump: {
        planned: 3,
        iterations: [round(1, 1230, 262_144), round(2, 1450, 20_000), round(3, 1020, 3_000)],
        totalMs: 3700,
        averageMs: 3700 / 3,
        stopReason: 'iterations',
        stopDetail: '3 rounds, as configured',
      },
    });
    expect(text).toContain(
      [
        'Pre-dump Iterations: 3',
        '  Total time: 3.70s',
        '  Average time: 1.23s',
        '  Iteration 1: 1.23s (pages written 262144, shipped 1024.00 MB in 0.40s)',
        '  Iteration 2: 1.45s (pages written 20000, shipped 78.13 MB in 0.40s)',
        '  Iteration 3: 1.02s (pages written 3000, shipped 11.72 MB in 0.40s)',
        '  Stopped: iterations: 3 rounds, as configured',
      ].join('\n'),
    );
  });

  it('prints downtime, the migration and every deadline verdict, a custom one included', () => {
    const text = formatSummary({ ...base, downtimeMs: 2_400, migrationMs: 41_000, deadlines: deadlineVerdicts(41_000, 45) });
    expect(text).toContain(
      'Downtime (freeze → running on n2): 2.40s\nMigration (first CRIU action → source no longer needed): 41.00s\nDeadlines: AWS 120s met, GCP 30s MISSED, custom 45s met',
    );
  });

  it('prints restore-ready against all-pages-arrived for lazy pages, and names predump + lazy pages', () => {
    const text = formatSummary({
      ...base,
      lazy: {
        imagesDumpedMs: 40,
        restoreReadyMs: 650,
        allPagesArrivedMs: 1_420,
        sourceReleasedMs: 1_420,
        pagesTransferred: 33_850,
        pagesTotal: 33_850,
        tls: true,
      },
    });
    expect(text).toContain('Strategy: predump + lazy pages');
    expect(text).toContain(
      'Lazy Pages (after the freeze, over TLS):\n  Images without memory dumped: 0.04s\n  Restore ready (running on n2): 0.65s\n  All pages arrived: 1.42s (33850 of 33850 pages by userfaultfd)\n  Source released: 1.42s',
    );
  });

  it('prints the page stream of a pageserver run and a rollback', () => {
    const text = formatSummary({
      ...base,
      strategy: 'pageserver',
      outcome: 'failed',
      pageStream: { durationMs: 230, pages: 34_288, bytes: 34_288 * 4096, throughputMBps: 582.3, tls: false },
      rollback: { status: 'ok', detail: "pid 33 resumed on n1: counter 11 at freeze, 14 after SIGCONT; n2's copy stopped", durationMs: 600 },
    });
    expect(text).toContain(
      "Page Stream (to n2's page server, during the dump, in the clear):\n  Duration: 0.23s (CRIU memwrite_time)\n  Size: 133.94 MB (34288 pages)\n  Throughput: 582.30 MB/s",
    );
    expect(text).toContain("Rollback: ok (pid 33 resumed on n1: counter 11 at freeze, 14 after SIGCONT; n2's copy stopped)");
  });

  it('writes a sample per pre-dump round, tagged with its iteration', () => {
    const samples = samplesOf({
      ...base,
      predump: {
        planned: 'auto',
        iterations: [round(1, 1230, 262_144), round(2, 1450, 40)],
        totalMs: 2680,
        averageMs: 1340,
        stopReason: 'converged',
        stopDetail: '',
      },
    });
    expect(samples.filter((s) => s.metric === 'predump.pages_written').map((s) => [s.metadata['iteration'], s.value])).toEqual([
      [1, 262_144],
      [2, 40],
    ]);
  });
});
