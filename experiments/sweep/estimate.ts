// What a sweep will take before it starts: its runs timed by a stated model (this sweep's own
// finished runs when sweep.json has some, else a per-size default from bench/results.md), laid
// on one node pair or on N at once, with the deploy and destroy `fresh` adds (on AWS shorter when
// the nodes boot from a baked image), priced from the price table (config/prices.yaml) per
// instance type and market. No credentials, nothing started.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assetPath } from '../../core/package-root.js';
import { EXAMPLE_CONFIG_PATH } from '../../infra/aws/config-paths.js';
import { ratePerHour, stackRate, type Market, type PriceTable, type RateLine } from '../../infra/aws/prices.js';
import { parseInfraProps, readInfraYaml, type InfraProps } from '../../infra/aws/props.js';
import { maxProbes } from './bisect.js';
import { cellsOf, runKey, runsOf, type PlannedRun } from './expand.js';
import { formatDuration } from './progress.js';
import { laneProps, usesLanes } from './lanes.js';
import { placementsOf } from './pairs.js';
import { FRESH_POLICIES, type FreshPolicy, type SweepSpec } from './spec.js';
import { SWEEP_FILE, type SweepState } from './state.js';

/** The run-time model's defaults, each stated in the estimate it feeds. */
export const RUN_MODEL = {
  /** Connect, preflight, deploy and start the payload, verify, collect logs, clean up: every run, whatever its size. */
  fixedMs: 20_000,
  /**
   * Dump + transfer + restore per GiB of heap: bench/results.md section 4 (full, rsync, 1, 2, 4 and
   * 8 GiB: 12.2, 23.6, 62.2, 105.2 s of downtime) is 12-15 s per GiB; 13 s taken.
   */
  migrationMsPerGib: 13_000,
  /** Any workload but memory, whose size the model cannot read from the settings. */
  otherWorkloadMs: 60_000,
  /** config/workloads/memory.yaml's defaults, for a setting the sweep file does not give. */
  memoryDefaults: { mbSize: 256, intervalS: 5, maxMemoryMib: 8192 },
} as const;

/** Bringing the infra up and down: what each `fresh` recreation costs in time, and on what basis. */
export interface InfraTimes {
  readonly deployMs: number;
  readonly destroyMs: number;
  readonly basis: string;
}

/** Per backend; on AWS for nodes booting Debian's own image, which build CRIU at boot. */
export const INFRA_TIMES_MS: Readonly<Record<SweepSpec['infra']['backend'], InfraTimes>> = {
  aws: {
    deployMs: 15 * 60_000,
    destroyMs: 5 * 60_000,
    basis: 'README "From credentials to teardown": about 5 min of AWS resources and 10 while the nodes build CRIU; destroy about 5 min',
  },
  lab: { deployMs: 15_000, destroyMs: 5_000, basis: 'lab up / lab down of namespace nodes on this machine' },
  none: { deployMs: 0, destroyMs: 0, basis: 'backend none brings nothing up' },
};

/**
 * AWS when infra.yaml's `ami` is an image id (what `criu-lab infra bake` writes): setup-host.sh
 * finds CRIU in place. The 7 min to ready is a stated placeholder, the 5 min of AWS resources and
 * about 2 of boot, to be replaced by the rehearsal's measured ratio of baked to unbaked deploys.
 */
export const AWS_BAKED_TIMES_MS: InfraTimes = {
  deployMs: 7 * 60_000,
  destroyMs: 5 * 60_000,
  basis:
    'a placeholder until the rehearsal measures it: about 5 min of AWS resources and 2 of boot, setup-host.sh finding CRIU in the image; destroy about 5 min',
};

/** The AWS deploy times by whether the nodes boot an image id (baked) or build CRIU at boot. */
const awsInfraTimes = (baked: boolean): InfraTimes => (baked ? AWS_BAKED_TIMES_MS : INFRA_TIMES_MS.aws);

export interface CostLine {
  readonly item: string;
  readonly instanceType?: string;
  readonly market?: Market;
  /** Instances × hours up; undefined for what is not an instance. */
  readonly instanceHours: number | undefined;
  readonly usd: number;
}

