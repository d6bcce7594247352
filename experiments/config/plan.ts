// The typed, frozen result of loading a configuration: everything past the config edge reads
// a Plan and never raw YAML. The Plan's type is derived from toPlan, which maps the schema's
// validated output (config/schema.ts) to it: each setting is spelled in the schema and here.
import { resolve } from 'node:path';
import { expandHome } from '../../core/paths.js';
import type { Placement, RawConfig } from './schema.js';

/** When the migration starts, counted from the workload's ready signal. */
export type MigrationTrigger =
  | { readonly kind: 'warm' } // criu-lab's default: when the workload says it is worth migrating (Workload.readyToMigrate)
  | { readonly kind: 'ready' } // right after the ready signal (the original's start for pre-dumps)
  | { readonly kind: 'wait'; readonly seconds: number } // seconds after ready (experiment.migrate_after, or the original's wait_before_dump)
  | { readonly kind: 'rss'; readonly targetMb: number }; // when the process tree's RSS reaches targetMb MiB (the original's target_memory_mb)

/** A key of the original framework's files that is accepted here with no effect, and why. */
export interface InertKey {
  readonly path: string;
  readonly reason: string;
}

/** The node pair the loader chose (from all_nodes by experiment.placement, or nodes.source/destination with a known placement). */
export interface NodePair {
  readonly source: { readonly ip: string; readonly name: string };
  readonly destination: { readonly ip: string; readonly name: string };
  readonly placement: Placement | undefined;
}

/** What the loader settles beyond one key's value: the merged config, the original's inert keys, the trigger. */
export interface Resolved {
  readonly resolvedConfig: Readonly<Record<string, unknown>>;
  readonly inertKeys: readonly InertKey[];
  readonly trigger: MigrationTrigger;
}

