// `criu-lab watch`: a migration that waits, once its workload is warm, for a spot interruption
// notice on the source node (polled every 5 s), then migrates at once and records notice →
// migration done against the termination time the notice names (120 s on AWS).
import { appendFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Plan } from '../config/plan.js';
import { AbortedError } from '../../core/errors.js';
import { samplesOf, type RunMetrics, type Sample } from '../metrics.js';
import { runMigration } from '../pipeline.js';
import type { Progress } from '../progress.js';
import type { RemoteNode, Role } from '../../core/node.js';
import { connectPlanNode } from '../remote/connect.js';
import type { FisExperiment } from './fis.js';
import { parseProbe, probeArgv, simulatedNotice, type ProbeResult, type SpotNotice } from './notice.js';
import { WATCH_FILE, watchVerdict, type WatchRecord } from './record.js';

export interface WatchOptions {
  readonly signal: AbortSignal;
  readonly progress: Progress;
  readonly pollIntervalS: number;
  /** Drop a notice on the source this many seconds after the watch starts (the lab has no IMDS). */
  readonly simulateAfterS: number | undefined;
  readonly imdsUrl: string;
  readonly noticeFile: string;
  /** `--fis`: starts the stack's FIS spot interruption once the watch polls (experiments/watch/fis.ts). @default - no experiment */
  readonly startFisExperiment?: () => Promise<FisExperiment>;
  /** The nodes and the migration. @default - SSH to the plan's nodes, the ordinary pipeline; tests put fakes here */
  readonly edges?: WatchEdges;
}

export interface WatchEdges {
  readonly connect: (plan: Plan, role: Role) => Promise<RemoteNode>;
  readonly migrate: typeof runMigration;
}

const REAL_EDGES: WatchEdges = { connect: connectPlanNode, migrate: runMigration };

type SeenNotice = ProbeResult & { notice: SpotNotice; fis?: FisExperiment };

export interface WatchOutcome {
  readonly metrics: RunMetrics;
  readonly resultsDir: string;
  readonly record: WatchRecord;
}

async function fireSimulatedNotice(node: RemoteNode, noticeFile: string, afterS: number, signal: AbortSignal, progress: Progress): Promise<void> {
  await sleep(afterS * 1000, undefined, { signal });
  const notice: SpotNotice = simulatedNotice(Date.now());
  await node.run(['mkdir', '-p', dirname(noticeFile)], { step: 'simulate notice', signal });
  // Written beside and renamed, so the probe never reads half a notice.
  await node.writeFile(`${noticeFile}.tmp`, `${JSON.stringify(notice)}\n`);
  await node.run(['mv', '-f', `${noticeFile}.tmp`, noticeFile], { step: 'simulate notice', signal });
  progress.note(`  simulated spot notice written on ${node.name}: ${notice.action} at ${notice.time}`);
}

/** Polls the source until the probe returns a notice. */
async function waitForNotice(plan: Plan, options: WatchOptions): Promise<SeenNotice> {
  const { signal, progress } = options;
  const node = await (options.edges ?? REAL_EDGES).connect(plan, 'source');
  const simulation = new AbortController();
  const stop = () => simulation.abort();
  signal.addEventListener('abort', stop);
  try {
    await node.run(['rm', '-f', options.noticeFile], { check: false, signal });
    progress.note(
      `  watching ${node.name}: ${options.imdsUrl}/latest/meta-data/spot/instance-action (IMDSv2) and ${options.noticeFile}, every ${options.pollIntervalS} s` +
        (options.simulateAfterS === undefined ? '' : `; a simulated notice fires in ${options.simulateAfterS} s`),
    );
    const fis = options.startFisExperiment && (await options.startFisExperiment());
    if (fis)
      progress.note(
        `  FIS experiment ${fis.experimentId} started (template ${fis.templateId}${fis.status ? `, ${fis.status}` : ''}): ${node.name} gets a spot interruption notice`,
      );
    const fired =
      options.simulateAfterS === undefined
        ? undefined
        : fireSimulatedNotice(node, options.noticeFile, options.simulateAfterS, simulation.signal, progress).catch((error: Error) =>
            simulation.signal.aborted ? undefined : progress.note(`  the simulated notice failed: ${error.message}`),
          );
    let warnedUnreachable = false;
    for (;;) {
      if (signal.aborted) throw new AbortedError();
      const probe = parseProbe((await node.run(probeArgv(options.noticeFile, options.imdsUrl), { check: false, timeoutMs: 15_000, signal })).stdout);
      if (probe.notice) {
        progress.note(`  spot notice on ${node.name} (via ${probe.via}): ${probe.notice.action} at ${probe.notice.time}`);
        simulation.abort();
        await fired;
        return { ...probe, notice: probe.notice, ...(fis ? { fis } : {}) };
      }
      if (probe.via === 'imds-unreachable' && !warnedUnreachable) {
        warnedUnreachable = true;
        progress.note(`  no instance metadata service on ${node.name} (not an EC2 instance?): only ${options.noticeFile} can bring a notice`);
      }
      await sleep(options.pollIntervalS * 1000, undefined, { signal }).catch(() => {
        throw new AbortedError();
      });
    }
  } finally {
    signal.removeEventListener('abort', stop);
    simulation.abort();
    await node.run(['rm', '-f', options.noticeFile], { check: false }).catch(() => undefined);
    await node.close();
  }
}

