// Runs a sweep: every planned run not finished yet, on infra as fresh as the spec asks, each
// an ordinary migration with its own results dir; records each in sweep.json and appends its
// samples to the sweep's samples.jsonl. A failed run is recorded and the sweep goes on; an
// interrupted one is left pending, so rerunning the same command redoes it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { cleanNode } from '../cleanup.js';
import { loadPlan } from '../config/load.js';
import type { Plan } from '../config/plan.js';
import { AbortedError, UsageError, renderError } from '../../core/errors.js';
import { samplesOf, type RunMetrics } from '../metrics.js';
import { runMigration } from '../pipeline.js';
import { runPaths } from '../transfers/registry.js';
import { bisectLargestMeeting, maxProbes, type ProbeResult } from './bisect.js';
import type { Registry } from '../../core/registry.js';
import type { BackendFactory, SweepBackend } from './backends/backend.js';
import type { CostMeter } from './budget.js';
import { connectPlanNode } from '../remote/connect.js';
import { cellsOf, runKey, runsOf, type Cell, type PlannedRun } from './expand.js';
import { measureRawLink } from './link.js';
import type { SweepProgress } from './progress.js';
import type { Setting, SweepSpec } from './spec.js';
import { SweepStore, type EstimateRecord, type RunRecord, type SweepPairsInfo, type SweepState } from './state.js';
import { UnreachableNodeError } from '../remote/ssh.js';
import { LANES_DIR, lanesFor, shouldRetireLane, staleLanes, usesLanes } from './lanes.js';
import {
  assignPairs,
  candidatePairs,
  labNodesFor,
  overlapsOf,
  pairOf,
  placementsOf,
  shouldRetire,
  usablePairs,
  type NodeRef,
  type PairView,
  type QueuedRun,
  type SweepPair,
} from './pairs.js';

export interface SweepOptions {
  readonly projectRoot: string;
  readonly signal: AbortSignal;
  readonly progress: SweepProgress;
  /** The infrastructures a sweep can use, by name (wired by the command line: backends/registry.ts). */
  readonly backends: Registry<BackendFactory>;
  /** Run again the runs that failed in an earlier session. @default false: a failed run is a result */
  readonly retryFailed?: boolean;
  /** Elapsed × rate of the infra while up; with a budget, no run is launched once it is reached. @default - not metered */
  readonly cost?: CostMeter;
  /** Recorded in sweep.json when the sweep first starts. @default - none */
  readonly estimate?: EstimateRecord;
}

export interface SweepOutcome {
  readonly state: SweepState;
  readonly dir: string;
  /** Runs finished in earlier sessions and not run again. */
  readonly skipped: number;
  /** Runs cut off in an earlier session and run again in this one. */
  readonly redone: readonly string[];
  readonly ranNow: number;
  readonly interrupted: boolean;
  /** What `fresh: never` left running. */
  readonly leftUp: string | undefined;
}

const finished = (r: RunRecord) => r.status === 'ok' || r.status === 'failed';
/** A run this session runs: not finished, or failed and retried. */
const toRun = (r: RunRecord, retryFailed: boolean | undefined) => !finished(r) || (retryFailed === true && r.status === 'failed');

/** The plan with its nodes set to the pair the scheduler handed the run. */
export function onPair(plan: Plan, pair: SweepPair): Plan {
  return {
    ...plan,
    experiment: { ...plan.experiment, placement: pair.placement },
    nodes: { ...plan.nodes, source: pair.source, destination: pair.destination },
  };
}

/** A node not answering: the pair's fault, not the run's. */
export function isInfraError(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause)
    if (e instanceof UnreachableNodeError || /^cannot reach the (source|destination) node|^cannot reach the bastion/.test(e.message)) return true;
  return false;
}

/** The nodes of servers.yaml's all_nodes, by zone. */
function zonesOf(serversPath: string): Record<string, NodeRef[]> {
  if (!existsSync(serversPath)) return {};
  const doc = (parseYaml(readFileSync(serversPath, 'utf8')) ?? {}) as { all_nodes?: Record<string, NodeRef[]> };
  return Object.fromEntries(Object.entries(doc.all_nodes ?? {}).map(([zone, nodes]) => [zone, nodes.map((n) => ({ ip: n.ip, name: n.name }))]));
}