export interface Scenario {
  /** Node pairs at once: 1 is one run at a time. */
  readonly pairs: number;
  readonly fresh: FreshPolicy;
  /** Cells at once on lanes, each on a stack of its own sized to one node pair per placement (AWS, `per-cell`). */
  readonly lanes: boolean;
  readonly wallMs: number;
  /** Deploy and destroy time on the critical path (what `fresh` adds to the wall time). */
  readonly freshWallMs: number;
  /** The hours some stack is up, summed over stacks (parallel fresh cells each have their own). */
  readonly stackHours: number;
  /** Per market of the nodes: the infra.yaml one first. Empty off AWS. */
  readonly costs: readonly { readonly market: Market; readonly lines: readonly CostLine[]; readonly usd: number; readonly ratePerHourUsd: number }[];
}

export interface SweepEstimate {
  readonly sweep: string;
  readonly backend: SweepSpec['infra']['backend'];
  readonly runs: number;
  /** `runs` is an upper bound (a deadline search stops early). */
  readonly runsIsBound: boolean;
  readonly cells: number;
  /** Runs still to do (all of them for a new sweep). */
  readonly remainingRuns: number;
  readonly model: string;
  readonly meanRunMs: number;
  readonly infraTimes: InfraTimes;
  /**
   * On AWS, the sweep as planned with the other kind of machine image: a baked one when the stack
   * boots Debian's own (and builds CRIU), Debian's own when it boots an image id.
   */
  readonly otherImage: { readonly baked: boolean; readonly infraTimes: InfraTimes; readonly planned: Scenario } | undefined;
  /** The AWS stack's shape and the price table, when priced. */
  readonly pricing:
    | { readonly region: string; readonly market: Market; readonly file: string; readonly asOf: string; readonly source: string; readonly spotShare: number }
    | undefined;
  readonly infraNote: string | undefined;
  /** The sweep as its file says (pairs = its `parallel`, default 1). */
  readonly planned: Scenario;
  /** The same sweep one pair at a time, and on `parallel` pairs (2 when the file says 1). */
  readonly serial: Scenario;
  readonly parallel: Scenario;
  /** One pair, each fresh policy: what recreating the infra costs. */
  readonly byFresh: readonly Scenario[];
  /** What is left to do, as planned: what a budget is compared with. */
  readonly remaining: Scenario;
}

/** The value a run gives `path` (the last setting wins, as in the plan), or undefined. */
const settingOf = (run: PlannedRun, ...paths: string[]) => [...run.settings].reverse().find((s) => paths.includes(s.path))?.value;

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

/** The setting a run gives `path`, as a number, or undefined. */
function numberSetting(run: PlannedRun, path: string): number | undefined {
  const value = settingOf(run, path);
  const number = Number(value);
  return value === undefined || !Number.isFinite(number) ? undefined : number;
}

/** The default model: fixed work + the memory workload's warm-up + migration time by heap size. */
export function modelRunMs(run: PlannedRun): number {
  const type = String(settingOf(run, 'workload.type', 'experiment.workload_type') ?? 'memory');
  if (type !== 'memory') return RUN_MODEL.otherWorkloadMs;
  const d = RUN_MODEL.memoryDefaults;
  const maxMemoryMib = numberSetting(run, 'workload.max_memory') ?? d.maxMemoryMib;
  const mbSize = numberSetting(run, 'workload.mb_size') ?? d.mbSize;
  const intervalS = numberSetting(run, 'workload.interval') ?? d.intervalS;
  const warmUpMs = Math.ceil(maxMemoryMib / mbSize) * intervalS * 1000;
  return RUN_MODEL.fixedMs + warmUpMs + (maxMemoryMib / 1024) * RUN_MODEL.migrationMsPerGib;
}

/** Every run the sweep may do; a deadline search as its upper bound, each probe at the middle of the range. */
function plannedRuns(spec: SweepSpec): { runs: PlannedRun[]; bound: boolean } {
  const search = spec.deadline;
  if (!search) return { runs: runsOf(spec), bound: false };
  const size = { path: search.sizePath, value: Math.round((search.low + search.high) / 2) };
  const runs = cellsOf(spec).flatMap((cell) =>
    Array.from({ length: search.deadlinesS.length * maxProbes(search) * spec.repetitions }, (_, i) => ({
      key: `${runKey(cell, i + 1, size)}~bound`,
      cell,
      repetition: (i % spec.repetitions) + 1,
      settings: [...spec.settings, ...cell.varying, size],
    })),
  );
  return { runs, bound: true };
}

