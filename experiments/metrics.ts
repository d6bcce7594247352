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

/** How an rsync transfer ran (transfer.streams, transfer.encrypt, transfer.rsync): what its throughput was measured with. */
export interface RsyncSettings {
  /** rsyncs at once per directory. */
  readonly streams: number;
  readonly encrypt: boolean;
  /** `ssh` (with `cipher`), or `daemon`: a per-run rsync daemon on the destination, in the clear (on `daemonPort`). */
  readonly channel: 'ssh' | 'daemon';
  readonly cipher?: string;
  readonly daemonPort?: number;
  readonly compress: boolean;
}

export interface TransferMetrics {
  readonly method: string;
  readonly bytes: number;
  readonly durationMs: number;
  /** MiB/s (2^20 bytes per second), from throughputMiBps; the field keeps its name for readers of metrics.json. */
  readonly throughputMBps: number;
  readonly steps: readonly { readonly name: string; readonly durationMs: number; readonly bytes?: number }[];
  /** The rsync method's settings. */
  readonly rsync?: RsyncSettings;
}

export const DEADLINES_S = { aws: 120, gcp: 30 } as const;

/** One verify check as recorded: what it is about, and whether migration.success_criteria let it decide the outcome. */
export interface RecordedCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** 'process': the process runs on and is the same; 'integrity': its data is what it was at the freeze. */
  readonly kind?: 'process' | 'integrity';
  /** False when success_criteria turned this kind of check off: recorded, not counted. */
  readonly counted?: boolean;
}

/** One pre-dump round: CRIU's stats-dump of it and the shipping of its directory (while the workload ran on). */
export interface PredumpRoundMetrics {
  readonly iteration: number;
  readonly startedAt: string;
  readonly durationMs: number;
  /** pages_scanned, pages_skipped_parent, pages_written, frozen_time, ... */
  readonly criuStats: CriuStats;
  readonly shippedBytes: number;
  readonly shipMs: number;
  /** The sync after the round (checkpoint.strategy.sync_after_predump, on efs or ebs). */
  readonly syncMs?: number;
}

/** Why pre-dumping stopped: the fixed count was reached, or the adaptive rule's verdict. */
export type PredumpStopReason = 'iterations' | 'converged' | 'diverging' | 'deadline' | 'max-iterations';

export interface PredumpMetrics {
  /** The count asked for, or 'auto' (--predump-iterations auto). */
  readonly planned: number | 'auto';
  readonly iterations: readonly PredumpRoundMetrics[];
  /** Sum and mean of the rounds' durations, as the seed printed them. */
  readonly totalMs: number;
  readonly averageMs: number;
  readonly stopReason: PredumpStopReason;
  readonly stopDetail: string;
}

/** Pages a dump streamed to the destination's page server: CRIU's memwrite_time and pages_written. */
export interface PageStreamMetrics {
  readonly durationMs: number;
  readonly pages: number;
  readonly bytes: number;
  /** MiB/s (2^20 bytes per second), from throughputMiBps; the field keeps its name for readers of metrics.json. */
  readonly throughputMBps: number;
  /** Over CRIU's TLS with the run's certificates (checkpoint.strategy.tls), else in the clear. */
  readonly tls: boolean;
}

/** Lazy pages, in ms after the freeze started (the zero of downtimeMs). */
export interface LazyMetrics {
  /** Everything but the memory dumped: the source starts serving pages (CRIU's own log clock). */
  readonly imagesDumpedMs: number | undefined;
  /** The process runs on the destination: equals downtimeMs. */
  readonly restoreReadyMs: number;
  /** The lazy-pages daemon on the destination exited: every page has arrived. */
  readonly allPagesArrivedMs: number;
  /** The source's dump exited after serving its last page: the source is free. */
  readonly sourceReleasedMs: number;
  /** From the daemon's closing summary ("UFFD transferred pages"). */
  readonly pagesTransferred: number | undefined;
  readonly pagesTotal: number | undefined;
  /** The pages came over CRIU's TLS with the run's certificates (checkpoint.strategy.tls), else in the clear. */
  readonly tls: boolean;
}