/** The run id a cut-off attempt left: the one folder under the run's results dir. */
function cutOffRunDir(store: SweepStore, key: string): string | undefined {
  const dir = store.runsDir(key);
  if (!existsSync(dir)) return undefined;
  const attempts = readdirSync(dir).sort();
  return attempts.length > 0 ? join(dir, attempts[attempts.length - 1]!) : undefined;
}

class SweepSession {
  private up = false;
  /** A fresh sweep starts by removing whatever an earlier, killed session left up; so does a failed up, which may have left half. */
  private leftovers: boolean;
  /** The cost meter counts this session's infra as up (from the start of up until a down succeeds). */
  private metered = false;
  private ranNow = 0;
  readonly redone: string[] = [];

  constructor(
    private readonly spec: SweepSpec,
    private readonly store: SweepStore,
    private readonly backend: SweepBackend,
    private readonly options: SweepOptions,
    private readonly total: () => { total: number; bound: boolean },
    /** The lane whose infra this session brings up (lanes.ts); undefined for the sweep's one infra. */
    private readonly lane?: number,
    /** Runs started and not settled, for the `run i of n` header; shared by the lanes' sessions. */
    private readonly inFlight = new Set<string>(),
  ) {
    this.leftovers = spec.fresh !== 'never';
  }

  get runsThisSession(): number {
    return this.ranNow;
  }

  private get infraName(): string {
    return `${this.backend.name}${this.lane === undefined ? '' : ` lane ${this.lane}`}`;
  }

  private async ensureUp(): Promise<void> {
    if (this.up) return;
    if (!this.metered) this.options.cost?.infraUp();
    this.metered = true;
    try {
      await this.options.progress.track(`${this.infraName} up`, () => this.backend.up());
    } catch (error) {
      this.leftovers = true;
      throw error;
    }
    this.up = true;
  }

  private async ensureDown(): Promise<void> {
    if (!this.up && !this.leftovers) return;
    this.up = false;
    this.leftovers = false;
    await this.options.progress.track(`${this.infraName} down (fresh: ${this.spec.fresh})`, () => this.backend.down());
    if (this.metered) this.options.cost?.infraDown();
    this.metered = false;
  }

  /** Runs `work` for one cell; with `fresh: per-cell` the infra is new for it and gone after it. */
  async inCell<T>(work: () => Promise<T>): Promise<T> {
    if (this.spec.fresh !== 'per-cell') return work();
    await this.ensureDown();
    try {
      return await work();
    } finally {
      await this.ensureDown();
    }
  }

  /**
   * One cell on this session's lane: its infra brought up for the cell and removed after it. A
   * failed up fails the cell's runs (recorded as infrastructure failures, run again by a later
   * session like any failed run with --retry-failed) and only them; returns whether it came up.
   */
  async cellOnLane(pending: readonly PlannedRun[]): Promise<boolean> {
    for (const run of pending) this.store.plan(run).lane = this.lane;
    return this.inCell(async () => {
      this.meterBeforeRun(); // no deploy once the budget is reached
      try {
        await this.ensureUp();
      } catch (error) {
        if (this.options.signal.aborted || error instanceof AbortedError || error instanceof UsageError) throw error;
        for (const run of pending) await this.settle(this.store.plan(run), Date.now(), { error, infra: true });
        return false;
      }
      await this.runAll(pending);
      return true;
    });
  }

  /** Leaves the infra as the policy says once the sweep stops: only `never` keeps it. */
  async finish(): Promise<string | undefined> {
    if (this.spec.fresh === 'never') return this.up ? this.backend.describe() : undefined;
    await this.ensureDown();
    return undefined;
  }

  private loadRunPlan(planned: PlannedRun): Plan {
    const overrides = [...planned.settings, { path: 'experiment.results_dir', value: this.store.runsDir(planned.key) }].map((s: Setting) => ({
      path: s.path,
      value: s.value,
      flag: `sweep ${this.spec.name} (${s.path})`,
    }));
    return loadPlan({ projectRoot: this.options.projectRoot, configFile: this.spec.experiment, serversFile: this.backend.serversPath, overrides }).plan;
  }

