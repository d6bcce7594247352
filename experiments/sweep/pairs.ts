// Parallel pairs (`parallel: N`): which node pairs a sweep's runs may use, how many nodes a lab
// needs for them, and the scheduler that hands each run a free pair of its placement. Pure:
// no I/O, so it is tested on recorded sweep states without a lab (test/unit/sweep-pairs.test.ts).
import type { Placement } from '../config/schema.js';

export interface NodeRef {
  readonly ip: string;
  readonly name: string;
}

/** A node pair a run migrates across, as recorded in sweep.json (`run.pair`). */
export interface SweepPair {
  /** `n1->n2`: source and destination names. */
  readonly id: string;
  readonly source: NodeRef;
  readonly destination: NodeRef;
  readonly placement: Placement | undefined;
}

export const pairId = (source: Pick<NodeRef, 'name'>, destination: Pick<NodeRef, 'name'>): string => `${source.name}->${destination.name}`;

export const pairOf = (source: NodeRef, destination: NodeRef, placement: Placement | undefined): SweepPair => ({
  id: pairId(source, destination),
  source: { ip: source.ip, name: source.name },
  destination: { ip: destination.ip, name: destination.name },
  placement,
});

/**
 * The pairs servers.yaml's zones offer, in a fixed order: same-az pairs are consecutive nodes of
 * one zone (n1->n2, n3->n4, …), cross-az pairs take the i-th node of the first two zones
 * (n1->n3, n2->n4, …). The first of each is the pair the loader picks for that placement, so
 * `parallel: 1` and the first slot of a parallel sweep use the same nodes. Pairs of one
 * placement are disjoint; the scheduler keeps running pairs disjoint across placements.
 */
export function candidatePairs(zones: Readonly<Record<string, readonly NodeRef[]>>): SweepPair[] {
  const filled = Object.values(zones).filter((nodes) => nodes.length > 0);
  const pairs: SweepPair[] = [];
  for (const nodes of filled) for (let i = 0; i + 1 < nodes.length; i += 2) pairs.push(pairOf(nodes[i]!, nodes[i + 1]!, 'same-az'));
  const [first, second] = filled;
  if (first && second) for (let i = 0; i < Math.min(first.length, second.length); i++) pairs.push(pairOf(first[i]!, second[i]!, 'cross-az'));
  return pairs;
}

/** Disjoint pairs of a placement that zones of these sizes hold at once. */
export function pairsAvailable(zoneSizes: readonly number[], placement: Placement): number {
  const filled = zoneSizes.filter((n) => n > 0);
  if (placement === 'same-az') return filled.reduce((total, n) => total + Math.floor(n / 2), 0);
  return filled.length < 2 ? 0 : Math.min(filled[0]!, filled[1]!);
}

/** The lab's zones for n nodes (infra/local/servers.ts): the first half, rounded up, in zone a, the rest in zone c. */
export const labZoneSizes = (nodes: number): [number, number] => [Math.ceil(nodes / 2), nodes - Math.ceil(nodes / 2)];

/** The placements a sweep's runs name (settings, matrix, zip); empty when none does (the servers.yaml pair). */
export function placementsOf(spec: {
  readonly settings: readonly { readonly path: string; readonly value: unknown }[];
  readonly matrix: readonly { readonly path: string; readonly values: readonly unknown[] }[];
  readonly zip: readonly { readonly path: string; readonly values: readonly unknown[] }[];
}): Placement[] {
  const values = [
    ...spec.settings.filter((s) => s.path === 'experiment.placement').map((s) => s.value),
    ...[...spec.matrix, ...spec.zip].filter((a) => a.path === 'experiment.placement').flatMap((a) => a.values),
  ];
  return (['same-az', 'cross-az'] as const).filter((p) => values.includes(p));
}

/**
 * The fewest lab nodes that give `parallel` disjoint pairs of every placement the sweep uses
 * (both when it names none: an experiment file may). Undefined when no lab of up to `maxNodes` does.
 */
export function labNodesFor(parallel: number, placements: readonly Placement[], minNodes = 2, maxNodes = 8): number | undefined {
  const needed: readonly Placement[] = placements.length > 0 ? placements : ['same-az', 'cross-az'];
  for (let nodes = Math.max(2, minNodes); nodes <= maxNodes; nodes++) if (needed.every((p) => pairsAvailable(labZoneSizes(nodes), p) >= parallel)) return nodes;
  return undefined;
}

/**
 * Why an AWS stack of these zones cannot give the sweep `parallel` pairs of each placement it
 * uses, naming the infra.yaml key to raise; undefined when it can.
 */
