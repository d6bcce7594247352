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

export interface Plan {
  readonly experiment: {
    readonly name: string;
    readonly saveMetrics: boolean;
    readonly resultsDir: string;
    /** Seconds the workload runs after it is ready before the migration starts; undefined = when the workload says it is ready to migrate. */
    readonly migrateAfterS: number | undefined;
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
    readonly strategy: {
      /** The strategy to run; `full` with lazy_pages arrives here as `lazy` (see config/schema.ts). */
      readonly mode: string;
      /** A fixed number of pre-dump rounds, or 'auto': the adaptive rule decides (strategies/precopy-policy.ts). */
      readonly predumpIterations: number | 'auto';
      readonly predumpIntervalS: number;
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
  };
  readonly timeouts: Timeouts;
  /** The files the plan was loaded from, lowest precedence first. */
  readonly sources: readonly string[];
}