  private async measureLinkOnce(plan: Plan): Promise<void> {
    if (!this.spec.measureLink) return;
    const { profile } = plan.experiment;
    const [source, destination] = [plan.nodes.source.name, plan.nodes.destination.name];
    if (this.store.state.links.some((l) => l.profile === profile && l.source === source && l.destination === destination)) return;
    try {
      const mbitPerS = await this.options.progress.track(`raw link ${source} → ${destination} (iperf3)`, () => measureRawLink(plan, this.options.signal));
      this.store.state.links.push({ profile, source, destination, mbitPerS, measuredAt: new Date().toISOString() });
      this.options.progress.note(`  raw link ${source} → ${destination}${profile ? ` (profile ${profile})` : ''}: ${mbitPerS.toFixed(0)} Mbit/s`);
      await this.store.save();
    } catch (error) {
      if (this.options.signal.aborted) throw new AbortedError();
      this.options.progress.note(`  warning: the raw link was not measured: ${(error as Error).message.split('\n')[0]}`);
    }
  }

  /** Kills what a cut-off attempt left on the nodes (a frozen process, images) before the run is redone. */
  private async cleanCutOff(plan: Plan, record: RunRecord): Promise<void> {
    const dir = record.cutOff?.at(-1)?.resultsDir;
    if (!dir || this.spec.fresh !== 'never') return;
    const runId = dir
      .split('/')
      .at(-1)!
      .replace(/_(failed|exception)$/, '');
    const paths = runPaths(plan, runId);
    for (const role of ['source', 'destination'] as const) {
      const node = await connectPlanNode(plan, role).catch(() => undefined);
      if (!node) continue;
      await cleanNode(node, runId, paths).catch(() => undefined);
      await node.close();
    }
  }

  /** Runs one planned run unless it is finished already; returns its record. */
  async execute(planned: PlannedRun): Promise<RunRecord> {
    const record = this.store.plan(planned);
    if (!toRun(record, this.options.retryFailed)) return record;
    if (this.options.signal.aborted) throw new AbortedError();
    this.meterBeforeRun();
    if (this.spec.fresh === 'per-run') await this.ensureDown();
    try {
      return await this.attempt(planned, record);
    } finally {
      if (this.spec.fresh === 'per-run') await this.ensureDown();
    }
  }

  /** Records the running cost and stops here, the run left pending, once the budget is reached. */
  private meterBeforeRun(): void {
    const cost = this.options.cost;
    if (!cost) return;
    try {
      cost.checkBeforeRun();
    } finally {
      this.store.state.cost = cost.record();
    }
  }

  /**
   * Runs the planned runs not finished yet: one after another, or with `parallel` > 1 up to N at
   * once, each on a free pair of its placement. Returns their records in the given order; a cut-off
   * (Ctrl-C) waits for every run in flight to record itself pending, then throws AbortedError.
   */
  async runAll(planned: readonly PlannedRun[]): Promise<RunRecord[]> {
    if (this.spec.parallel <= 1) {
      const records: RunRecord[] = [];
      for (const run of planned) records.push(await this.execute(run));
      return records;
    }
    const todo = planned.filter((run) => toRun(this.store.plan(run), this.options.retryFailed));
    if (todo.length > 0) await this.runOnPairs(todo);
    return planned.map((run) => this.store.find(run.key)!);
  }

  /** The pairs of the nodes that are up, once per session; recorded in sweep.json. */
  private async pairs(): Promise<SweepPairsInfo> {
    const state = this.store.state;
    const zones = zonesOf(this.backend.serversPath);
    const pairs = candidatePairs(zones);
    const nodes = Object.values(zones).reduce((total, list) => total + list.length, 0);
    state.pairs = {
      parallel: this.spec.parallel,
      nodes,
      nodesReason: this.nodesReason,
      hostShared: this.spec.infra.backend === 'lab',
      pairs,
      retired: [...this.retired],
    };
    await this.store.save();
    return state.pairs;
  }

  private nodesReason = '';