/** After a failed restore or verify: the frozen source process resumed, and whether it goes on. */
export interface RollbackMetrics {
  readonly status: 'ok' | 'failed';
  /** The evidence, or why the rollback failed. */
  readonly detail: string;
  readonly durationMs: number;
  readonly counterAtFreeze?: number;
  readonly counterAfterResume?: number;
}

export type DeadlineVerdict = { readonly deadlineS: number; readonly met: boolean };

export interface RunMetrics {
  readonly experiment: string;
  readonly runId: string;
  readonly workload: string;
  readonly workloadParams: Readonly<Record<string, unknown>>;
  readonly strategy: string;
  /** same-az or cross-az when servers.yaml says which zone each node is in. */
  readonly placement?: string;
  /** The lab bandwidth profile (config/profiles.yaml) the links carried, when one was applied. */
  readonly profile?: string;
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
  readonly predump?: PredumpMetrics;
  readonly pageStream?: PageStreamMetrics;
  readonly lazy?: LazyMetrics;
  readonly rollback?: RollbackMetrics;
  readonly totalDurationMs: number;
  readonly verify?: { readonly ok: boolean; readonly checks: readonly RecordedCheck[] };
  /** Which trigger started the migration and when it fired after the ready signal. */
  readonly trigger?: { readonly kind: string; readonly detail: string; readonly firedAfterReadyMs: number; readonly rssMb?: number };
  /** experiment.description. */
  readonly description?: string;
  /** criu-lab's command line (argv after node), when the run came from it. */
  readonly commandLine?: readonly string[];
  /** The merged config the run used (after ${VAR}, presets and flags). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Keys of the original framework accepted with no effect here, and why. */
  readonly inertKeys?: readonly { readonly path: string; readonly reason: string }[];
  /** What --no-cleanup left on the nodes (node → paths), and how to remove it. */
  readonly leftOnNodes?: Readonly<Record<string, readonly string[]>>;
  /** AWS and GCP always; `custom` when --deadline gave a number of seconds. */
  readonly deadlines?: Readonly<Record<keyof typeof DEADLINES_S, DeadlineVerdict> & { readonly custom?: DeadlineVerdict }>;
  readonly versions: Readonly<Record<string, string>>;
  /** pinned: the nodes had to present the host keys in known_hosts; trust-unknown: any key was accepted (--trust-unknown-host-keys without known_hosts). */
  readonly hostKeyCheck?: 'pinned' | 'trust-unknown';
  readonly outcome: 'ok' | 'failed' | 'exception';
  readonly error?: string;
  readonly cleanupFailures?: readonly string[];
}

export const MIB = 1024 * 1024;

/** Mebibytes (2^20 bytes) per second; 0 for an instant move. */
export function throughputMiBps(bytes: number, durationMs: number): number {
  return durationMs > 0 ? bytes / MIB / (durationMs / 1000) : 0;
}

/** The deadline verdicts: a migration meets a provider's deadline when its whole migration (freeze included) fits the notice. */
export function deadlineVerdicts(migrationMs: number, customDeadlineS?: number): NonNullable<RunMetrics['deadlines']> {
  const verdict = (deadlineS: number): DeadlineVerdict => ({ deadlineS, met: migrationMs <= deadlineS * 1000 });
  return { aws: verdict(DEADLINES_S.aws), gcp: verdict(DEADLINES_S.gcp), ...(customDeadlineS !== undefined ? { custom: verdict(customDeadlineS) } : {}) };
}

/** How a page stream crossed the network; a metrics.json from before TLS has no flag and went in the clear. */
const streamSecurity = (tls: boolean | undefined) => (tls ? 'over TLS' : 'in the clear');