/** The time each pair is busy when every job goes, in order, to the pair free first (the scheduler's rule). */
export function makespanMs(jobsMs: readonly number[], pairs: number): number {
  const busy = new Array<number>(Math.max(1, pairs)).fill(0);
  for (const job of jobsMs) {
    const free = busy.indexOf(Math.min(...busy));
    busy[free]! += job;
  }
  return Math.max(0, ...busy);
}

interface Timing {
  readonly runMs: (run: PlannedRun) => number;
  readonly deployMs: number;
  readonly destroyMs: number;
}

/**
 * Wall time and stack-hours of `runs` on `pairs` pairs under `fresh`: with `never` one stack holds
 * every pair's nodes; with `per-cell`/`per-run` each cell (run) has a stack of its own, up to
 * `pairs` at once (lanes).
 */
function layout(runs: readonly PlannedRun[], pairs: number, fresh: FreshPolicy, timing: Timing) {
  const cycleMs = timing.deployMs + timing.destroyMs;
  if (runs.length === 0) return { wallMs: 0, freshWallMs: 0, stackHours: 0, nodeCopies: pairs };
  if (fresh === 'never') {
    const wallMs = cycleMs + makespanMs(runs.map(timing.runMs), pairs);
    return { wallMs, freshWallMs: cycleMs, stackHours: wallMs / 3_600_000, nodeCopies: pairs };
  }
  const groups = fresh === 'per-run' ? runs.map((r) => [r]) : [...groupBy(runs, (r) => r.cell.key).values()];
  const jobs = groups.map((group) => cycleMs + group.reduce((sum, r) => sum + timing.runMs(r), 0));
  const wallMs = makespanMs(jobs, pairs);
  const lanes = Math.min(pairs, jobs.length);
  return { wallMs, freshWallMs: Math.ceil(groups.length / lanes) * cycleMs, stackHours: jobs.reduce((a, b) => a + b, 0) / 3_600_000, nodeCopies: 1 };
}

function priced(lines: readonly RateLine[], hours: number): CostLine[] {
  return lines.map((line) => ({
    item: line.item,
    ...(line.instanceType ? { instanceType: line.instanceType, market: line.market } : {}),
    instanceHours: line.instanceType ? line.count * hours : undefined,
    usd: line.count * line.unitPerHour * hours,
  }));
}

export interface EstimateInputs {
  /** Prices and the stack's shape; only for backend aws. */
  readonly prices?: PriceTable;
  readonly infra?: { readonly props: InfraProps; readonly note: string | undefined };
  /** sweep.json as it stands, for the runs finished and their times. */
  readonly state?: SweepState;
}