  /** Says why the backend brings up as many nodes as it does (set by runSweep). */
  setNodesReason(reason: string): void {
    this.nodesReason = reason;
  }

  private readonly retired: string[] = [];

  private async runOnPairs(todo: readonly PlannedRun[]): Promise<void> {
    const { signal } = this.options;
    if (signal.aborted) throw new AbortedError();
    try {
      await this.ensureUp();
    } catch (error) {
      // A stack too small for the pairs (aws) is the sweep file's fault: nothing runs.
      if (signal.aborted || error instanceof AbortedError || error instanceof UsageError) throw error;
      for (const run of todo) await this.settle(this.store.plan(run), Date.now(), { error });
      return;
    }
    const info = await this.pairs();
    const waiting: { planned: PlannedRun; record: RunRecord; plan: Plan; queued: QueuedRun }[] = [];
    for (const planned of todo) {
      const record = this.store.plan(planned);
      let plan: Plan;
      try {
        plan = this.loadRunPlan(planned);
      } catch (error) {
        await this.settle(record, Date.now(), { error });
        continue;
      }
      const placement = plan.experiment.placement;
      const zoned = placement !== undefined && info.pairs.some((p) => p.placement === placement);
      const queued: QueuedRun = { key: planned.key, placement, ...(zoned ? {} : { fixed: pairOf(plan.nodes.source, plan.nodes.destination, placement) }) };
      waiting.push({ planned, record, plan, queued });
    }
    for (const placement of new Set(waiting.filter((w) => !w.queued.fixed).map((w) => w.queued.placement))) {
      const have = info.pairs.filter((p) => p.placement === placement).length;
      if (have < this.spec.parallel)
        this.options.progress.note(
          `  ${this.backend.serversPath} has ${have} ${placement} pair${have === 1 ? '' : 's'}: those runs go ${have} at a time, not ${this.spec.parallel}`,
        );
    }
    const running = new Map<string, { pair: SweepPair; done: Promise<unknown> }>();
    // An error that is not a run's result (the budget reached, sweep.json not writable, a bug): no new runs, rethrown once the others end.
    const broken: unknown[] = [];
    const view = (): PairView => ({ pairs: info.pairs, parallel: this.spec.parallel, busy: [...running.values()].map((r) => r.pair), retired: this.retired });
    while (waiting.length > 0 || running.size > 0) {
      if (!signal.aborted && broken.length === 0) {
        for (const w of [...waiting])
          if (usablePairs(view(), w.queued).length === 0) {
            waiting.splice(waiting.indexOf(w), 1);
            const error = new Error(
              `no working ${w.queued.placement ?? ''} pair left: ${this.retired.join(', ')} taken out after infrastructure failures in this session; rerun with --retry-failed once the nodes are back`,
            );
            await this.settle(w.record, Date.now(), { error, infra: true });
          }
        for (const { key, pair } of assignPairs(
          view(),
          waiting.map((w) => w.queued),
        )) {
          try {
            this.meterBeforeRun();
          } catch (error) {
            broken.push(error); // the budget is reached: the runs not launched stay pending
            break;
          }
          const w = waiting.splice(
            waiting.findIndex((x) => x.queued.key === key),
            1,
          )[0]!;
          const done = this.attempt(w.planned, w.record, { plan: onPair(w.plan, pair), pair })
            .catch((error: unknown) => {
              if (!(error instanceof AbortedError)) broken.push(error);
            })
            .finally(() => running.delete(key));
          running.set(key, { pair, done });
        }
      }
      if (running.size === 0) break;
      await Promise.race([...running.values()].map((r) => r.done));
    }
    if (signal.aborted) throw new AbortedError();
    if (broken.length > 0) throw broken[0];
  }

  private async attempt(planned: PlannedRun, record: RunRecord, assigned?: { plan: Plan; pair: SweepPair }): Promise<RunRecord> {
    this.inFlight.add(record.key);
    try {
      return await this.attemptOnce(planned, record, assigned);
    } finally {
      this.inFlight.delete(record.key);
    }
  }

