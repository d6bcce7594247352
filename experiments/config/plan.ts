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

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A key of the original framework's files that is accepted here with no effect, and why. */
export interface InertKey {
  readonly path: string;
  readonly reason: string;
}

export interface Plan {
  readonly experiment: {
    /** experiment.name (--name/-n). The original names its results dir `<name>_<timestamp>` after it. */
    readonly name: string;
    readonly description: string | undefined;
    readonly saveMetrics: boolean;
    readonly resultsDir: string;
    /** Absolute path where the original's metrics format is written too (experiment.metrics_file, --output/-o); undefined = not written. */
    readonly metricsFile: string | undefined;
    readonly trigger: MigrationTrigger;
    /** criu-lab's verbosity (logging.level, --log-level). */
    readonly logLevel: LogLevel;
    /** false (--no-cleanup): the restored process and the run's dirs stay on the nodes. */
    readonly cleanup: boolean;
    /** Which checks decide the outcome (migration.success_criteria). */
    readonly successCriteria: { readonly processRunning: boolean; readonly dataIntegrity: boolean };
    /** Keys of the original accepted with no effect here, each with why. */
    readonly inertKeys: readonly InertKey[];
    /** The merged config after ${VAR}, presets and flags, as recorded in metrics.json. */
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
    /** Connect without known_hosts, accepting any host key (nodes.trust_unknown_host_keys, --trust-unknown-host-keys); recorded in metrics.json. */
    readonly trustUnknownHostKeys: boolean;
    readonly bastion: BastionAddress | undefined;
    readonly source: NodeAddress;
    readonly destination: NodeAddress;
  };
  readonly checkpoint: {
    readonly workingDir: string;
    readonly checkpointDir: string;
    /** Where payloads go on the nodes (paths.scripts_dir); undefined = the run's working dir. */
    readonly scriptsDir: string | undefined;
    /** Where payloads keep their data on the nodes (paths.data_dir); undefined = the run's working dir. */
    readonly dataDir: string | undefined;
    readonly strategy: {
      /** The strategy to run; `full` with lazy_pages arrives here as `lazy` (see config/schema.ts). */
      readonly mode: string;
      /** A fixed number of pre-dump rounds, or 'auto': the adaptive rule decides (strategies/precopy-policy.ts). */
      readonly predumpIterations: number | 'auto';
      readonly predumpIntervalS: number;
      /** 'end' (criu-lab): the interval runs from one pre-dump's end to the next one's start; 'start' (the original): start to start. */
      readonly predumpIntervalFrom: 'end' | 'start';
      /** Sync each pre-dump round to the shared storage (EFS/EBS) as it is taken. */
      readonly syncAfterPredump: boolean;
      /** The final dump serves memory lazily (mode lazy, or predump followed by a lazy dump). */
      readonly lazyPages: boolean;
      readonly pageServerPort: number;
      /** The page-server and lazy-pages streams run over CRIU's TLS with per-run certificates (checkpoint.strategy.tls, --no-tls). */
      readonly tls: boolean;
      /** The notice adaptive pre-copy plans for, and the extra verdict a number of seconds adds. */
      readonly deadline: { readonly name: 'aws' | 'gcp' | 'custom'; readonly seconds: number };
    };
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
    /** The file the payload writes in its working dir when it is ready (workload.readiness.file_path). */
    readonly readyFile: string;
  };
  readonly timeouts: Timeouts;
  /** The files the plan was loaded from, lowest precedence first. */
  readonly sources: readonly string[];
}