export function awsPairShortfall(
  zones: readonly { readonly letter: string; readonly nodeCount: number }[],
  parallel: number,
  placements: readonly Placement[],
  configPath: string,
): string | undefined {
  const sizes = zones.map((z) => z.nodeCount);
  const problems: string[] = [];
  const needed: readonly Placement[] = placements.length > 0 ? placements : ['same-az'];
  for (const placement of needed) {
    const have = pairsAvailable(sizes, placement);
    if (have >= parallel) continue;
    const raise =
      placement === 'same-az'
        ? `raise zones[0].nodes (zone ${zones[0]?.letter}) to ${2 * parallel}, or spread ${2 * parallel} nodes over both zones in even numbers`
        : `raise zones[0].nodes and zones[1].nodes (zones ${zones.map((z) => z.letter).join(', ')}) to at least ${parallel} each`;
    problems.push(
      `${placement}: parallel ${parallel} needs ${parallel} disjoint ${placement} pairs; zones ${zones.map((z) => `${z.letter}: ${z.nodeCount} node(s)`).join(', ')} give ${have}; fix in ${configPath}: ${raise}`,
    );
  }
  return problems.length > 0 ? problems.join('\n') : undefined;
}

/** A run waiting for a pair: the placement its plan asks for, or the one pair it must use. */
export interface QueuedRun {
  readonly key: string;
  readonly placement: Placement | undefined;
  /** The pair the run's plan names itself (no zones known, or parallel 1): it waits for that one. */
  readonly fixed?: SweepPair;
}

export interface PairView {
  readonly pairs: readonly SweepPair[];
  readonly parallel: number;
  /** Pairs with a run on them now. */
  readonly busy: readonly SweepPair[];
  /** Pairs taken out after an infrastructure failure, for the rest of the session. */
  readonly retired: readonly string[];
}

export interface Assignment {
  readonly key: string;
  readonly pair: SweepPair;
}

const nodesOf = (pair: SweepPair) => [pair.source.ip, pair.destination.ip];

/** The pairs a queued run may ever use (retired ones excluded). */
export function usablePairs(view: Pick<PairView, 'pairs' | 'retired'>, run: QueuedRun): SweepPair[] {
  if (run.fixed) return view.retired.includes(run.fixed.id) ? [] : [run.fixed];
  return view.pairs.filter((p) => p.placement === run.placement && !view.retired.includes(p.id));
}

/**
 * Which queued runs start now and on which pair: in queue order, each on the first usable pair
 * whose nodes are all free, until `parallel` runs are on pairs. A run whose placement has no
 * free pair waits; later runs of another placement may go ahead of it.
 */
export function assignPairs(view: PairView, queue: readonly QueuedRun[]): Assignment[] {
  const taken = new Set(view.busy.flatMap(nodesOf));
  let running = view.busy.length;
  const assignments: Assignment[] = [];
  for (const run of queue) {
    if (running >= view.parallel) break;
    const pair = usablePairs(view, run).find((p) => nodesOf(p).every((ip) => !taken.has(ip)));
    if (!pair) continue;
    for (const ip of nodesOf(pair)) taken.add(ip);
    running += 1;
    assignments.push({ key: run.key, pair });
  }
  return assignments;
}

/**
 * Whether a pair that just failed infrastructure-wise is taken out: only while another usable
 * pair of its placement remains, so the runs that need it still have somewhere to go (with one
 * pair, every run tries it, as a sweep without parallel pairs does).
 */
export function shouldRetire(view: Pick<PairView, 'pairs' | 'retired'>, pair: SweepPair): boolean {
  return view.pairs.some((p) => p.id !== pair.id && p.placement === pair.placement && !view.retired.includes(p.id));
}

export interface TimedRun {
  readonly key: string;
  readonly pair?: SweepPair;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly status: string;
}

/**
 * For each run, the runs on another pair whose time overlapped its own (a run in flight counts
 * until `now`). On one host (the lab) such runs shared its CPUs.
 */
export function overlapsOf(runs: readonly TimedRun[], now: number = Date.now()): Map<string, string[]> {
  const spans = runs
    .filter((r) => r.startedAt && r.pair && (r.status === 'running' || r.finishedAt))
    .map((r) => {
      const start = Date.parse(r.startedAt!);
      const end = r.status === 'running' ? now : Date.parse(r.finishedAt!);
      return { key: r.key, pair: r.pair!.id, start, end };
    })
    .filter((s) => s.end >= s.start);
  const found = new Map<string, string[]>();
  for (const a of spans)
    for (const b of spans)
      if (a.key !== b.key && a.pair !== b.pair && a.start < b.end && b.start < a.end) found.set(a.key, [...(found.get(a.key) ?? []), b.key]);
  return found;
}