  private async attemptOnce(planned: PlannedRun, record: RunRecord, assigned?: { plan: Plan; pair: SweepPair }): Promise<RunRecord> {
    const { store, options } = this;
    const started = Date.now();
    const { total, bound } = this.total();
    const done = store.state.runs.filter(finished);
    const progress = options.progress.startRun(
      {
        index: done.length + this.inFlight.size,
        total,
        totalIsBound: bound,
        key: record.key,
        label: `${record.cellLabel}${this.lane === undefined ? '' : ` · lane ${this.lane}`}${assigned ? ` · pair ${assigned.pair.id}` : ''}`,
        repetition: record.repetition,
        repetitions: this.spec.repetitions,
      },
      done.map((r) => r.durationMs ?? 0).filter((d) => d > 0),
      Math.ceil((total - done.length) / Math.max(1, this.spec.parallel)),
    );
    let plan: Plan;
    // A cut-off attempt is cleaned up on the pair it ran on.
    const previous = record.pair;
    try {
      if (assigned) {
        plan = assigned.plan;
        record.pair = assigned.pair;
      } else {
        await this.ensureUp();
        plan = this.loadRunPlan(planned);
        record.pair = pairOf(plan.nodes.source, plan.nodes.destination, plan.experiment.placement);
      }
      await this.cleanCutOff(previous && previous.id !== record.pair.id ? onPair(plan, previous) : plan, record);
      await this.backend.prepareRun(plan);
      await this.measureLinkOnce(plan);
    } catch (error) {
      if (options.signal.aborted || error instanceof AbortedError) throw error;
      return this.settle(record, started, { error, infra: assigned !== undefined });
    }
    record.status = 'running';
    record.attempts += 1;
    record.startedAt = new Date(started).toISOString();
    delete record.finishedAt;
    await store.save();
    this.ranNow += 1;
    let metrics: RunMetrics | undefined;
    let resultsDir: string | undefined;
    let error: unknown;
    try {
      ({ metrics, resultsDir } = await runMigration(plan, { signal: options.signal, progress }));
    } catch (caught) {
      error = caught;
      ({ metrics, resultsDir } = caught as { metrics?: RunMetrics; resultsDir?: string });
    }
    if (options.signal.aborted) {
      // Cut off: not a result. Left pending, so the next session redoes it.
      record.status = 'pending';
      (record.cutOff ??= []).push({ at: new Date().toISOString(), ...(resultsDir ? { resultsDir } : {}), ...(record.pair ? { pair: record.pair.id } : {}) });
      await store.save();
      throw new AbortedError();
    }
    return this.settle(record, started, { error, metrics, resultsDir, infra: error !== undefined && isInfraError(error) });
  }

  /** Marks the runs that overlapped in time on other pairs, when every pair shares this host. */
  private markOverlaps(): void {
    const runs = this.store.state.runs;
    if (!this.store.state.pairs?.hostShared) return;
    const overlaps = overlapsOf(runs);
    for (const run of runs) {
      const others = overlaps.get(run.key);
      if (others) {
        run.overlap = true;
        run.overlapsWith = others;
      } else if (run.status !== 'pending') {
        delete run.overlap;
        delete run.overlapsWith;
      }
    }
  }

