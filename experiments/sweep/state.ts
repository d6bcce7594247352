// sweep.json: the sweep's plan and the status of every run, rewritten atomically after every
// change, so a sweep killed at any moment resumes from it. samples.jsonl beside it holds the
// samples of every finished run, each tagged with the sweep and the run key.
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Sample } from '../metrics.js';
import type { CostRecord } from './budget.js';
import type { PlannedRun } from './expand.js';
import type { SweepPair } from './pairs.js';
import type { Setting, SweepSpec } from './spec.js';

export const SWEEP_FILE = 'sweep.json';
export const SAMPLES_FILE = 'samples.jsonl';

export type RunStatus = 'pending' | 'running' | 'ok' | 'failed';

export interface RunSummary {
  readonly migrationMs?: number;
  readonly downtimeMs?: number;
  readonly transferMBps?: number;
  readonly imageBytes?: number;
}

export interface RunRecord {
  readonly key: string;
  readonly cellKey: string;
  readonly cellLabel: string;
  readonly repetition: number;
  readonly settings: readonly Setting[];
  status: RunStatus;
  /** Attempts started, the one that finished included. */
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  /** The run's own results directory (metrics.json, logs of both nodes). */
  resultsDir?: string;
  error?: string;
  summary?: RunSummary;
  /** Attempts that were cut off (the sweep was killed) and redone, with what they left. */
  cutOff?: { readonly at: string; readonly resultsDir?: string; readonly pair?: string }[];
  /** The node pair of the latest attempt (source -> destination). */
  pair?: SweepPair;
  /** The lane whose infra the latest attempt ran on, or failed to bring up (sweeps on lanes). */
  lane?: number;
  /** The latest attempt failed before or outside the migration (a node unreachable, the link not shaped): the pair's fault, not the run's. */
  infraFailure?: boolean;
  /** On one host (the lab): the attempt overlapped in time with runs on other pairs, sharing this machine's CPUs. */
  overlap?: boolean;
  /** The runs it overlapped with. */
  overlapsWith?: string[];
}

/** How a sweep with `parallel` > 1 lays its runs on node pairs (absent for a sweep run one at a time). */
export interface SweepPairsInfo {
  readonly parallel: number;
  /** Nodes the sweep brought up (lab) or found (aws, none). */
  nodes: number;
  /** Why that many: `2 x parallel 2 for same-az` and the like. */
  nodesReason: string;
  /** Every node shares this machine (the lab): overlapping runs are marked `overlap`. */
  readonly hostShared: boolean;
  /** The pairs the scheduler hands out. */
  pairs: SweepPair[];
  /** Pairs taken out after an infrastructure failure in the latest session. */
  retired: string[];
}

/** How a sweep on lanes (experiments/sweep/lanes.ts) laid its cells; absent without lanes. */
export interface SweepLanesInfo {
  readonly parallel: number;
  /** Lanes the latest session used: 0 .. lanes-1. */
  readonly lanes: number;
  /** Where each lane keeps its files: `<dir>/<lane>/`. */
  readonly dir: string;
  /** Lanes taken out in the latest session after their infra failed to come up. */
  retired: number[];
}

export interface LinkMeasurement {
  readonly profile: string | undefined;
  readonly source: string;
  readonly destination: string;
  /** iperf3, one TCP flow, as received. */
  readonly mbitPerS: number;
  readonly measuredAt: string;
}

export interface DeadlineCurvePoint {
  readonly cellKey: string;
  readonly cellLabel: string;
  readonly deadlineS: number;
  /** The largest size that met the deadline in every repetition; undefined when even `low` missed it. */
  readonly maxSize: number | undefined;
  /** `within`: bracketed to the resolution; `above-high`: even `high` met it; `below-low`: `low` missed it. */
  readonly bound: 'within' | 'above-high' | 'below-low';
  readonly probes: readonly { readonly size: number; readonly met: boolean; readonly worstMigrationMs: number | undefined }[];
}

/** The estimate (`criu-lab sweep --estimate`) as it stood when the sweep first started, to hold the actual figures against. */
export interface EstimateRecord {
  readonly at: string;
  readonly runs: number;
  readonly pairs: number;
  readonly wallMs: number;
  /** undefined off AWS: the lab costs nothing to criu-lab. */
  readonly usd: number | undefined;
  readonly market: string | undefined;
  readonly ratePerHourUsd: number;
  readonly model: string;
  /** The price table and its date, when priced. */
  readonly prices: string | undefined;
}

