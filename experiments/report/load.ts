// What a report is made of, read from disk: a sweep dir (sweep.json and its runs) or any
// results dir (every metrics.json below it). Each run becomes a ReportRun with the settings
// that tell it apart from the others.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import type { RunMetrics } from '../metrics.js';
import { SWEEP_FILE, type DeadlineCurvePoint, type LinkMeasurement, type SweepState } from '../sweep/state.js';
import { WATCH_FILE, type WatchRecord } from '../watch/record.js';
import { sweepCostOf, type SweepCostSummary } from './cost.js';

export interface ReportRun {
  /** Sweep run key, or the results folder name. */
  readonly id: string;
  /** The settings that vary between runs, `path → value` (a sweep's matrix and zip; else strategy, transfer, placement, …). */
  readonly dims: Readonly<Record<string, string>>;
  readonly repetition: number | undefined;
  readonly ok: boolean;
  readonly error: string | undefined;
  readonly metrics: RunMetrics | undefined;
  readonly resultsDir: string | undefined;
  readonly watch: WatchRecord | undefined;
  /** The node pair it ran on (`n1->n2`), when the sweep recorded it. */
  readonly pair?: string;
  /** It overlapped in time with runs on other pairs of one host (a lab sweep with parallel pairs). */
  readonly overlap?: boolean;
  readonly overlapsWith?: readonly string[];
}

export interface ReportInput {
  readonly title: string;
  readonly source: string;
  readonly kind: 'sweep' | 'results';
  readonly runs: readonly ReportRun[];
  readonly links: readonly LinkMeasurement[];
  readonly curves: readonly DeadlineCurvePoint[];
  readonly sizePath: string | undefined;
  /** A sweep with parallel pairs: how many at once, and whether they shared this host. */
  readonly parallel?: { readonly n: number; readonly hostShared: boolean; readonly nodes: number; readonly pairs: readonly string[] };
  /** A sweep's estimate beside its actual wall time and cost. @default - none (a results dir, or a sweep from before estimates) */
  readonly cost?: SweepCostSummary;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

const PLACEMENT_PATHS = new Set(['experiment.placement', 'experiment.profile']);
export const isPlacementDim = (path: string) => PLACEMENT_PATHS.has(path);

/** The dimensions of a run outside a sweep: what a reader would group by. */
function dimsOfMetrics(metrics: RunMetrics): Record<string, string> {
  const params = Object.entries(metrics.workloadParams).map(([k, v]) => [`workload.${k}`, String(v)] as const);
  return Object.fromEntries([
    ['workload.type', metrics.workload],
    ['checkpoint.strategy.mode', metrics.strategy],
    ['transfer.method', metrics.transfer?.method ?? 'n/a'],
    ...(metrics.placement ? [['experiment.placement', metrics.placement] as const] : []),
    ...(metrics.profile ? [['experiment.profile', metrics.profile] as const] : []),
    ...params,
  ]);
}

function loadSweep(dir: string): ReportInput {
  const state = readJson<SweepState>(join(dir, SWEEP_FILE))!;
  const sizePath = state.deadline?.sizePath;
  const varying = new Set([...state.varying, ...(sizePath ? [sizePath] : [])]);
  const runs = state.runs
    .filter((r) => r.status === 'ok' || r.status === 'failed')
    .map((r): ReportRun => {
      const metrics = r.resultsDir ? readJson<RunMetrics>(join(r.resultsDir, 'metrics.json')) : undefined;
      return {
        id: r.key,
        dims: Object.fromEntries(r.settings.filter((s) => varying.has(s.path)).map((s) => [s.path, String(s.value)])),
        repetition: r.repetition,
        ok: r.status === 'ok',
        error: r.error,
        metrics,
        resultsDir: r.resultsDir,
        watch: r.resultsDir ? readJson<WatchRecord>(join(r.resultsDir, WATCH_FILE)) : undefined,
        ...(r.pair ? { pair: r.pair.id } : {}),
        ...(r.overlap ? { overlap: true, overlapsWith: r.overlapsWith ?? [] } : {}),
      };
    });
  const p = state.pairs;
  const cost = sweepCostOf(state);
  return {
    title: `sweep ${state.name}`,
    source: dir,
    kind: 'sweep',
    runs: onlyDiffering(runs),
    links: state.links,
    curves: state.curves,
    sizePath,
    ...(p ? { parallel: { n: p.parallel, hostShared: p.hostShared, nodes: p.nodes, pairs: p.pairs.map((x) => x.id) } } : {}),
    ...(cost ? { cost } : {}),
  };
}

/** Keeps the dims that tell runs apart: a matrix axis with one value names nothing. */
function onlyDiffering(runs: readonly ReportRun[]): ReportRun[] {
  const paths = [...new Set(runs.flatMap((r) => Object.keys(r.dims)))];
  const differing = paths.filter((p) => new Set(runs.map((r) => r.dims[p])).size > 1);
  return runs.map((r) => ({ ...r, dims: Object.fromEntries(Object.entries(r.dims).filter(([p]) => differing.includes(p))) }));
}

/** Every directory holding a metrics.json, down to a few levels (results/, results/sweeps/x/runs/<key>/). */
function metricsDirs(dir: string, depth = 4): string[] {
  if (existsSync(join(dir, 'metrics.json'))) return [dir];
  if (depth === 0) return [];
  return readdirSync(dir)
    .map((entry) => join(dir, entry))
    .filter((path) => statSync(path).isDirectory())
    .flatMap((path) => metricsDirs(path, depth - 1));
}

function loadResults(dir: string): ReportInput {
  const runs = metricsDirs(dir)
    .sort()
    .map((resultsDir): ReportRun => {
      const metrics = readJson<RunMetrics>(join(resultsDir, 'metrics.json'))!;
      return {
        id: basename(resultsDir),
        dims: dimsOfMetrics(metrics),
        repetition: undefined,
        ok: metrics.outcome === 'ok',
        error: metrics.error,
        metrics,
        resultsDir,
        watch: readJson<WatchRecord>(join(resultsDir, WATCH_FILE)),
      };
    });
  if (runs.length === 0)
    throw new UsageError(`no runs in ${dir}`, [
      `${dir}: neither a sweep.json nor any metrics.json below it; pass a sweep dir (results/sweeps/<name>) or a results dir`,
    ]);
  return { title: `results in ${basename(dir)}`, source: dir, kind: 'results', runs: onlyDiffering(runs), links: [], curves: [], sizePath: undefined };
}

export function loadReportInput(path: string): ReportInput {
  const dir = resolve(path);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`no directory at ${dir}`, [`${path}: pass a sweep dir (results/sweeps/<name>) or a results dir`]);
  return existsSync(join(dir, SWEEP_FILE)) ? loadSweep(dir) : loadResults(dir);
}