  private async settle(
    record: RunRecord,
    startedMs: number,
    result: { error?: unknown; metrics?: RunMetrics; resultsDir?: string; infra?: boolean },
  ): Promise<RunRecord> {
    const { metrics, resultsDir, error } = result;
    const ok = error === undefined && metrics?.outcome === 'ok';
    record.status = ok ? 'ok' : 'failed';
    record.finishedAt = new Date().toISOString();
    record.durationMs = Date.now() - startedMs;
    if (resultsDir) record.resultsDir = resultsDir;
    if (ok) delete record.error;
    else
      record.error =
        error === undefined ? (metrics?.error ?? `outcome ${metrics?.outcome ?? 'unknown'}`) : renderError(error).text.split('\n').slice(0, 6).join('\n');
    if (result.infra && !ok) {
      record.infraFailure = true;
      const pair = record.pair;
      const pairs = this.store.state.pairs;
      if (pair && pairs && !this.retired.includes(pair.id) && shouldRetire({ pairs: pairs.pairs, retired: this.retired }, pair)) {
        this.retired.push(pair.id);
        pairs.retired = [...this.retired];
        this.options.progress.note(`  pair ${pair.id} taken out for this session after an infrastructure failure; the other pairs go on`);
      }
    } else delete record.infraFailure;
    if (metrics)
      record.summary = {
        ...(metrics.migrationMs !== undefined ? { migrationMs: metrics.migrationMs } : {}),
        ...(metrics.downtimeMs !== undefined ? { downtimeMs: metrics.downtimeMs } : {}),
        ...(metrics.transfer ? { transferMBps: metrics.transfer.throughputMBps } : {}),
        ...(metrics.dump ? { imageBytes: metrics.dump.imageBytes } : {}),
      };
    if (metrics) {
      const tag = {
        sweep: this.spec.name,
        sweep_run: record.key,
        sweep_cell: record.cellKey,
        repetition: record.repetition,
        ...(record.pair ? { pair: record.pair.id } : {}),
        ...(record.lane === undefined ? {} : { lane: record.lane }),
      };
      await this.store.appendSamples(samplesOf(metrics).map((s) => ({ ...s, metadata: { ...s.metadata, ...tag } })));
    }
    this.markOverlaps();
    await this.store.save();
    const on = this.lane !== undefined ? ` on lane ${this.lane}` : record.pair && this.spec.parallel > 1 ? ` on ${record.pair.id}` : '';
    this.options.progress.note(
      ok ? `  run ${record.key}${on}: ok` : `  run ${record.key}${on}: FAILED (recorded; the sweep goes on): ${record.error?.split('\n')[0]}`,
    );
    return record;
  }
}

/**
 * The spec the backend brings up: with `parallel` > 1 on the lab, enough nodes for N disjoint
 * pairs of every placement the sweep uses (never fewer than infra.lab.nodes); and why, for sweep.json.
 */
export function withPairNodes(spec: SweepSpec): { spec: SweepSpec; reason: string } {
  if (spec.parallel <= 1) return { spec, reason: '' };
  if (spec.infra.backend !== 'lab') return { spec, reason: `the nodes of ${spec.infra.backend === 'aws' ? spec.infra.aws.config : 'servers.yaml'}` };
  const placements = placementsOf(spec);
  const needed = labNodesFor(spec.parallel, placements) ?? spec.infra.lab.nodes;
  const nodes = Math.max(needed, spec.infra.lab.nodes);
  const what = placements.length > 0 ? placements.join(' and ') : 'same-az and cross-az (no placement named)';
  const reason = `${needed} nodes give ${spec.parallel} disjoint ${what} pairs${nodes > needed ? `; infra.lab.nodes asks for ${nodes}` : ''}`;
  return { spec: { ...spec, infra: { ...spec.infra, lab: { ...spec.infra.lab, nodes } } }, reason };
}

/** What one size of a bisection gives: every repetition run, met when all met the deadline. */
async function probeSize(session: SweepSession, spec: SweepSpec, cell: Cell, size: number, deadlineS: number): Promise<ProbeResult> {
  const sizeSetting = { path: spec.deadline!.sizePath, value: size };
  const planned = Array.from({ length: spec.repetitions }, (_, i): PlannedRun => ({
    key: runKey(cell, i + 1, sizeSetting),
    cell: { ...cell, label: `${cell.label} ${sizeSetting.path.split('.').at(-1)}=${size}`.trim() },
    repetition: i + 1,
    settings: [...spec.settings, ...cell.varying, sizeSetting],
  }));
  // With parallel pairs, the repetitions of one probe run at once.
  const records = await session.runAll(planned);
  const times = records.map((r) => (r.status === 'ok' ? r.summary?.migrationMs : undefined));
  const met = times.every((t) => t !== undefined && t <= deadlineS * 1000);
  return { met, worstMigrationMs: times.some((t) => t === undefined) ? undefined : Math.max(...(times as number[])) };
}

/** How a session goes over the cells: one infra in turn, or lanes. */
interface CellRunner {
  run(): Promise<void>;
  /** Leaves the infra as the policy says; what is left up, for the closing message. */
  finish(): Promise<string | undefined>;
  readonly runsThisSession: number;
}

