// The summary table: runs grouped by their settings (a sweep's cell), each headline figure
// as mean, 95 % CI, min and max over the repetitions; the same table as CSV.
import { DEADLINES_S, MIB, type RunMetrics } from '../metrics.js';
import type { LinkMeasurement } from '../sweep/state.js';
import type { ReportInput, ReportRun } from './load.js';
import { summarize, type Summary } from './stats.js';

export interface GroupRow {
  readonly label: string;
  readonly dims: Readonly<Record<string, string>>;
  readonly runs: number;
  readonly ok: number;
  readonly migrationS: Summary | undefined;
  readonly downtimeS: Summary | undefined;
  readonly throughputMbit: Summary | undefined;
  readonly imageMiB: Summary | undefined;
  /** iperf3 between the pair under the group's profile, when the sweep measured it. */
  readonly rawLinkMbit: number | undefined;
  readonly metGcp: number;
  readonly metAws: number;
  /** same-az / cross-az when the runs know it. */
  readonly placement: string | undefined;
  readonly profile: string | undefined;
}

/** What crossed the link per second: the transfer's bytes and a page server's stream together (Mbit/s). */
export function linkThroughputMbit(metrics: RunMetrics): number | undefined {
  const parts = [metrics.transfer, metrics.pageStream].filter((p) => p !== undefined);
  const ms = parts.reduce((total, p) => total + p.durationMs, 0);
  return parts.length === 0 || ms <= 0 ? undefined : (parts.reduce((total, p) => total + p.bytes, 0) * 8) / 1e6 / (ms / 1000);
}

export function labelOf(dims: Readonly<Record<string, string>>): string {
  return (
    Object.entries(dims)
      // A profile named after its placement (the usual zip) says nothing more.
      .filter(([path, value]) => !(path === 'experiment.profile' && dims['experiment.placement'] === value))
      .map(([path, value]) => `${path.split('.').at(-1)}=${value}`)
      .join(' · ') || 'all runs'
  );
}

export function rawLinkOf(metrics: RunMetrics | undefined, links: readonly LinkMeasurement[]): number | undefined {
  if (!metrics) return undefined;
  return links.find((l) => l.profile === metrics.profile && l.source === metrics.source.name && l.destination === metrics.destination.name)?.mbitPerS;
}

/** Runs with equal dims, in the order their first run appears. */
export function groupRuns(runs: readonly ReportRun[]): Map<string, ReportRun[]> {
  const groups = new Map<string, ReportRun[]>();
  for (const run of runs) {
    const key = JSON.stringify(run.dims);
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  return groups;
}

const values = (runs: readonly ReportRun[], pick: (m: RunMetrics) => number | undefined) =>
  runs.flatMap((r) => (r.ok && r.metrics ? [pick(r.metrics)] : [])).filter((v): v is number => v !== undefined && Number.isFinite(v));

export function summaryRows(input: ReportInput): GroupRow[] {
  return [...groupRuns(input.runs).values()].map((runs) => {
    const dims = runs[0]!.dims;
    const ok = runs.filter((r) => r.ok && r.metrics);
    const migrations = values(runs, (m) => m.migrationMs);
    const first = ok[0]?.metrics ?? runs[0]!.metrics;
    return {
      label: labelOf(dims),
      dims,
      runs: runs.length,
      ok: ok.length,
      migrationS: summarize(migrations.map((v) => v / 1000)),
      downtimeS: summarize(values(runs, (m) => m.downtimeMs).map((v) => v / 1000)),
      throughputMbit: summarize(values(runs, linkThroughputMbit)),
      imageMiB: summarize(values(runs, (m) => (m.dump ? m.dump.imageBytes / MIB : undefined))),
      rawLinkMbit: rawLinkOf(first, input.links),
      metGcp: migrations.filter((v) => v <= DEADLINES_S.gcp * 1000).length,
      metAws: migrations.filter((v) => v <= DEADLINES_S.aws * 1000).length,
      placement: first?.placement ?? dims['experiment.placement'],
      profile: first?.profile ?? dims['experiment.profile'],
    };
  });
}

const FIGURES = [
  ['migration_s', (r: GroupRow) => r.migrationS],
  ['downtime_s', (r: GroupRow) => r.downtimeS],
  ['throughput_mbit_s', (r: GroupRow) => r.throughputMbit],
  ['image_mib', (r: GroupRow) => r.imageMiB],
] as const;

const csvCell = (value: string | number | undefined) => {
  if (value === undefined) return '';
  const text = typeof value === 'number' ? String(Number(value.toFixed(4))) : value;
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

export function summaryCsv(rows: readonly GroupRow[]): string {
  const dimPaths = [...new Set(rows.flatMap((r) => Object.keys(r.dims)))];
  const header = [
    'group',
    ...dimPaths,
    'placement',
    'profile',
    'runs',
    'ok',
    ...FIGURES.flatMap(([name]) => [`${name}_mean`, `${name}_ci95`, `${name}_min`, `${name}_max`]),
    'raw_link_mbit_s',
    `met_${DEADLINES_S.gcp}s`,
    `met_${DEADLINES_S.aws}s`,
  ];
  const lines = rows.map((r) =>
    [
      r.label,
      ...dimPaths.map((p) => r.dims[p]),
      r.placement,
      r.profile,
      r.runs,
      r.ok,
      ...FIGURES.flatMap(([, pick]) => {
        const s = pick(r);
        return [s?.mean, s?.ci95, s?.min, s?.max];
      }),
      r.rawLinkMbit,
      r.metGcp,
      r.metAws,
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}

export interface Spread {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { n: sorted.length, median, min: sorted[0]!, max: sorted.at(-1)! };
}

/** One node pair within one group: does the pair matter? */
export interface PairRow {
  readonly group: string;
  readonly pair: string;
  readonly runs: number;
  readonly ok: number;
  readonly downtimeS: Spread | undefined;
  readonly migrationS: Spread | undefined;
  /** Runs that overlapped with runs on other pairs of one host. */
  readonly overlapped: number;
}

/** Downtime and migration median, min and max per node pair, within each group; empty when no run recorded a pair. */
export function pairRows(input: ReportInput): PairRow[] {
  const rows: PairRow[] = [];
  for (const runs of groupRuns(input.runs).values()) {
    const byPair = new Map<string, ReportRun[]>();
    for (const run of runs) if (run.pair) byPair.set(run.pair, [...(byPair.get(run.pair) ?? []), run]);
    for (const [pair, onPair] of [...byPair.entries()].sort(([a], [b]) => a.localeCompare(b)))
      rows.push({
        group: labelOf(runs[0]!.dims),
        pair,
        runs: onPair.length,
        ok: onPair.filter((r) => r.ok).length,
        downtimeS: spreadOf(values(onPair, (m) => m.downtimeMs).map((v) => v / 1000)),
        migrationS: spreadOf(values(onPair, (m) => m.migrationMs).map((v) => v / 1000)),
        overlapped: onPair.filter((r) => r.overlap).length,
      });
  }
  return rows;
}