export interface SweepState {
  readonly name: string;
  readonly specFile: string;
  readonly createdAt: string;
  updatedAt: string;
  status: 'running' | 'interrupted' | 'done';
  readonly fresh: SweepSpec['fresh'];
  readonly backend: SweepSpec['infra']['backend'];
  readonly repetitions: number;
  readonly varying: readonly string[];
  readonly deadline?: SweepSpec['deadline'];
  runs: RunRecord[];
  links: LinkMeasurement[];
  curves: DeadlineCurvePoint[];
  /** Parallel pairs: set when `parallel` > 1. */
  pairs?: SweepPairsInfo;
  /** Lanes: set when `fresh: per-cell` runs cells at once, each on infra of its own. */
  lanes?: SweepLanesInfo;
  /** Every session that worked on the sweep: when, and what it found to skip or redo. */
  sessions: { readonly startedAt: string; readonly skipped: number; readonly redone: readonly string[]; endedAt?: string }[];
  estimate?: EstimateRecord;
  /** What the infra has cost so far (elapsed up × rate), every session together. */
  cost?: CostRecord;
}

export class SweepStore {
  private constructor(
    readonly dir: string,
    readonly state: SweepState,
  ) {}

  /** Opens the sweep's state, creating it on the first run; runs the spec names and the state lacks are added as pending. */
  static async open(spec: SweepSpec, planned: readonly PlannedRun[]): Promise<SweepStore> {
    await mkdir(join(spec.dir, 'runs'), { recursive: true });
    const path = join(spec.dir, SWEEP_FILE);
    const now = new Date().toISOString();
    const state: SweepState = existsSync(path)
      ? (JSON.parse(await readFile(path, 'utf8')) as SweepState)
      : {
          name: spec.name,
          specFile: spec.file,
          createdAt: now,
          updatedAt: now,
          status: 'running',
          fresh: spec.fresh,
          backend: spec.infra.backend,
          repetitions: spec.repetitions,
          varying: [...spec.matrix, ...spec.zip].map((a) => a.path),
          ...(spec.deadline ? { deadline: spec.deadline } : {}),
          runs: [],
          links: [],
          curves: [],
          sessions: [],
        };
    const store = new SweepStore(spec.dir, state);
    for (const run of planned) store.plan(run);
    return store;
  }

  get path(): string {
    return join(this.dir, SWEEP_FILE);
  }

  get samplesPath(): string {
    return join(this.dir, SAMPLES_FILE);
  }

  /** Where a run's results directory goes: one folder per run key, so a cut-off attempt is found again. */
  runsDir(key: string): string {
    return join(this.dir, 'runs', key);
  }

  /** The record of a run, added as pending when new. */
  plan(run: PlannedRun): RunRecord {
    const known = this.state.runs.find((r) => r.key === run.key);
    if (known) return known;
    const record: RunRecord = {
      key: run.key,
      cellKey: run.cell.key,
      cellLabel: run.cell.label,
      repetition: run.repetition,
      settings: run.settings,
      status: 'pending',
      attempts: 0,
    };
    this.state.runs.push(record);
    return record;
  }

  find(key: string): RunRecord | undefined {
    return this.state.runs.find((r) => r.key === key);
  }

  /** Writes to sweep.json and samples.jsonl one after another: runs on parallel pairs save at any moment. */
  private writes: Promise<unknown> = Promise.resolve();

  private serially(write: () => Promise<void>): Promise<void> {
    const next = this.writes.then(write, write);
    this.writes = next.catch(() => undefined);
    return next;
  }

  save(): Promise<void> {
    return this.serially(async () => {
      this.state.updatedAt = new Date().toISOString();
      const partial = `${this.path}.tmp`;
      await writeFile(partial, `${JSON.stringify(this.state, null, 2)}\n`);
      await rename(partial, this.path);
    });
  }

  appendSamples(samples: readonly Sample[]): Promise<void> {
    return this.serially(async () => {
      if (samples.length > 0) await appendFile(this.samplesPath, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
    });
  }

  /**
   * Drops the samples of runs that did not finish (a kill between appending and saving), so a
   * redone run's samples appear once.
   */
  async pruneSamples(): Promise<void> {
    if (!existsSync(this.samplesPath)) return;
    const finished = new Set(this.state.runs.filter((r) => r.status === 'ok' || r.status === 'failed').map((r) => r.key));
    const lines = (await readFile(this.samplesPath, 'utf8')).split('\n').filter(Boolean);
    const kept = lines.filter((line) => finished.has(String((JSON.parse(line) as Sample).metadata['sweep_run'])));
    if (kept.length !== lines.length) await writeFile(this.samplesPath, kept.length > 0 ? `${kept.join('\n')}\n` : '');
  }
}