type DeepReadonly<T> = T extends readonly (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export type Plan = DeepReadonly<ReturnType<typeof toPlan>>;

/** The Plan of a validated configuration; paths in it are made absolute against `cwd`. */
export function toPlan(
  raw: RawConfig,
  workloadType: string,
  params: Record<string, unknown>,
  sources: string[],
  cwd: string,
  pair: NodePair | undefined,
  resolved: Resolved,
) {
  const { nodes, checkpoint, transfer, timeouts } = raw;
  return {
    experiment: {
      /** experiment.name (--name/-n). The original names its results dir `<name>_<timestamp>` after it. */
      name: raw.experiment.name,
      description: raw.experiment.description,
      saveMetrics: raw.experiment.save_metrics,
      resultsDir: resolve(cwd, raw.experiment.results_dir),
      /** Absolute path where the original's metrics format is written too (experiment.metrics_file, --output/-o); undefined = not written. */
      metricsFile: raw.experiment.metrics_file === undefined ? undefined : expandHome(raw.experiment.metrics_file, cwd),
      trigger: resolved.trigger,
      /** criu-lab's verbosity (logging.level, --log-level). */
      logLevel: raw.logging.level,
      /** false (--no-cleanup): the restored process and the run's dirs stay on the nodes. */
      cleanup: raw.experiment.cleanup,
      /** Which checks decide the outcome (migration.success_criteria). */
      successCriteria: { processRunning: raw.migration.success_criteria.process_running, dataIntegrity: raw.migration.success_criteria.data_integrity_check },
      /** Keys of the original accepted with no effect here, each with why. */
      inertKeys: resolved.inertKeys,
      /** The merged config after ${VAR}, presets and flags, as recorded in metrics.json. */
      resolvedConfig: resolved.resolvedConfig,
      /** same-az or cross-az when the pair's zones are known (all_nodes), else undefined. */
      placement: pair?.placement,
      /** The lab bandwidth profile (config/profiles.yaml) on the links during the run; undefined = unshaped, or real AWS links. */
      profile: raw.experiment.profile,
    },
    nodes: {
      sshUser: nodes.ssh_user,
      sshKey: expandHome(nodes.ssh_key, cwd),
      sshPort: nodes.ssh_port,
      knownHosts: nodes.known_hosts ? expandHome(nodes.known_hosts, cwd) : undefined,
      /** Connect without known_hosts, accepting any host key (nodes.trust_unknown_host_keys, --trust-unknown-host-keys); recorded in metrics.json. */
      trustUnknownHostKeys: nodes.trust_unknown_host_keys,
      bastion: nodes.bastion
        ? {
            ip: nodes.bastion.ip,
            name: nodes.bastion.name,
            sshUser: nodes.bastion.ssh_user ?? nodes.ssh_user,
            sshPort: nodes.bastion.ssh_port ?? nodes.ssh_port,
          }
        : undefined,
      source: pair?.source ?? { ip: nodes.source.ip, name: nodes.source.name ?? 'source' },
      destination: pair?.destination ?? { ip: nodes.destination.ip, name: nodes.destination.name ?? 'destination' },
    },
    checkpoint: {
      workingDir: checkpoint.dirs.working_dir,
      checkpointDir: checkpoint.dirs.checkpoint_dir,
      /** Where payloads go on the nodes (paths.scripts_dir); undefined = the run's working dir. */
      scriptsDir: raw.paths.scripts_dir,
      /** Where payloads keep their data on the nodes (paths.data_dir); undefined = the run's working dir. */
      dataDir: raw.paths.data_dir,
      strategy: {
        /** The strategy to run; `full` with lazy_pages arrives here as `lazy` (see config/schema.ts). */
        mode: checkpoint.strategy.mode,
        /** A fixed number of pre-dump rounds, or 'auto': the adaptive rule decides (strategies/precopy-policy.ts). */
        predumpIterations: checkpoint.strategy.predump_iterations,
        predumpIntervalS: checkpoint.strategy.predump_interval,
        /** 'end' (criu-lab): the interval runs from one pre-dump's end to the next one's start; 'start' (the original): start to start. */
        predumpIntervalFrom: checkpoint.strategy.predump_interval_from,
        /** Sync each pre-dump round to the shared storage (EFS/EBS) as it is taken. */
        syncAfterPredump: checkpoint.strategy.sync_after_predump,
        /** The final dump serves memory lazily (mode lazy, or predump followed by a lazy dump). */
        lazyPages: checkpoint.strategy.lazy_pages,
        pageServerPort: checkpoint.strategy.page_server_port,
        /** The page-server and lazy-pages streams run over CRIU's TLS with per-run certificates (checkpoint.strategy.tls, --no-tls). */
        tls: checkpoint.strategy.tls,
        /** The notice adaptive pre-copy plans for, and the extra verdict a number of seconds adds. */
        deadline: checkpoint.strategy.deadline,
      },
    },
    transfer: {
      method: transfer.method,
      destDir: transfer.dest_dir,
      s3Bucket: transfer.s3_bucket,
      s3Prefix: transfer.s3_prefix,
      efsMount: transfer.efs_mount,
      ebsMount: transfer.ebs_mount,
      /** rsyncs at once per directory, the files split between them by size (transfer.streams, --streams). */
      streams: transfer.streams,
      /** rsync over SSH (true), or to a per-run rsync daemon on the destination's address in the clear (transfer.encrypt, --no-encrypt). */
      encrypt: transfer.encrypt,
      rsync: { cipher: transfer.rsync.cipher, compress: transfer.rsync.compress, daemonPort: transfer.rsync.daemon_port },
      /** Leave the run's images in the bucket or on the shared storage after the run (--keep-images). */
      keepImages: transfer.keep_images,
      s3: {
        /** An S3-compatible endpoint (the lab's moto); undefined = AWS's own. */
        endpointUrl: transfer.s3.endpoint_url,
        /** The AWS CLI profile the nodes use; undefined = their default credentials (the instance role on AWS). */
        profile: transfer.s3.profile,
        region: transfer.s3.region,
        partSizeMb: transfer.s3.part_size_mb,
        maxConcurrency: transfer.s3.max_concurrency,
      },
      ebs: {
        /** An EC2 volume id (vol-…), or a block device path for a local volume (the lab's loop device); undefined = the source node's volume from servers.yaml. */
        volume: transfer.ebs.volume,
        /** How long one volume state change (detach, attach, snapshot) may take. */
        waitS: transfer.ebs.wait_s,
      },
    },
    /** The AWS stack the nodes belong to (servers.yaml from `criu-lab infra deploy`); undefined on the lab. */
    aws: raw.aws ? { region: raw.aws.region, stack: raw.aws.stack, ebsVolumes: raw.aws.ebs_volumes, fisTemplateId: raw.aws.fis_template_id } : undefined,
    workload: {
      type: workloadType,
      params,
      /** The file the payload writes in its working dir when it is ready (workload.readiness.file_path). */
      readyFile: raw.workload.readiness.file_path,
    },
    timeouts: {
      connectS: timeouts.connect_s,
      commandS: timeouts.command_s,
      readyS: timeouts.ready_s,
      dumpS: timeouts.dump_s,
      transferS: timeouts.transfer_s,
      restoreS: timeouts.restore_s,
      verifyS: timeouts.verify_s,
    },
    /** The files the plan was loaded from, lowest precedence first. */
    sources,
  };
}
