// The typed, frozen result of loading a configuration: everything past the config edge
// reads a Plan and never raw YAML.

export interface NodeAddress {
  readonly ip: string;
  readonly name: string;
}

export interface BastionAddress extends NodeAddress {
  readonly sshUser: string;
  readonly sshPort: number;
}

export interface Timeouts {
  readonly connectS: number;
  readonly commandS: number;
  readonly readyS: number;
  readonly dumpS: number;
  readonly transferS: number;
  readonly restoreS: number;
  readonly verifyS: number;
}

/** When the migration starts, counted from the workload's ready signal. */
export type MigrationTrigger =
  | { readonly kind: 'warm' } // criu-lab's default: when the workload says it is worth migrating (Workload.readyToMigrate)
  | { readonly kind: 'ready' } // right after the ready signal (the original's start for pre-dumps)
  | { readonly kind: 'wait'; readonly seconds: number } // seconds after ready (experiment.migrate_after, or the original's wait_before_dump)
  | { readonly kind: 'rss'; readonly targetMb: number }; // when the process tree's RSS reaches targetMb MiB (the original's target_memory_mb)

export interface Plan {
  readonly experiment: {
    readonly name: string;
    readonly saveMetrics: boolean;
    readonly resultsDir: string;
    /** When the migration starts, counted from the workload's ready signal. */
    readonly trigger: MigrationTrigger;
    /** experiment.description, recorded with the results. */
    readonly description: string | undefined;
    /** Absolute; experiment.metrics_file or --output/-o: the original's metrics format is written there too. */
    readonly metricsFile: string | undefined;
    /** logging.level / --log-level. @default 'info' */
    readonly logLevel: 'debug' | 'info' | 'warning' | 'error';
    /** @default true; --no-cleanup: the restored process and the run's dirs stay on the nodes. */
    readonly cleanup: boolean;
    /** migration.success_criteria: which verify checks decide the outcome (both default true). */
    readonly successCriteria: { readonly processRunning: boolean; readonly dataIntegrity: boolean };
    /** Keys of the original accepted with no effect here, each with why. */
    readonly inertKeys: readonly { readonly path: string; readonly reason: string }[];
    /** The merged config after ${VAR}, presets and flags, recorded in metrics.json. */
    readonly resolvedConfig: Readonly<Record<string, unknown>>;
    /** same-az or cross-az when the pair's zones are known (all_nodes), else undefined. */
    readonly placement: 'same-az' | 'cross-az' | undefined;
    /** The lab bandwidth profile (config/profiles.yaml) on the links during the run; undefined = unshaped, or real AWS links. */
    readonly profile: string | undefined;
  };
  readonly nodes: {
    readonly sshUser: string;
    readonly sshKey: string;
    readonly sshPort: number;
    readonly knownHosts: string | undefined;
    readonly bastion: BastionAddress | undefined;
    readonly source: NodeAddress;
    readonly destination: NodeAddress;
  };
  readonly checkpoint: {
    readonly workingDir: string;
    readonly checkpointDir: string;
    readonly strategy: {
      /** The strategy to run; `full` with lazy_pages arrives here as `lazy` (see config/schema.ts). */
      readonly mode: string;
      /** A fixed number of pre-dump rounds, or 'auto': the adaptive rule decides (strategies/precopy-policy.ts). */
      readonly predumpIterations: number | 'auto';
      readonly predumpIntervalS: number;
      /** The final dump serves memory lazily (mode lazy, or predump followed by a lazy dump). */
      readonly lazyPages: boolean;
      readonly pageServerPort: number;
      /** The notice adaptive pre-copy plans for, and the extra verdict a number of seconds adds. */
      readonly deadline: { readonly name: 'aws' | 'gcp' | 'custom'; readonly seconds: number };
      /** After each pre-dump round, sync the image dir (shared storage: efs, ebs). @default false */
      readonly syncAfterPredump: boolean;
      /** 'end' = criu-lab's end-to-start interval; 'start' = the original's start-to-start (checkpoint.strategy.predump_interval_from). @default 'end' */
      readonly predumpIntervalFrom: 'end' | 'start';
    };
    /** paths.scripts_dir on the nodes; undefined = the run's working dir. */
    readonly scriptsDir: string | undefined;
    /** paths.data_dir on the nodes; undefined = the run's working dir. */
    readonly dataDir: string | undefined;
  };
  readonly transfer: {
    readonly method: string;
    readonly destDir: string;
    readonly s3Bucket: string | undefined;
    readonly s3Prefix: string;
    readonly efsMount: string;
    readonly ebsMount: string;
    readonly rsync: { readonly cipher: string; readonly compress: boolean };
    /** Leave the run's images in the bucket or on the shared storage after the run (--keep-images). */
    readonly keepImages: boolean;
    readonly s3: {
      /** An S3-compatible endpoint (the lab's stand-in); undefined = AWS's own. */
      readonly endpointUrl: string | undefined;
      /** The AWS CLI profile the nodes use; undefined = their default credentials (the instance role on AWS). */
      readonly profile: string | undefined;
      readonly region: string | undefined;
      readonly partSizeMb: number;
      readonly maxConcurrency: number;
    };
    readonly ebs: {
      /** An EC2 volume id (vol-…), or a block device path for a local volume (the lab's loop device); undefined = the source node's volume from servers.yaml. */
      readonly volume: string | undefined;
      /** How long one volume state change (detach, attach, snapshot) may take. */
      readonly waitS: number;
    };
  };
  /** The AWS stack the nodes belong to (servers.yaml from `criu-lab infra deploy`); undefined on the lab. */
  readonly aws: { readonly region: string; readonly stack: string; readonly ebsVolumes: Readonly<Record<string, string>> } | undefined;
  readonly workload: {
    readonly type: string;
    readonly params: Readonly<Record<string, unknown>>;
    /** workload.readiness.file_path. @default 'checkpoint_ready' */
    readonly readyFile: string;
  };
  readonly timeouts: Timeouts;
  /** The files the plan was loaded from, lowest precedence first. */
  readonly sources: readonly string[];
}