/** When the source was no longer needed: the first node-timed phase of the migration plus its migration time. */
export function migrationDoneAtMs(metrics: RunMetrics): number | undefined {
  const starts = metrics.phases.filter((p) => p.measuredOn !== 'controller').map((p) => Date.parse(p.startedAt));
  if (metrics.migrationMs === undefined || starts.length === 0) return undefined;
  return Math.min(...starts) + metrics.migrationMs;
}

export async function watchAndMigrate(plan: Plan, options: WatchOptions): Promise<WatchOutcome> {
  let seen: SeenNotice | undefined;
  const beforeMigration = async () => {
    seen = await options.progress.track('wait for spot notice', () => waitForNotice(plan, options));
  };
  let outcome: { metrics: RunMetrics; resultsDir: string } | undefined;
  let failure: unknown;
  try {
    outcome = await (options.edges ?? REAL_EDGES).migrate(plan, { signal: options.signal, progress: options.progress, beforeMigration });
  } catch (error) {
    failure = error;
    const attached = error as { metrics?: RunMetrics; resultsDir?: string };
    if (attached.metrics && attached.resultsDir) outcome = { metrics: attached.metrics, resultsDir: attached.resultsDir };
  }
  if (!outcome || !seen) throw failure ?? new Error('watch: the run ended without a notice');
  const done = migrationDoneAtMs(outcome.metrics);
  const record: WatchRecord = {
    notice: seen.notice,
    via: seen.via === 'imds' ? 'imds' : 'notice-file',
    pollIntervalS: options.pollIntervalS,
    noticeSeenAt: new Date(seen.nodeTimeMs).toISOString(),
    migrationDoneAt: done === undefined ? undefined : new Date(done).toISOString(),
    ...watchVerdict(seen.nodeTimeMs, seen.notice.time, failure === undefined ? done : undefined),
    ...(seen.fis ? { fis: { ...seen.fis, startToNoticeMs: seen.nodeTimeMs - Date.parse(seen.fis.startedAt) } } : {}),
  };
  await writeFile(join(outcome.resultsDir, WATCH_FILE), `${JSON.stringify(record, null, 2)}\n`);
  if (plan.experiment.saveMetrics) {
    const metadata = { ...(samplesOf(outcome.metrics)[0]?.metadata ?? {}), notice_via: record.via };
    const now = Date.now() / 1000;
    const samples: Sample[] = [
      ...(record.noticeToDoneMs === undefined ? [] : [{ metric: 'watch.notice_to_done', value: record.noticeToDoneMs, unit: 'ms', metadata, timestamp: now }]),
      ...(record.marginMs === undefined ? [] : [{ metric: 'watch.margin', value: record.marginMs, unit: 'ms', metadata, timestamp: now }]),
      ...(record.fis ? [{ metric: 'watch.fis_start_to_notice', value: record.fis.startToNoticeMs, unit: 'ms', metadata, timestamp: now }] : []),
    ];
    if (samples.length > 0) await appendFile(join(outcome.resultsDir, 'samples.jsonl'), samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
  }
  if (failure !== undefined) throw Object.assign(failure as object, { watch: record });
  return { ...outcome, record };
}
