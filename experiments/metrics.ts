// Measurements of one run: phases with start and duration, samples in PerfKitBenchmarker's
// shape (metric, value, unit, metadata, timestamp), and the summary the seed printed.
import type { CriuStats } from './criu/stats.js';

export interface Sample {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Epoch seconds. */
  readonly timestamp: number;
}

export interface Phase {
  readonly name: string;
  /** ISO time the phase started (the node's clock when measuredOn is a node). */
  readonly startedAt: string;
  readonly durationMs: number;
  /** Where the duration was measured: a node's name, or "controller". */
  readonly measuredOn: string;
}

export interface TransferMetrics {
  readonly method: string;
  readonly bytes: number;
  readonly durationMs: number;
  readonly throughputMBps: number;
  readonly steps: readonly { readonly name: string; readonly durationMs: number; readonly bytes?: number }[];
}

export const DEADLINES_S = { aws: 120, gcp: 30 } as const;

export interface RunMetrics {
  readonly experiment: string;
  readonly runId: string;
  readonly workload: string;
  readonly workloadParams: Readonly<Record<string, unknown>>;
  readonly strategy: string;
  /** same-az or cross-az when servers.yaml says which zone each node is in. */
  readonly placement?: string;
  readonly source: { readonly name: string; readonly ip: string };
  readonly destination: { readonly name: string; readonly ip: string };
  readonly startedAt: string;
  readonly phases: readonly Phase[];
  readonly dump?: { readonly durationMs: number; readonly criuStats: CriuStats; readonly imageBytes: number };
  readonly transfer?: TransferMetrics;
  readonly restore?: { readonly durationMs: number; readonly criuStats: CriuStats };
  readonly downtimeMs?: number;
  /** From the first CRIU action to the source no longer being needed: what the deadlines judge. */
  readonly migrationMs?: number;
  readonly totalDurationMs: number;
  readonly verify?: { readonly ok: boolean; readonly checks: readonly { name: string; ok: boolean; detail: string }[] };
  readonly deadlines?: Record<keyof typeof DEADLINES_S, { readonly deadlineS: number; readonly met: boolean }>;
  readonly versions: Readonly<Record<string, string>>;
  readonly outcome: 'ok' | 'failed' | 'exception';
  readonly error?: string;
  readonly cleanupFailures?: readonly string[];
}

export const MIB = 1024 * 1024;

export function throughputMBps(bytes: number, durationMs: number): number {
  return durationMs > 0 ? bytes / MIB / (durationMs / 1000) : 0;
}

/** The deadline verdicts: a migration meets a provider's deadline when its whole migration (freeze included) fits the notice. */
export function deadlineVerdicts(migrationMs: number): NonNullable<RunMetrics['deadlines']> {
  return {
    aws: { deadlineS: DEADLINES_S.aws, met: migrationMs <= DEADLINES_S.aws * 1000 },
    gcp: { deadlineS: DEADLINES_S.gcp, met: migrationMs <= DEADLINES_S.gcp * 1000 },
  };
}

/** One sample per phase and per headline figure, with the run's identity as metadata. */
export function samplesOf(metrics: RunMetrics): Sample[] {
  const metadata = {
    run_id: metrics.runId, experiment: metrics.experiment, workload: metrics.workload, strategy: metrics.strategy, placement: metrics.placement,
    transfer: metrics.transfer?.method, source: metrics.source.name, destination: metrics.destination.name, ...metrics.workloadParams,
  };
  const at = (iso: string) => Date.parse(iso) / 1000;
  const samples: Sample[] = metrics.phases.map((p) => ({ metric: `phase.${p.name}`, value: p.durationMs, unit: 'ms', metadata: { ...metadata, measured_on: p.measuredOn }, timestamp: at(p.startedAt) }));
  const now = Date.now() / 1000;
  const add = (metric: string, value: number | undefined, unit: string) => {
    if (value !== undefined) samples.push({ metric, value, unit, metadata, timestamp: now });
  };
  add('dump.duration', metrics.dump?.durationMs, 'ms');
  add('dump.image_bytes', metrics.dump?.imageBytes, 'bytes');
  add('transfer.duration', metrics.transfer?.durationMs, 'ms');
  add('transfer.bytes', metrics.transfer?.bytes, 'bytes');
  add('transfer.throughput', metrics.transfer?.throughputMBps, 'MB/s');
  add('restore.duration', metrics.restore?.durationMs, 'ms');
  add('downtime', metrics.downtimeMs, 'ms');
  add('total.duration', metrics.totalDurationMs, 'ms');
  for (const [name, value] of Object.entries(metrics.dump?.criuStats ?? {})) add(`criu.dump.${name}`, value, name.endsWith('_time') ? 'us' : 'count');
  for (const [name, value] of Object.entries(metrics.restore?.criuStats ?? {})) add(`criu.restore.${name}`, value, name.endsWith('_time') ? 'us' : 'count');
  if (metrics.verify) add('verify.ok', metrics.verify.ok ? 1 : 0, 'bool');
  return samples;
}

const seconds = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)}s`);

/** The printed summary, in the seed's shape. */
export function formatSummary(metrics: RunMetrics): string {
  const rule = '='.repeat(60);
  const lines = [rule, `CRIU Experiment Metrics: ${metrics.experiment}`, `Workload Type: ${metrics.workload}`, `Strategy: ${metrics.strategy}`, rule, ''];
  if (metrics.dump) {
    lines.push('Final Dump:', `  Duration: ${seconds(metrics.dump.durationMs)}`);
    const s = metrics.dump.criuStats;
    if (s['frozen_time'] !== undefined) lines.push(`  Frozen: ${seconds(s['frozen_time'] / 1000)} (CRIU), pages written: ${s['pages_written'] ?? 'n/a'}`);
    lines.push('');
  }
  if (metrics.transfer) {
    const t = metrics.transfer;
    lines.push('Transfer:', `  Method: ${t.method}`, `  Duration: ${seconds(t.durationMs)}`, `  Size: ${(t.bytes / MIB).toFixed(2)} MB`, `  Throughput: ${t.throughputMBps.toFixed(2)} MB/s`, '');
  }
  if (metrics.restore) lines.push('Restore:', `  Duration: ${seconds(metrics.restore.durationMs)}`, '');
  if (metrics.downtimeMs !== undefined) lines.push(`Downtime (freeze → running on ${metrics.destination.name}): ${seconds(metrics.downtimeMs)}`);
  if (metrics.deadlines) {
    const d = metrics.deadlines;
    lines.push(`Deadlines: AWS ${d.aws.deadlineS}s ${d.aws.met ? 'met' : 'MISSED'}, GCP ${d.gcp.deadlineS}s ${d.gcp.met ? 'met' : 'MISSED'}`);
  }
  if (metrics.verify) {
    lines.push(`Verify: ${metrics.verify.ok ? 'ok' : 'FAILED'}`);
    for (const c of metrics.verify.checks) lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}`);
  }
  if (metrics.error) lines.push(`Error: ${metrics.error}`);
  lines.push('', `Total Experiment Duration: ${seconds(metrics.totalDurationMs)}`, rule);
  return lines.join('\n');
}
