// The Backend seam of a sweep: the infrastructure its runs use, which it can bring up, tear
// down (for `fresh: per-cell | per-run`) and put in the state a run's plan asks for; some have lanes.
import type { Plan } from '../../config/plan.js';
import type { BackendName, SweepSpec } from '../spec.js';

export interface SweepBackend {
  readonly name: BackendName;
  /** The servers.yaml every run loads. */
  readonly serversPath: string;
  /** Brings the nodes up; harmless when they are up already. */
  up(): Promise<void>;
  /** Removes everything up made. */
  down(): Promise<void>;
  /** Puts the links in the state the run's plan names (the lab's bandwidth profile) before the run starts. */
  prepareRun(plan: Plan): Promise<void>;
  /** What `up` leaves behind when the sweep ends with `fresh: never`, for the closing message. */
  describe(): string;
}

export interface BackendFactory {
  readonly name: BackendName;
  create(spec: SweepSpec): SweepBackend;
  /**
   * Lane `lane` (0..parallel-1) of a sweep whose cells go on lanes (experiments/sweep/lanes.ts):
   * infrastructure of its own, with its own names and files under `<sweep>/lanes/<lane>/`, brought
   * up for one cell while other lanes run theirs. @default - no lanes: cells recreate the one infra in turn
   */
  readonly createLane?: (spec: SweepSpec, lane: number) => SweepBackend;
}
