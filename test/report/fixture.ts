// A sweep dir on disk shaped like a real one (sweep.json, runs/<key>/<run id>/metrics.json),
// with figures chosen so the expected statistics are known: what the report tests read.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunMetrics } from '../../experiments/metrics.js';
import type { RunRecord, SweepState } from '../../experiments/sweep/state.js';

const MIB = 1024 * 1024;

interface FixtureRun {
  readonly cipher: string;
  readonly size: number;
  readonly placement: 'same-az' | 'cross-az';
  readonly repetition: number;
  readonly transferS: number;
  readonly ok?: boolean;
}

function metricsOf(run: FixtureRun, runId: string): RunMetrics {
  const dumpMs = 200 + run.size;
  const restoreMs = 150;
  const transferMs = run.transferS * 1000;
  const start = Date.parse('2026-11-26T03:00:00Z') + run.repetition * 60_000;
  const bytes = run.size * MIB * 1.05;
  const phase = (name: string, offsetMs: number, durationMs: number, on: string) => ({
    name,
    startedAt: new Date(start + offsetMs).toISOString(),
    durationMs,
    measuredOn: on,
  });
  const migrationMs = dumpMs + transferMs + restoreMs;
  return {
    experiment: 'fixture',
    runId,
    workload: 'memory',
    workloadParams: { mb_size: 64, interval: 0.2, max_memory: run.size },
    strategy: 'full',
    placement: run.placement,
    profile: run.placement,
    source: { name: 'n1', ip: '10.77.9.11' },
    destination: { name: run.placement === 'same-az' ? 'n2' : 'n3', ip: '10.77.9.12' },
    startedAt: new Date(start - 3000).toISOString(),
    phases: [
      phase('connect', -3000, 90, 'controller'),
      phase('dump', 0, dumpMs, 'n1'),
      phase('transfer.images+workdir', dumpMs, transferMs, 'n1'),
      phase('restore', dumpMs + transferMs, restoreMs, run.placement === 'same-az' ? 'n2' : 'n3'),
      phase('verify', migrationMs + 100, 400, 'controller'),
    ],
    dump: { durationMs: dumpMs, criuStats: { frozen_time: dumpMs * 900 }, imageBytes: bytes },
    transfer: { method: 'rsync', bytes, durationMs: transferMs, throughputMBps: bytes / MIB / run.transferS, steps: [] },
    restore: { durationMs: restoreMs, criuStats: { restore_time: 120_000 } },
    downtimeMs: migrationMs,
    migrationMs,
    deadlines: { aws: { deadlineS: 120, met: true }, gcp: { deadlineS: 30, met: migrationMs <= 30_000 } },
    totalDurationMs: migrationMs + 4000,
    verify: { ok: run.ok !== false, checks: [] },
    versions: { criu: '4.2.1' },
    outcome: run.ok === false ? 'failed' : 'ok',
    ...(run.ok === false ? { error: 'rsync: connection unexpectedly closed' } : {}),
  };
}

/** Transfer seconds per run: cross-AZ twice the same-AZ time, with a little spread. */
export const FIXTURE_TRANSFER_S: Record<string, readonly number[]> = {
  'same-az': [2.0, 2.2, 2.4],
  'cross-az': [4.0, 4.4, 4.8],
};

/** Writes a sweep of 2 ciphers × 2 sizes × 2 placements × 3 repetitions (one run failed) into `dir`. */
export function writeFixtureSweep(dir: string): SweepState {
  const runs: RunRecord[] = [];
  for (const cipher of ['aes128-gcm@openssh.com', 'chacha20-poly1305@openssh.com'])
    for (const size of [128, 256])
      for (const placement of ['same-az', 'cross-az'] as const)
        for (const repetition of [1, 2, 3]) {
          const cellKey = `${cipher.split('@')[0]}_${size}_${placement}`;
          const key = `${cellKey}-r${repetition}`;
          const runId = `memory_20261126_03${String(runs.length).padStart(2, '0')}00`;
          const ok = !(cipher.startsWith('chacha') && size === 256 && placement === 'cross-az' && repetition === 3);
          const transferS = (FIXTURE_TRANSFER_S[placement]![repetition - 1]! * size) / 128;
          const resultsDir = join(dir, 'runs', key, ok ? runId : `${runId}_failed`);
          mkdirSync(resultsDir, { recursive: true });
          const metrics = metricsOf({ cipher, size, placement, repetition, transferS, ok }, runId);
          writeFileSync(join(resultsDir, 'metrics.json'), JSON.stringify(metrics));
          runs.push({
            key,
            cellKey,
            cellLabel: `cipher=${cipher} max_memory=${size} placement=${placement} profile=${placement}`,
            repetition,
            settings: [
              { path: 'transfer.rsync.cipher', value: cipher },
              { path: 'workload.max_memory', value: size },
              { path: 'experiment.placement', value: placement },
              { path: 'experiment.profile', value: placement },
            ],
            status: ok ? 'ok' : 'failed',
            attempts: 1,
            durationMs: 9000,
            resultsDir,
            ...(ok ? {} : { error: 'rsync: connection unexpectedly closed' }),
          });
        }
  const state: SweepState = {
    name: 'fixture',
    specFile: join(dir, 'fixture.yaml'),
    createdAt: '2026-11-26T03:00:00Z',
    updatedAt: '2026-11-26T03:30:00Z',
    status: 'done',
    fresh: 'never',
    backend: 'lab',
    repetitions: 3,
    varying: ['transfer.rsync.cipher', 'workload.max_memory', 'experiment.placement', 'experiment.profile'],
    runs,
    links: [
      { profile: 'same-az', source: 'n1', destination: 'n2', mbitPerS: 478, measuredAt: '2026-11-26T03:00:00Z' },
      { profile: 'cross-az', source: 'n1', destination: 'n3', mbitPerS: 239, measuredAt: '2026-11-26T03:00:00Z' },
    ],
    curves: [],
    sessions: [],
  };
  writeFileSync(join(dir, 'sweep.json'), JSON.stringify(state, null, 2));
  return state;
}
