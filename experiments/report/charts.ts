// The report's charts as Chart.js configurations: plain data, no functions, so they travel
// into the page as JSON. Error bars ride along as `errorBars` ([low, high] per point) and are
// drawn by the page's small whisker plugin.
import { DEADLINES_S, MIB, type RunMetrics } from '../metrics.js';
import { isPlacementDim, type ReportInput, type ReportRun } from './load.js';
import { summarize } from './stats.js';
import { groupRuns, labelOf, type GroupRow } from './summary.js';

export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly caption: string;
  /** Pixels; tall charts for many runs. */
  readonly height: number;
  /** Shown next to its partner (same-AZ | cross-AZ, downtime | migration). */
  readonly half?: boolean;
  readonly config: Readonly<Record<string, unknown>>;
}

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const color = (i: number) => PALETTE[i % PALETTE.length]!;
const PLACEMENT_COLORS: Record<string, string> = { 'same-az': '#4e79a7', 'cross-az': '#e15759' };

/** The phase groups of the stacked bars, in stacking order, and which phase names fall in each. */
export const PHASE_GROUPS: readonly { readonly name: string; readonly matches: RegExp }[] = [
  { name: 'pre-dumps', matches: /^pre-?dump/i },
  { name: 'dump', matches: /^(final[ -])?dump/i },
  { name: 'transfer', matches: /^(transfer|page[ -]?server|rsync|s3|efs|ebs)/i },
  { name: 'restore', matches: /^restore/i },
  { name: 'lazy tail', matches: /lazy/i },
];

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/**
 * Seconds per phase group. The strategies' own figures come first, because their phases
 * overlap (a lazy dump serves pages through the restore; a page-server dump streams the pages):
 * pre-dump rounds with their shipping, the dump without its page stream, the transfer with it,
 * the restore, and the lazy tail from running on the destination to the last page arriving.
 */
export function phaseSeconds(metrics: RunMetrics): Record<string, number> {
  const byName = (group: string) =>
    sum(metrics.phases.filter((p) => PHASE_GROUPS.find((g) => g.matches.test(p.name))?.name === group).map((p) => p.durationMs));
  const stream = metrics.pageStream?.durationMs ?? 0;
  const ms: Record<string, number> = {
    'pre-dumps': metrics.predump ? sum(metrics.predump.iterations.map((i) => i.durationMs + i.shipMs)) : byName('pre-dumps'),
    dump: metrics.lazy?.imagesDumpedMs ?? (metrics.dump ? Math.max(0, metrics.dump.durationMs - stream) : byName('dump')),
    transfer: (metrics.transfer?.durationMs ?? byName('transfer')) + stream,
    restore: metrics.restore?.durationMs ?? byName('restore'),
    'lazy tail': metrics.lazy ? Math.max(0, metrics.lazy.allPagesArrivedMs - metrics.lazy.restoreReadyMs) : 0,
  };
  return Object.fromEntries(Object.entries(ms).map(([group, value]) => [group, Number((value / 1000).toFixed(3))]));
}

const okRuns = (input: ReportInput) => input.runs.filter((r): r is ReportRun & { metrics: RunMetrics } => r.ok && r.metrics !== undefined);

function phaseBars(input: ReportInput): ChartSpec {
  const runs = okRuns(input);
  const perRun = runs.map((r) => phaseSeconds(r.metrics));
  return {
    id: 'phases',
    title: 'Phases of every run',
    caption:
      'Seconds per phase, timed on the node that ran it: pre-dump rounds (with their shipping), the dump (without a page stream), the transfer (with it), the restore, and the lazy tail (running on the destination → last page arrived).',
    height: 80 + runs.length * 22,
    config: {
      type: 'bar',
      data: {
        labels: runs.map((r) => r.id),
        datasets: PHASE_GROUPS.map((g, i) => ({ label: g.name, data: perRun.map((p) => p[g.name]!), backgroundColor: color(i) })),
      },
      options: {
        indexAxis: 'y',
        maintainAspectRatio: false,
        animation: false,
        scales: { x: { stacked: true, title: { display: true, text: 'seconds' } }, y: { stacked: true } },
      },
    },
  };
}

