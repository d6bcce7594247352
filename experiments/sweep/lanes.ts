// Lanes (`fresh: per-cell` with `parallel: N` on a backend that has them): up to N cells at once,
// each on infrastructure of its lane's own, brought up for the cell and removed after it. Pure:
// which lanes a sweep uses, where each keeps its files, and the lane's stack derived from the
// operator's infra.yaml (own prefix, one node pair per placement); the wiring is lane-stack.ts.
import { join } from 'node:path';
import type { Placement } from '../config/schema.js';
import { UsageError } from '../../core/errors.js';
import type { InfraProps, ZoneProps } from '../../infra/aws/props.js';
import type { SweepSpec } from './spec.js';

/** Under the sweep's folder: `lanes/<k>/`, one folder per lane. */
export const LANES_DIR = 'lanes';

/** The longest stack prefix infra/aws/props.ts accepts (it becomes part of S3 and IAM names). */
export const MAX_PREFIX_LENGTH = 20;

/**
 * Whether the sweep's cells go on lanes: each cell recreates its infra (`per-cell`) and up to
 * `parallel` of them may run at once. A deadline search stays on one infra, cell after cell.
 */
export const usesLanes = (spec: Pick<SweepSpec, 'fresh' | 'parallel' | 'deadline'>): boolean =>
  spec.fresh === 'per-cell' && spec.parallel > 1 && spec.deadline === undefined;

/** Lanes 0..n-1: `parallel` of them, never more than there are cells to run. */
export function lanesFor(parallel: number, cellsToRun: number): number[] {
  return Array.from({ length: Math.max(1, Math.min(parallel, cellsToRun)) }, (_, k) => k);
}

/** Lanes an earlier session left folders for and this one does not use: what they left up is removed first. */
export function staleLanes(existing: readonly number[], used: readonly number[]): number[] {
  return existing.filter((k) => !used.includes(k)).sort((a, b) => a - b);
}

/**
 * Whether a lane whose deploy failed takes no further cell this session: only while another lane
 * still takes cells, so the cells left have somewhere to go (the last lane keeps trying, as a sweep
 * on one infra does).
 */
export function shouldRetireLane(lanes: readonly number[], retired: readonly number[], lane: number): boolean {
  return lanes.some((k) => k !== lane && !retired.includes(k));
}

/**
 * Lane k's stack prefix: `<prefix>-<k>`, the operator's prefix shortened (and any dash it then ends
 * on dropped) so the whole stays within the 20 characters a prefix may have.
 */
export function lanePrefix(prefix: string, lane: number): string {
  const suffix = `-${lane}`;
  const base = prefix.slice(0, MAX_PREFIX_LENGTH - suffix.length).replace(/-+$/, '');
  const name = `${base}${suffix}`;
  if (name === prefix)
    throw new UsageError(`lane ${lane}'s stack would be named ${name}, the stack of the infra config itself`, [
      `prefix: ${prefix} is ${prefix.length} characters and ends in ${suffix}; fix: shorten it to ${MAX_PREFIX_LENGTH - 3} characters or fewer, so lanes get names of their own`,
    ]);
  return name;
}

/**
 * The nodes per zone of a lane: one pair of each placement it may run. same-az takes two nodes of
 * the first zone, cross-az one of each zone; a zone holds at least one node (props.ts), so a sweep
 * naming no placement, or same-az, gets 2 + 1 and cross-az alone 1 + 1. Runs on a lane go one at a time.
 */
export function laneZoneSizes(placements: readonly Placement[]): [number, number] {
  const sameAz = placements.length === 0 || placements.includes('same-az');
  return [sameAz ? 2 : 1, 1];
}

/** The operator's two zones with a lane's node counts. */
export function laneZones(zones: readonly [ZoneProps, ZoneProps], placements: readonly Placement[]): [ZoneProps, ZoneProps] {
  const [first, second] = laneZoneSizes(placements);
  return [
    { ...zones[0], nodeCount: first },
    { ...zones[1], nodeCount: second },
  ];
}

/** What a lane's stack is priced as: the operator's stack with the lane's zones. */
export const laneProps = (props: InfraProps, placements: readonly Placement[]): InfraProps => ({ ...props, zones: laneZones(props.zones, placements) });

/**
 * Lane k's infra.yaml: every setting of the operator's (`settings`, as read from their file) but the
 * prefix, which becomes the lane's, and the zones, sized to one pair per placement.
 */
export function laneInfraConfig(
  settings: Readonly<Record<string, unknown>>,
  props: InfraProps,
  lane: number,
  placements: readonly Placement[],
): Record<string, unknown> {
  return {
    ...settings,
    prefix: lanePrefix(props.prefix, lane),
    zones: laneZones(props.zones, placements).map((zone) => ({ az: zone.letter, nodes: zone.nodeCount })),
  };
}

/** The files of lane k, all under `<sweep>/lanes/<k>/`. */
export interface LaneFiles {
  readonly lane: number;
  readonly dir: string;
  /** The lane's infra.yaml, derived from the operator's (laneInfraConfig). */
  readonly config: string;
  /** Its Terraform state: the lane's stack alone. */
  readonly state: string;
  readonly cdktfOut: string;
  readonly outputs: string;
  /** The nodes of its stack; servers.known_hosts beside it holds their pinned host keys. */
  readonly servers: string;
  /** What cdktf and the boot wait printed for the lane (lanes deploy at once; their output would interleave). */
  readonly log: string;
}

export function laneFiles(sweepDir: string, lane: number): LaneFiles {
  const dir = join(sweepDir, LANES_DIR, String(lane));
  return {
    lane,
    dir,
    config: join(dir, 'infra.yaml'),
    state: join(dir, 'terraform.tfstate'),
    cdktfOut: join(dir, 'cdktf.out'),
    outputs: join(dir, 'infra.outputs.json'),
    servers: join(dir, 'servers.yaml'),
    log: join(dir, 'infra.log'),
  };
}
