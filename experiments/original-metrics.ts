// The Python framework's metrics file (its ExperimentMetrics.to_json): snake_case keys, seconds,
// one {name, duration, start_time, end_time, metadata} per timed step, so analysis scripts
// written for it read a criu-lab run unchanged. Written where experiment.metrics_file (--output) says.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MIB, type Phase, type RunMetrics } from './metrics.js';

/** The framework's TimingMetric: durations and times in seconds (times as epoch seconds). */
export interface OriginalTiming {
  readonly name: string;
  readonly duration: number;
  readonly start_time: number;
  readonly end_time: number;
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface OriginalMetrics {
  readonly experiment_name: string;
  readonly workload_type: string;
  readonly total_duration: number;
  readonly pre_dump_iterations: readonly OriginalTiming[];
  readonly final_dump: OriginalTiming | null;
  readonly transfer: OriginalTiming | null;
  readonly restore: OriginalTiming | null;
  readonly custom_metrics: Readonly<Record<string, OriginalTiming>>;
  readonly timestamp: string;
  readonly config: Readonly<Record<string, unknown>>;
  readonly cli_args: Readonly<Record<string, unknown>>;
  readonly nodes: { readonly source: string; readonly destination: string };
  readonly log_files: { readonly output_dir: string; readonly source: readonly string[]; readonly dest: readonly string[] };
  /** Not in the framework's file: whether verify passed, so a script can tell good runs from bad ones. */
  readonly success: boolean;
}

const seconds = (ms: number) => ms / 1000;

function timing(
  name: string,
  durationMs: number,
  startedAt: string | undefined,
  fallbackStartMs: number,
  metadata: Record<string, unknown> = {},
): OriginalTiming {
  const start = seconds(startedAt ? Date.parse(startedAt) : fallbackStartMs);
  return { name, duration: seconds(durationMs), start_time: start, end_time: start + seconds(durationMs), metadata };
}

const firstPhase = (phases: readonly Phase[], test: (name: string) => boolean) => phases.find((p) => test(p.name))?.startedAt;

/** The sections the framework's set_config keeps. */
function configSections(config: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  return Object.fromEntries(['checkpoint', 'transfer', 'workload', 'experiment'].map((key) => [key, config?.[key] ?? {}]));
}

/** Maps a run's metrics onto the framework's format; `logFiles` are the collected logs, as in its set_log_files. */
export function toOriginalMetrics(metrics: RunMetrics, logFiles: OriginalMetrics['log_files']): OriginalMetrics {
  const runStartMs = Date.parse(metrics.startedAt);
  const { phases } = metrics;
  const custom: Record<string, OriginalTiming> = {};
  if (metrics.downtimeMs !== undefined)
    custom['downtime'] = timing(
      'downtime',
      metrics.downtimeMs,
      firstPhase(phases, (n) => n === 'dump'),
      runStartMs,
    );
  if (metrics.migrationMs !== undefined)
    custom['migration'] = timing(
      'migration',
      metrics.migrationMs,
      firstPhase(phases, (n) => n.startsWith('predump.') || n === 'dump'),
      runStartMs,
    );
  if (metrics.trigger)
    custom['wait_before_migration'] = timing('wait_before_migration', metrics.trigger.firedAfterReadyMs, undefined, runStartMs, {
      trigger: metrics.trigger.kind,
      detail: metrics.trigger.detail,
    });
  for (const phase of phases.filter((p) => p.name === 'connect' || p.name === 'verify'))
    custom[phase.name] = timing(phase.name, phase.durationMs, phase.startedAt, runStartMs, { measured_on: phase.measuredOn });
  return {
    experiment_name: metrics.experiment,
    workload_type: metrics.workload,
    total_duration: seconds(metrics.totalDurationMs),
    pre_dump_iterations: (metrics.predump?.iterations ?? []).map((round) =>
      timing(`pre_dump_${round.iteration}`, round.durationMs, round.startedAt, runStartMs, {
        ...round.criuStats,
        rsync_duration: seconds(round.shipMs),
        size_mb: round.shippedBytes / MIB,
      }),
    ),
    final_dump: metrics.dump
      ? timing(
          'final_dump',
          metrics.dump.durationMs,
          firstPhase(phases, (n) => n === 'dump'),
          runStartMs,
          { ...metrics.dump.criuStats, size_mb: metrics.dump.imageBytes / MIB, strategy: metrics.strategy },
        )
      : null,
    transfer: metrics.transfer
      ? timing(
          'transfer',
          metrics.transfer.durationMs,
          firstPhase(phases, (n) => n.startsWith('transfer.')),
          runStartMs,
          {
            method: metrics.transfer.method,
            size_mb: metrics.transfer.bytes / MIB,
            throughput_mbps: metrics.transfer.throughputMBps,
            steps: metrics.transfer.steps.map((s) => ({
              name: s.name,
              duration: seconds(s.durationMs),
              ...(s.bytes !== undefined ? { size_mb: s.bytes / MIB } : {}),
            })),
          },
        )
      : null,
    restore: metrics.restore
      ? timing(
          'restore',
          metrics.restore.durationMs,
          firstPhase(phases, (n) => n === 'restore'),
          runStartMs,
          { ...metrics.restore.criuStats, lazy_pages: metrics.lazy !== undefined },
        )
      : null,
    custom_metrics: custom,
    timestamp: metrics.startedAt,
    config: configSections(metrics.config),
    cli_args: { argv: metrics.commandLine ?? [], ...metrics.workloadParams, strategy: metrics.strategy, transfer_method: metrics.transfer?.method ?? null },
    nodes: { source: metrics.source.ip, destination: metrics.destination.ip },
    log_files: logFiles,
    success: metrics.outcome === 'ok',
  };
}

const listFiles = (dir: string) =>
  readdir(dir).then(
    (names) => names.sort().map((name) => join(dir, name)),
    () => [],
  );

/** Writes the framework's metrics file at `path` (absolute), its parent dirs made; the logs are those in the run's results dir. */
export async function writeOriginalMetrics(path: string, metrics: RunMetrics, resultsDir: string): Promise<void> {
  const logFiles = { output_dir: resultsDir, source: await listFiles(join(resultsDir, 'source')), dest: await listFiles(join(resultsDir, 'dest')) };
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(toOriginalMetrics(metrics, logFiles), null, 2)}\n`);
}