export function estimateSweep(spec: SweepSpec, inputs: EstimateInputs = {}): SweepEstimate {
  const { runs, bound } = plannedRuns(spec);
  const finishedRuns = (inputs.state?.runs ?? []).filter((r) => (r.status === 'ok' || r.status === 'failed') && (r.durationMs ?? 0) > 0);
  const done = new Set(finishedRuns.map((r) => r.key));
  const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const byCell = groupBy(finishedRuns, (r) => r.cellKey);
  const runMs = finishedRuns.length > 0 ? (run: PlannedRun) => mean((byCell.get(run.cell.key) ?? finishedRuns).map((r) => r.durationMs!)) : modelRunMs;
  const model =
    finishedRuns.length > 0
      ? `the mean time of this sweep's ${finishedRuns.length} finished run(s) in sweep.json, per cell where the cell has one`
      : `${RUN_MODEL.fixedMs / 1000} s per run (connect, preflight, start, verify, logs) + the memory workload's warm-up (max_memory ÷ mb_size × interval) + ${RUN_MODEL.migrationMsPerGib / 1000} s per GiB migrated (bench/results.md section 4, full + rsync on the lab); ${RUN_MODEL.otherWorkloadMs / 1000} s for other workloads`;
  const props = spec.infra.backend === 'aws' ? inputs.infra?.props : undefined;
  const baked = props?.machineImage.kind === 'image-id';
  const infraTimes = props ? awsInfraTimes(baked) : INFRA_TIMES_MS[spec.infra.backend];
  const prices = props ? inputs.prices : undefined;
  const markets: Market[] = props ? [props.market, props.market === 'spot' ? 'on-demand' : 'spot'] : [];

  const scenarioWith =
    (times: InfraTimes) =>
    (subset: readonly PlannedRun[], pairs: number, fresh: FreshPolicy): Scenario => {
      const shape = layout(subset, pairs, fresh, { runMs, deployMs: times.deployMs, destroyMs: times.destroyMs });
      // On lanes (AWS), each cell's stack is a lane's: one node pair per placement, not infra.yaml's zones.
      const lanes = spec.infra.backend === 'aws' && usesLanes({ fresh, parallel: pairs, deadline: spec.deadline });
      const stack = props && lanes ? laneProps(props, placementsOf(spec)) : props;
      const costs =
        stack && prices
          ? markets.map((market) => {
              const lines = stackRate({ ...stack, market }, prices, shape.nodeCopies);
              const costLines = priced(lines, shape.stackHours);
              return { market, lines: costLines, usd: costLines.reduce((sum, l) => sum + l.usd, 0), ratePerHourUsd: ratePerHour(lines) };
            })
          : [];
      return { pairs, fresh, lanes, wallMs: shape.wallMs, freshWallMs: shape.freshWallMs, stackHours: shape.stackHours, costs };
    };
  const scenario = scenarioWith(infraTimes);
  const pairs = spec.parallel;
  return {
    sweep: spec.name,
    backend: spec.infra.backend,
    runs: runs.length,
    runsIsBound: bound,
    cells: cellsOf(spec).length,
    remainingRuns: runs.filter((r) => !done.has(r.key)).length,
    model,
    meanRunMs: runs.length > 0 ? mean(runs.map(runMs)) : 0,
    infraTimes,
    otherImage: props ? { baked: !baked, infraTimes: awsInfraTimes(!baked), planned: scenarioWith(awsInfraTimes(!baked))(runs, pairs, spec.fresh) } : undefined,
    pricing:
      props && prices
        ? {
            region: props.region,
            market: props.market,
            file: prices.file,
            asOf: prices.as_of,
            source: prices.source,
            spotShare: prices.spot.share_of_on_demand,
          }
        : undefined,
    infraNote: inputs.infra?.note,
    planned: scenario(runs, pairs, spec.fresh),
    serial: scenario(runs, 1, spec.fresh),
    parallel: scenario(runs, pairs > 1 ? pairs : 2, spec.fresh),
    byFresh: FRESH_POLICIES.map((fresh) => scenario(runs, 1, fresh)),
    remaining: scenario(
      runs.filter((r) => !done.has(r.key)),
      pairs,
      spec.fresh,
    ),
  };
}

/** RFC 5737: the estimate reads only sizes and prices from infra.yaml, so a file without operator_cidr still prices. */
const PLACEHOLDER_OPERATOR_CIDR = '192.0.2.1/32';

/** infra.yaml of an AWS sweep for its shape and prices; the shipped example when the sweep's file does not exist yet. */
export function infraForEstimate(spec: SweepSpec): { props: InfraProps; note: string | undefined } {
  const own = existsSync(spec.infra.aws.config);
  const path = own ? spec.infra.aws.config : assetPath(EXAMPLE_CONFIG_PATH);
  const raw = readInfraYaml(path);
  const settings = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const props = parseInfraProps({ operator_cidr: PLACEHOLDER_OPERATOR_CIDR, ...settings }, path);
  return { props, note: own ? undefined : `${spec.infra.aws.config} does not exist yet: priced the defaults of ${EXAMPLE_CONFIG_PATH}` };
}

/** sweep.json of the sweep, if it has started. */
export function readSweepState(spec: SweepSpec): SweepState | undefined {
  const path = join(spec.dir, SWEEP_FILE);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SweepState) : undefined;
}

