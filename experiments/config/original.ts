// Keys of the original Python framework's config files (ddps-lab/criu-test-workload) that
// criu-lab spells differently or has no use for, so its files load unchanged: each key either
// lands on criu-lab's own, or is accepted, recorded in the plan and said to have no effect.

/** An original key and the criu-lab key it sets; moved within each file before the layers merge. */
export interface Alias {
  readonly from: string;
  readonly to: string;
}

export const ORIGINAL_ALIASES: readonly Alias[] = [
  { from: 'workload.max_memory_mb', to: 'workload.max_memory' },
  // The original hands checkpoint.dirs.working_dir to the payload too: one directory for both.
  { from: 'workload.working_dir', to: 'checkpoint.dirs.working_dir' },
  { from: 'workload.readiness.timeout', to: 'timeouts.ready_s' },
  // Its video workload reads `mode`; the spec's flag is --video-mode.
  { from: 'workload.mode', to: 'workload.video_mode' },
];

/** Original keys (with everything beneath them) accepted with no effect here, and why. */
export const INERT_KEYS: Readonly<Record<string, string>> = {
  'logging.format': 'criu-lab writes its own progress lines; logging.level sets how many',
  'paths.data_setup': 'each payload generates its own data on the node; criu-lab has no separate data download step',
  'migration.metrics': 'criu-lab measures every phase (pre-dumps, dump, transfer, restore, downtime, verify) on every run',
  'experiment.collect_logs': 'criu-lab always collects the CRIU and payload logs of both nodes into the results dir',
};

/** The inert key `path` is, or lies under; undefined when it is not one. */
export function inertRootOf(path: string): string | undefined {
  return Object.keys(INERT_KEYS).find((root) => path === root || path.startsWith(`${root}.`));
}