/** The cells on the sweep's one infra: one after another, or every run at once on its pairs with `fresh: never`. */
function inTurn(session: SweepSession, spec: SweepSpec, store: SweepStore, options: SweepOptions): CellRunner {
  const run = async () => {
    if (!spec.deadline && spec.parallel > 1 && spec.fresh === 'never') {
      // One set of nodes for the whole sweep: runs of every cell share the pairs.
      await session.runAll(runsOf(spec));
      return;
    }
    for (const cell of cellsOf(spec)) {
      if (spec.deadline) {
        const search = spec.deadline;
        await session.inCell(async () => {
          for (const deadlineS of search.deadlinesS) {
            const result = await bisectLargestMeeting(search, (size) => probeSize(session, spec, cell, size, deadlineS));
            store.state.curves = [
              ...store.state.curves.filter((c) => !(c.cellKey === cell.key && c.deadlineS === deadlineS)),
              { cellKey: cell.key, cellLabel: cell.label, deadlineS, ...result },
            ];
            await store.save();
          }
        });
      } else {
        const pending = runsOf(spec).filter((r) => r.cell.key === cell.key && toRun(store.find(r.key)!, options.retryFailed));
        if (pending.length > 0) await session.inCell(() => session.runAll(pending));
      }
    }
  };
  return {
    run,
    finish: () => session.finish(),
    get runsThisSession() {
      return session.runsThisSession;
    },
  };
}

/** The lanes an earlier session left folders for. */
function laneFolders(spec: SweepSpec): number[] {
  const dir = join(spec.dir, LANES_DIR);
  return existsSync(dir)
    ? readdirSync(dir)
        .filter((name) => /^\d+$/.test(name))
        .map(Number)
    : [];
}

/**
 * The cells on lanes (lanes.ts): up to `parallel` at once, each on its lane's own infra, brought up
 * for the cell and removed after it while the other lanes run theirs. A lane whose infra fails to
 * come up fails that cell's runs only and, while another lane takes cells, takes no further one.
 */
class LanePool implements CellRunner {
  private readonly sessions: SweepSession[];
  private readonly retired: number[] = [];

  constructor(
    private readonly spec: SweepSpec,
    private readonly store: SweepStore,
    private readonly createLane: (lane: number) => SweepBackend,
    private readonly options: SweepOptions,
    total: () => { total: number; bound: boolean },
    /** The runs of each cell with any to run, in the sweep's order. */
    private readonly cells: readonly (readonly PlannedRun[])[],
  ) {
    const inFlight = new Set<string>();
    // A lane holds one pair per placement and a cell uses one placement: its runs go one at a time.
    const laneSpec = { ...spec, parallel: 1 };
    this.sessions = lanesFor(spec.parallel, cells.length).map((lane) => new SweepSession(laneSpec, store, createLane(lane), options, total, lane, inFlight));
  }

  get runsThisSession(): number {
    return this.sessions.reduce((sum, session) => sum + session.runsThisSession, 0);
  }

  async run(): Promise<void> {
    const { signal, progress } = this.options;
    const lanes = this.sessions.map((_, lane) => lane);
    for (const lane of staleLanes(laneFolders(this.spec), lanes))
      await progress.track(`lane ${lane} down (left by an earlier session)`, () => this.createLane(lane).down());
    const info = { parallel: this.spec.parallel, lanes: lanes.length, dir: join(this.spec.dir, LANES_DIR), retired: this.retired };
    this.store.state.lanes = info;
    await this.store.save();
    const queue = [...this.cells];
    // An error that is not a run's result (the budget reached, a teardown failed, a bug): no new cells, rethrown once the others end.
    const broken: unknown[] = [];
    const work = async (session: SweepSession, lane: number) => {
      while (!signal.aborted && broken.length === 0) {
        const cell = queue.shift();
        if (!cell) return;
        try {
          if (await session.cellOnLane(cell)) continue;
        } catch (error) {
          broken.push(error);
          return;
        }
        if (shouldRetireLane(lanes, this.retired, lane)) {
          this.retired.push(lane);
          progress.note(`  lane ${lane} taken out for this session: its infra did not come up; the other lanes take the cells left`);
          await this.store.save();
          return;
        }
      }
    };
    await Promise.all(this.sessions.map(work));
    if (broken.length > 0) throw broken.find((error) => !(error instanceof AbortedError)) ?? broken[0];
    if (signal.aborted) throw new AbortedError();
  }

