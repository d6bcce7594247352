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
      readonly mode: string;
      readonly predumpIterations: number;
      readonly predumpIntervalS: number;
      readonly lazyPages: boolean;
      readonly pageServerPort: number;
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
  };
  readonly workload: {
    readonly type: string;
    readonly params: Readonly<Record<string, unknown>>;
  };
  readonly timeouts: Timeouts;
  /** The files the plan was loaded from, lowest precedence first. */
  readonly sources: readonly string[];
}