const usd = (value: number) => `$${value < 10 ? value.toFixed(2) : value.toFixed(0)}`;
const hours = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} h`;

function scenarioLines(title: string, s: Scenario): string[] {
  const head = `${title}: wall ${formatDuration(s.wallMs)}${s.freshWallMs > 0 ? ` (deploy + destroy ${formatDuration(s.freshWallMs)} of it)` : ''}`;
  if (s.costs.length === 0) return [head];
  const lines = [`${head}, stack up ${hours(s.stackHours)}`];
  for (const cost of s.costs) {
    lines.push(`    ${cost.market} nodes: ${usd(cost.usd)} (${usd(cost.ratePerHourUsd)}/hour while up)`);
    for (const line of cost.lines.filter((l) => l.instanceHours !== undefined))
      lines.push(`      ${`${line.instanceType} ${line.market}`.padEnd(24)} ${hours(line.instanceHours!).padStart(9)}  ${usd(line.usd).padStart(7)}`);
    const rest = cost.lines.filter((l) => l.instanceHours === undefined).reduce((sum, l) => sum + l.usd, 0);
    lines.push(`      ${'NAT, IPv4, EBS'.padEnd(24)} ${''.padStart(9)}  ${usd(rest).padStart(7)}`);
  }
  return lines;
}

/** The estimate as printed by `criu-lab sweep --estimate`. */
export function formatEstimate(e: SweepEstimate): string[] {
  const pairs = e.planned.pairs;
  const lines = [
    `estimate for sweep ${e.sweep}: ${e.runsIsBound ? 'at most ' : ''}${e.runs} runs in ${e.cells} cells, backend ${e.backend}, fresh ${e.planned.fresh}, parallel ${pairs}${e.remainingRuns < e.runs ? `; ${e.remainingRuns} still to run` : ''} (nothing started, no credentials used)`,
    `  per run: ${formatDuration(e.meanRunMs)} on average; model: ${e.model}`,
    `  deploy ${formatDuration(e.infraTimes.deployMs)} + destroy ${formatDuration(e.infraTimes.destroyMs)} per recreation (${e.infraTimes.basis})`,
  ];
  if (e.otherImage) {
    const { baked, infraTimes, planned } = e.otherImage;
    const cost = planned.costs[0];
    lines.push(
      `  ${baked ? 'with an image from `criu-lab infra bake`' : "with Debian's own AMI (CRIU built at boot)"}: deploy ${formatDuration(infraTimes.deployMs)}, wall ${formatDuration(planned.wallMs)}${cost ? `, ${usd(cost.usd)} (${cost.market})` : ''}`,
    );
  }
  if (e.pricing)
    lines.push(
      `  prices: ${e.pricing.file}, list prices as of ${e.pricing.asOf} (AWS price list pages; not live), region ${e.pricing.region}; spot at ${Math.round(e.pricing.spotShare * 100)} % of on-demand, an assumption: spot prices vary by zone and hour`,
    );
  else
    lines.push(
      `  cost: $0 to criu-lab: ${e.backend === 'lab' ? 'the lab runs on this machine' : 'the nodes of backend none were not brought up by the sweep and are not counted'}`,
    );
  if (e.infraNote) lines.push(`  note: ${e.infraNote}`);
  const planned = e.planned.lanes ? `${pairs} lanes at once (a stack each, one node pair per placement)` : `${pairs} pairs at once`;
  lines.push(...scenarioLines(`  ${pairs > 1 ? `as planned, ${planned}` : 'one pair at a time (as planned)'}`, e.planned));
  if (pairs > 1) lines.push(...scenarioLines('  one pair at a time', e.serial));
  else {
    const where =
      e.backend === 'aws'
        ? e.parallel.lanes
          ? `${e.parallel.pairs} lanes: cells at once, each on a stack of its own with one node pair per placement`
          : `the stack holds ${e.parallel.pairs}× the nodes`
        : e.backend === 'lab'
          ? "the pairs share this machine's CPUs"
          : 'on the nodes of servers.yaml';
    lines.push(...scenarioLines(`  with parallel: ${e.parallel.pairs} (${e.parallel.pairs} disjoint pairs at once; ${where})`, e.parallel));
  }
  lines.push('  what fresh adds (one pair at a time):');
  for (const s of e.byFresh) {
    const cost = s.costs[0];
    lines.push(
      `    ${s.fresh === e.planned.fresh ? '*' : ' '} ${s.fresh.padEnd(8)} wall ${formatDuration(s.wallMs).padStart(7)}, deploy + destroy ${formatDuration(s.freshWallMs).padStart(7)} of it${cost ? `, ${usd(cost.usd)} (${cost.market})` : ''}`,
    );
  }
  if (e.remainingRuns < e.runs && e.remaining.costs[0])
    lines.push(`  still to run: ${e.remainingRuns} runs, wall ${formatDuration(e.remaining.wallMs)}, ${usd(e.remaining.costs[0].usd)}`);
  return lines;
}

/** The dollars a budget is held against: what is left to run, as planned, in infra.yaml's market. */
export const budgetedUsd = (e: SweepEstimate): number => e.remaining.costs[0]?.usd ?? 0;