/** The providers' deadlines, and any other deadline a curve of this sweep searched for. */
function deadlineLines(xMin: number, xMax: number, searched: readonly number[]) {
  const providers = Object.entries(DEADLINES_S).map(([provider, seconds]) => ({
    label: `${provider.toUpperCase()} deadline ${seconds} s`,
    seconds,
    color: provider === 'aws' ? '#d62728' : '#ff7f0e',
  }));
  const others = [...new Set(searched)]
    .filter((s) => !providers.some((p) => p.seconds === s))
    .map((seconds) => ({ label: `searched deadline ${seconds} s`, seconds, color: '#7f7f7f' }));
  return [...providers, ...others].map(({ label, seconds, color }) => ({
    type: 'line',
    label,
    data: [
      { x: xMin, y: seconds },
      { x: xMax, y: seconds },
    ],
    borderColor: color,
    borderDash: [6, 4],
    borderWidth: 2,
    pointRadius: 0,
    fill: false,
  }));
}

/** Time vs image size, one series per strategy and placement, with the deadline lines. */
function timeVsSize(input: ReportInput, id: string, title: string, pick: (m: RunMetrics) => number | undefined, caption: string): ChartSpec {
  const runs = okRuns(input).filter((r) => r.metrics.dump && pick(r.metrics) !== undefined);
  const series = new Map<string, { x: number; y: number; run: string }[]>();
  for (const r of runs) {
    const m = r.metrics;
    const name = [m.strategy, m.transfer?.method, m.placement].filter(Boolean).join(' · ');
    series.set(name, [...(series.get(name) ?? []), { x: Number((m.dump!.imageBytes / MIB).toFixed(1)), y: Number((pick(m)! / 1000).toFixed(3)), run: r.id }]);
  }
  const xs = runs.map((r) => r.metrics.dump!.imageBytes / MIB);
  const [xMin, xMax] = xs.length > 0 ? [Math.min(...xs) * 0.9, Math.max(...xs) * 1.1] : [0, 1];
  return {
    id,
    title,
    caption,
    height: 360,
    half: true,
    config: {
      type: 'scatter',
      data: {
        datasets: [
          ...[...series.entries()].map(([label, data], i) => ({ label, data, backgroundColor: color(i), borderColor: color(i), pointRadius: 4 })),
          ...deadlineLines(
            xMin,
            xMax,
            input.curves.map((c) => c.deadlineS),
          ),
        ],
      },
      options: {
        maintainAspectRatio: false,
        animation: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: 'image size (MiB)' } },
          y: { type: 'logarithmic', title: { display: true, text: 'seconds (log scale)' } },
        },
      },
    },
  };
}

function throughputVsLink(rows: readonly GroupRow[]): ChartSpec | undefined {
  const withThroughput = rows.filter((r) => r.throughputMbit);
  if (withThroughput.length === 0) return undefined;
  return {
    id: 'throughput',
    title: 'Transfer throughput vs the raw link',
    caption:
      'What crossed the link per second (the transfer plus any page stream), mean per group with 95 % CI whiskers, beside the raw link under the same profile (iperf3, one TCP flow, measured once per sweep).',
    height: 380,
    config: {
      type: 'bar',
      data: {
        labels: withThroughput.map((r) => r.label),
        datasets: [
          {
            label: 'transfer throughput (Mbit/s)',
            data: withThroughput.map((r) => Number(r.throughputMbit!.mean.toFixed(1))),
            errorBars: withThroughput.map((r) =>
              r.throughputMbit!.ci95 === undefined ? null : [r.throughputMbit!.mean - r.throughputMbit!.ci95, r.throughputMbit!.mean + r.throughputMbit!.ci95],
            ),
            backgroundColor: '#4e79a7',
          },
          {
            label: 'raw link, iperf3 (Mbit/s)',
            data: withThroughput.map((r) => (r.rawLinkMbit === undefined ? null : Number(r.rawLinkMbit.toFixed(1)))),
            backgroundColor: '#bab0ac',
          },
        ],
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'Mbit/s' } } } },
    },
  };
}