  /** Every lane down: each removed its infra after its cell; this catches a lane that never took one. */
  async finish(): Promise<string | undefined> {
    const left = await Promise.all(this.sessions.map((session) => session.finish().catch((error: Error) => `teardown failed: ${error.message}`)));
    return left.filter(Boolean).join('\n') || undefined;
  }
}

export async function runSweep(spec: SweepSpec, options: SweepOptions): Promise<SweepOutcome> {
  const planned = spec.deadline ? [] : runsOf(spec);
  const store = await SweepStore.open(spec, planned);
  const state = store.state;
  const skipped = state.runs.filter((r) => finished(r) && !(options.retryFailed && r.status === 'failed')).length;
  const cutOff = state.runs.filter((r) => r.status === 'running');
  for (const record of cutOff) {
    // Killed without a chance to record it (SIGKILL, a crash): redo it.
    record.status = 'pending';
    const left = cutOffRunDir(store, record.key);
    (record.cutOff ??= []).push({ at: state.updatedAt, ...(left ? { resultsDir: left } : {}), ...(record.pair ? { pair: record.pair.id } : {}) });
  }
  const redone = state.runs.filter((r) => r.status === 'pending' && (r.cutOff?.length ?? 0) > 0).map((r) => r.key);
  const thisSession: SweepState['sessions'][number] = { startedAt: new Date().toISOString(), skipped, redone };
  state.sessions.push(thisSession);
  if (options.estimate && !state.estimate) state.estimate = options.estimate;
  state.status = 'running';
  await store.pruneSamples();
  await store.save();
  if (skipped > 0 || redone.length > 0)
    options.progress.note(
      `sweep ${spec.name}: resuming; ${skipped} finished run${skipped === 1 ? '' : 's'} skipped${redone.length > 0 ? `, redoing ${redone.join(', ')} (cut off)` : ''}`,
    );

  const cells = cellsOf(spec);
  const total = () =>
    spec.deadline
      ? { total: Math.max(state.runs.length, cells.length * spec.deadline.deadlinesS.length * maxProbes(spec.deadline) * spec.repetitions), bound: true }
      : { total: state.runs.length, bound: false };
  const factory = options.backends.get(spec.infra.backend);
  const createLane = usesLanes(spec) ? factory.createLane : undefined;
  let runner: CellRunner;
  if (createLane) {
    const byCell = cells.map((cell) => planned.filter((r) => r.cell.key === cell.key && toRun(store.find(r.key)!, options.retryFailed)));
    runner = new LanePool(
      spec,
      store,
      (lane) => createLane(spec, lane),
      options,
      total,
      byCell.filter((runs) => runs.length > 0),
    );
  } else {
    const { spec: infraSpec, reason } = withPairNodes(spec);
    const session = new SweepSession(spec, store, factory.create(infraSpec), options, total);
    session.setNodesReason(reason);
    runner = inTurn(session, spec, store, options);
  }
  let interrupted = false;
  let leftUp: string | undefined;
  try {
    await runner.run();
    state.status = 'done';
  } catch (error) {
    if (!(error instanceof AbortedError) && !options.signal.aborted) throw error;
    interrupted = true;
    state.status = 'interrupted';
  } finally {
    leftUp = await runner.finish().catch((error: Error) => `teardown failed: ${error.message}`);
    thisSession.endedAt = new Date().toISOString();
    if (options.cost) state.cost = options.cost.record();
    await store.save();
    const count = (status: string) => state.runs.filter((r) => r.status === status).length;
    options.progress.finish(interrupted ? 'interrupted' : 'done', { ok: count('ok'), failed: count('failed'), pending: count('pending') });
  }
  return { state, dir: spec.dir, skipped, redone, ranNow: runner.runsThisSession, interrupted, leftUp };
}