/** One sample per phase and per headline figure, with the run's identity as metadata. */
export function samplesOf(metrics: RunMetrics): Sample[] {
  const metadata = {
    run_id: metrics.runId,
    experiment: metrics.experiment,
    workload: metrics.workload,
    strategy: metrics.strategy,
    placement: metrics.placement,
    profile: metrics.profile,
    transfer: metrics.transfer?.method,
    source: metrics.source.name,
    destination: metrics.destination.name,
    ...metrics.workloadParams,
  };
  const at = (iso: string) => Date.parse(iso) / 1000;
  const samples: Sample[] = metrics.phases.map((p) => ({
    metric: `phase.${p.name}`,
    value: p.durationMs,
    unit: 'ms',
    metadata: { ...metadata, measured_on: p.measuredOn },
    timestamp: at(p.startedAt),
  }));
  const now = Date.now() / 1000;
  const add = (metric: string, value: number | undefined, unit: string, extra: Record<string, unknown> = {}, timestamp = now) => {
    if (value !== undefined) samples.push({ metric, value, unit, metadata: { ...metadata, ...extra }, timestamp });
  };
  add('dump.duration', metrics.dump?.durationMs, 'ms');
  add('dump.image_bytes', metrics.dump?.imageBytes, 'bytes');
  add('transfer.duration', metrics.transfer?.durationMs, 'ms');
  add('transfer.bytes', metrics.transfer?.bytes, 'bytes');
  add('transfer.throughput', metrics.transfer?.throughputMBps, 'MiB/s');
  add('restore.duration', metrics.restore?.durationMs, 'ms');
  add('downtime', metrics.downtimeMs, 'ms');
  add('migration.duration', metrics.migrationMs, 'ms');
  for (const round of metrics.predump?.iterations ?? []) {
    const figures: [string, number | undefined, string][] = [
      ['duration', round.durationMs, 'ms'],
      ['pages_scanned', round.criuStats['pages_scanned'], 'count'],
      ['pages_skipped_parent', round.criuStats['pages_skipped_parent'], 'count'],
      ['pages_written', round.criuStats['pages_written'], 'count'],
      ['shipped_bytes', round.shippedBytes, 'bytes'],
    ];
    for (const [name, value, unit] of figures) add(`predump.${name}`, value, unit, { iteration: round.iteration }, at(round.startedAt));
  }
  add('predump.iterations', metrics.predump?.iterations.length, 'count');
  add('page_stream.duration', metrics.pageStream?.durationMs, 'ms');
  add('page_stream.bytes', metrics.pageStream?.bytes, 'bytes');
  add('lazy.restore_ready', metrics.lazy?.restoreReadyMs, 'ms');
  add('lazy.all_pages_arrived', metrics.lazy?.allPagesArrivedMs, 'ms');
  add('lazy.source_released', metrics.lazy?.sourceReleasedMs, 'ms');
  add('lazy.pages_transferred', metrics.lazy?.pagesTransferred, 'count');
  if (metrics.rollback) add('rollback.ok', metrics.rollback.status === 'ok' ? 1 : 0, 'bool');
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
  const strategy = metrics.lazy && metrics.strategy !== 'lazy' ? `${metrics.strategy} + lazy pages` : metrics.strategy;
  const lines = [rule, `CRIU Experiment Metrics: ${metrics.experiment}`, `Workload Type: ${metrics.workload}`, `Strategy: ${strategy}`, rule, ''];
  if (metrics.predump) lines.push(...predumpLines(metrics.predump));
  if (metrics.dump) {
    lines.push('Final Dump:', `  Duration: ${seconds(metrics.dump.durationMs)}`);
    const s = metrics.dump.criuStats;
    if (s['frozen_time'] !== undefined) lines.push(`  Frozen: ${seconds(s['frozen_time'] / 1000)} (CRIU), pages written: ${s['pages_written'] ?? 'n/a'}`);
    lines.push('');
  }
  if (metrics.transfer) {
    const t = metrics.transfer;
    lines.push(
      'Transfer:',
      `  Method: ${t.method}`,
      `  Duration: ${seconds(t.durationMs)}`,
      `  Size: ${(t.bytes / MIB).toFixed(2)} MB`,
      `  Throughput: ${t.throughputMBps.toFixed(2)} MB/s`,
      '',
    );
  }
  if (metrics.pageStream) {
    const p = metrics.pageStream;
    lines.push(
      `Page Stream (to ${metrics.destination.name}'s page server, during the dump, ${streamSecurity(p.tls)}):`,
      `  Duration: ${seconds(p.durationMs)} (CRIU memwrite_time)`,
      `  Size: ${(p.bytes / MIB).toFixed(2)} MB (${p.pages} pages)`,
      `  Throughput: ${p.throughputMBps.toFixed(2)} MB/s`,
      '',
    );
  }
  if (metrics.restore) lines.push('Restore:', `  Duration: ${seconds(metrics.restore.durationMs)}`, '');
  if (metrics.lazy) {
    const l = metrics.lazy;
    lines.push(`Lazy Pages (after the freeze, ${streamSecurity(l.tls)}):`);
    if (l.imagesDumpedMs !== undefined) lines.push(`  Images without memory dumped: ${seconds(l.imagesDumpedMs)}`);
    lines.push(
      `  Restore ready (running on ${metrics.destination.name}): ${seconds(l.restoreReadyMs)}`,
      `  All pages arrived: ${seconds(l.allPagesArrivedMs)}${l.pagesTransferred !== undefined ? ` (${l.pagesTransferred} of ${l.pagesTotal} pages by userfaultfd)` : ''}`,
      `  Source released: ${seconds(l.sourceReleasedMs)}`,
      '',
    );
  }
  if (metrics.downtimeMs !== undefined) lines.push(`Downtime (freeze → running on ${metrics.destination.name}): ${seconds(metrics.downtimeMs)}`);
  if (metrics.migrationMs !== undefined) lines.push(`Migration (first CRIU action → source no longer needed): ${seconds(metrics.migrationMs)}`);
  if (metrics.deadlines) {
    const d = metrics.deadlines;
    const verdict = (label: string, v: DeadlineVerdict) => `${label} ${v.deadlineS}s ${v.met ? 'met' : 'MISSED'}`;
    lines.push(`Deadlines: ${[verdict('AWS', d.aws), verdict('GCP', d.gcp), ...(d.custom ? [verdict('custom', d.custom)] : [])].join(', ')}`);
  }
  if (metrics.verify) {
    lines.push(`Verify: ${metrics.verify.ok ? 'ok' : 'FAILED'}`);
    for (const c of metrics.verify.checks)
      lines.push(`  ${c.ok ? '✓' : '✗'} ${c.name}: ${c.detail}${c.counted === false ? ' (not counted: migration.success_criteria)' : ''}`);
  }
  if (metrics.error) lines.push(`Error: ${metrics.error}`);
  if (metrics.leftOnNodes) {
    lines.push('Left on the nodes (--no-cleanup):');
    for (const [node, paths] of Object.entries(metrics.leftOnNodes)) lines.push(`  ${node}: ${paths.join(' ')}`);
    lines.push(`  remove it with: criu-lab cleanup <results dir>`);
  }
  if (metrics.rollback) lines.push(`Rollback: ${metrics.rollback.status} (${metrics.rollback.detail})`);
  lines.push('', `Total Experiment Duration: ${seconds(metrics.totalDurationMs)}`, rule);
  return lines.join('\n');
}

/** The seed's "Pre-dump Iterations" block, each round with the pages it wrote, and why the rounds stopped. */
function predumpLines(predump: PredumpMetrics): string[] {
  const lines = [`Pre-dump Iterations: ${predump.iterations.length}${predump.planned === 'auto' ? ' (auto)' : ''}`];
  if (predump.iterations.length > 0) lines.push(`  Total time: ${seconds(predump.totalMs)}`, `  Average time: ${seconds(predump.averageMs)}`);
  for (const round of predump.iterations) {
    const written = round.criuStats['pages_written'];
    lines.push(
      `  Iteration ${round.iteration}: ${seconds(round.durationMs)}${written !== undefined ? ` (pages written ${written}, shipped ${(round.shippedBytes / MIB).toFixed(2)} MB in ${seconds(round.shipMs)})` : ''}`,
    );
  }
  lines.push(`  Stopped: ${predump.stopReason}: ${predump.stopDetail}`, '');
  return lines;
}