/** Same-AZ beside cross-AZ for every combination of the other settings, one chart per figure. */
function placementComparison(input: ReportInput): ChartSpec[] {
  const placements = [
    ...new Set(input.runs.map((r) => r.metrics?.placement ?? r.dims['experiment.placement']).filter((p): p is string => p !== undefined)),
  ].sort((a, b) => (a === 'same-az' ? -1 : b === 'same-az' ? 1 : a.localeCompare(b)));
  if (placements.length < 2) return [];
  const otherDims = (r: ReportRun) => Object.fromEntries(Object.entries(r.dims).filter(([p]) => !isPlacementDim(p)));
  // Natural order (max_memory=128 before max_memory=1024), not the order the runs happened in.
  const byRest = new Map(
    [...groupRuns(input.runs.map((r) => ({ ...r, dims: otherDims(r) }))).entries()].sort(([, a], [, b]) =>
      labelOf(a[0]!.dims).localeCompare(labelOf(b[0]!.dims), 'en', { numeric: true }),
    ),
  );
  const labels = [...byRest.values()].map((runs) => labelOf(runs[0]!.dims));
  const figure = (id: string, title: string, unit: string, pick: (m: RunMetrics) => number | undefined, caption: string): ChartSpec => ({
    id,
    title,
    caption,
    height: 360,
    half: true,
    config: {
      type: 'bar',
      data: {
        labels,
        datasets: placements.map((placement, i) => {
          const stats = [...byRest.values()].map((runs) =>
            summarize(
              runs
                .filter((r) => r.ok && r.metrics && (r.metrics.placement ?? r.dims['experiment.placement']) === placement)
                .map((r) => pick(r.metrics!))
                .filter((v): v is number => v !== undefined),
            ),
          );
          return {
            label: placement,
            data: stats.map((s) => (s ? Number(s.mean.toFixed(3)) : null)),
            errorBars: stats.map((s) => (s?.ci95 === undefined ? null : [s.mean - s.ci95, s.mean + s.ci95])),
            backgroundColor: PLACEMENT_COLORS[placement] ?? color(i),
          };
        }),
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: unit } } } },
    },
  });
  return [
    figure(
      'placement-transfer',
      'Same-AZ vs cross-AZ: transfer time',
      'seconds',
      (m) => (m.transfer || m.pageStream ? ((m.transfer?.durationMs ?? 0) + (m.pageStream?.durationMs ?? 0)) / 1000 : undefined),
      'Mean time moving data node to node (transfer plus any page stream) per placement; whiskers: 95 % CI over the repetitions.',
    ),
    figure(
      'placement-migration',
      'Same-AZ vs cross-AZ: migration time',
      'seconds',
      (m) => (m.migrationMs === undefined ? undefined : m.migrationMs / 1000),
      'Mean migration time (first CRIU action until the source is no longer needed: running on the destination, lazy tail included), 95 % CI.',
    ),
  ];
}

function deadlineCurves(input: ReportInput): ChartSpec | undefined {
  if (input.curves.length === 0) return undefined;
  const cells = [...new Set(input.curves.map((c) => c.cellLabel))];
  const deadlines = [...new Set(input.curves.map((c) => c.deadlineS))].sort((a, b) => a - b);
  return {
    id: 'deadline-curves',
    title: `Largest ${input.sizePath ?? 'size'} that meets each deadline`,
    caption:
      'Found by bisection over runs: every repetition of the size met the deadline, the next size up on the grid did not (a bar at the top of the range means the whole range met it).',
    height: 360,
    config: {
      type: 'bar',
      data: {
        labels: cells,
        datasets: deadlines.map((d, i) => ({
          label: `deadline ${d} s`,
          data: cells.map((cell) => input.curves.find((c) => c.cellLabel === cell && c.deadlineS === d)?.maxSize ?? 0),
          backgroundColor: color(i + 3),
        })),
      },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, title: { display: true, text: input.sizePath ?? 'size' } } } },
    },
  };
}

export function buildCharts(input: ReportInput, rows: readonly GroupRow[]): ChartSpec[] {
  const charts: (ChartSpec | undefined)[] = [
    phaseBars(input),
    timeVsSize(
      input,
      'downtime',
      'Downtime vs image size, per strategy',
      (m) => m.downtimeMs,
      'Freeze to running on the destination; dashed: the GCP (30 s) and AWS (120 s) notices.',
    ),
    timeVsSize(
      input,
      'migration',
      'Migration time vs image size',
      (m) => m.migrationMs,
      'What the notice must cover (pre-dumps and lazy tails included); dashed: 30 s and 120 s.',
    ),
    throughputVsLink(rows),
    ...placementComparison(input),
    deadlineCurves(input),
  ];
  return charts.filter((c): c is ChartSpec => c !== undefined && okRuns(input).length + input.curves.length > 0);
}
