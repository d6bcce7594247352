// The schema of a merged configuration (the seed's snake_case keys); plan.ts maps it to a Plan.
// It takes the registries' names as lookups (load.ts binds them), so the Plan's type, derived
// from it, does not import the strategies, transfers and workloads that read a Plan.
import { z } from 'zod';
import { numeric } from '../../workloads/workload.js';
import { DEADLINES_S } from '../metrics.js';
import { profileNames } from '../../core/profiles.js';
import { absolutePath, allNodes, awsStack, bastionAddress, labRecord, optionalText, serversSchema, sshUser, transferTargets } from '../../core/servers.js';

const port = numeric(z.number().int().min(1).max(65535));
const seconds = (fallback: number) => numeric(z.number().positive().max(86_400)).default(fallback);
const oneOf = (names: () => string[], what: string) =>
  z.string().refine((v) => names().includes(v), { error: (issue) => `unknown ${what} '${String(issue.input)}'; choose one of: ${names().join(', ')}` });

/** Where the two nodes of a migration sit: one availability zone, or two. */
export const PLACEMENTS = ['same-az', 'cross-az'] as const;
export type Placement = (typeof PLACEMENTS)[number];

/** transfer.rsync.cipher: the ciphers OpenSSH 9 offers (`ssh -Q cipher`, without the CBC ones it no longer enables). */
export const SSH_CIPHERS = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr',
  'aes192-ctr',
  'aes256-ctr',
] as const;

/** logging.level: criu-lab's verbosity. */
export const LOG_LEVELS = ['debug', 'info', 'warning', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** experiment.trigger: when the migration starts (see MigrationTrigger in plan.ts). */
export const TRIGGERS = ['warm', 'ready', 'wait', 'rss'] as const;

/** The notice a migration plans for: a provider's, or a number of seconds (custom). */
type Deadline = { name: 'aws' | 'gcp' | 'custom'; seconds: number };

/** The names the registries hold, looked up when a config is checked (a script workload registers late). */
export interface RegisteredNames {
  readonly workloads: () => string[];
  readonly strategies: () => string[];
  readonly transfers: () => string[];
}

/** The keys of `workload:` every workload has. */
export const workloadKeysSchemaOf = (names: RegisteredNames) =>
  z.object({
    type: oneOf(names.workloads, 'workload').optional(),
    /** A preset of the workload's file (`presets:` in config/workloads/<type>.yaml), between that file and the -c file. */
    preset: z.string().min(1).optional(),
    /** A standalone script of the original framework, run as a workload of its own (relative to the file that names it). */
    script: z.string().min(1).optional(),
    /** Its own flags, after --working_dir. */
    script_args: z.array(z.union([z.string(), z.number(), z.boolean()])).optional(),
    readiness: z
      .object({
        file_path: z
          .string()
          .regex(/^[A-Za-z0-9._-]+$/, 'must be a file name in the working dir (letters, digits, . _ -)')
          .default('checkpoint_ready'),
      })
      .prefault({}),
  });

export const configSchemaOf = (names: RegisteredNames) =>
  z.object({
    experiment: z
      .object({
        name: z.string().min(1).default('default-experiment'),
        /** Which wins for nodes and all_nodes: the -c file (criu-lab) or servers.yaml (the original framework). */
        servers_precedence: z
          .enum(['config', 'servers'], { error: 'must be config (the -c file wins) or servers (servers.yaml wins, as in the original framework)' })
          .default('config'),
        workload_type: z.string().optional(),
        description: z.string().optional(),
        /** The original's metrics format is written here too (relative to the working directory). */
        metrics_file: optionalText(z.string()),
        save_metrics: z.boolean().default(true),
        /** Unknown keys are errors instead of warnings (also --strict). */
        strict: z.boolean().default(false),
        results_dir: z.string().min(1).default('results'),
        migrate_after: numeric(z.number().nonnegative().max(86_400)).optional(),
        /** Unset: migrate_after, else target_memory_mb, else wait_before_dump decide, else warm. */
        trigger: z.enum(TRIGGERS, { error: `must be one of: ${TRIGGERS.join(', ')}` }).optional(),
        cleanup: z.boolean().default(true),
        placement: z.enum(PLACEMENTS, { error: `must be one of: ${PLACEMENTS.join(', ')}` }).optional(),
        /** A lab bandwidth profile (config/profiles.yaml) the links carry during the run; applied by `lab up --profile` or a sweep. */
        profile: oneOf(() => profileNames(), 'bandwidth profile').optional(),
      })
      .prefault({}),
    // servers.yaml's part of the config (core/servers.ts), with what only a -c file or a flag sets.
    nodes: serversSchema.shape.nodes.extend({
      ssh_user: sshUser.default('root'),
      ssh_port: port.default(22),
      trust_unknown_host_keys: z.boolean().default(false),
      bastion: bastionAddress.extend({ ssh_port: port.optional() }).optional(),
    }),
    /** Every node by zone (servers.yaml from `lab up` or the AWS deploy); --placement picks the pair from here. */
    all_nodes: allNodes.optional(),
    checkpoint: z
      .object({
        dirs: z.object({ working_dir: absolutePath.default('/srv/criu-lab/work'), checkpoint_dir: absolutePath.default('/srv/criu-lab/img') }).prefault({}),
        strategy: z
          .object({
            mode: oneOf(names.strategies, 'checkpoint strategy').default('full'),
            predump_iterations: z
              .union([z.literal('auto'), numeric(z.number().int().min(0).max(100))], { error: "must be a whole number of pre-dumps (0 to 100) or 'auto'" })
              .default(8),
            // 0 = the next pre-dump right after the previous one has shipped.
            predump_interval: numeric(z.number().nonnegative().max(86_400)).default(10),
            // 'end' = from one pre-dump's end to the next one's start; 'start' = start to start (the original).
            predump_interval_from: z.enum(['end', 'start'], { error: 'must be end or start' }).default('end'),
            sync_after_predump: z.boolean().default(false),
            // The original's triggers: seconds before a full dump, or an RSS to wait for (see experiment.trigger).
            wait_before_dump: numeric(z.number().nonnegative().max(86_400)).optional(),
            target_memory_mb: numeric(
              z
                .number()
                .int()
                .positive()
                .max(1 << 24),
            ).optional(),
            lazy_pages: z.boolean().default(false),
            page_server_port: port.default(27000),
            tls: z.boolean().default(true),
            deadline: z
              .union([z.enum(['aws', 'gcp']), numeric(z.number().positive().max(86_400))], { error: 'must be a provider (aws, gcp) or a number of seconds' })
              .default('aws')
              .transform((d): Deadline => (typeof d === 'number' ? { name: 'custom', seconds: d } : { name: d, seconds: DEADLINES_S[d] })),
          })
          .superRefine((strategy, ctx) => {
            if (strategy.mode === 'pageserver' && strategy.lazy_pages)
              ctx.addIssue({
                code: 'custom',
                path: ['lazy_pages'],
                message:
                  'cannot be combined with mode pageserver (lazy pages stream memory from the source after the restore instead); use mode lazy, or mode predump with lazy_pages',
              });
          })
          // How mode and lazy_pages combine: lazy_pages turns the final dump of full (the seed's
          // --lazy-pages) into the lazy strategy and that of predump into a lazy one after the
          // pre-dumps (the seed's lazy_pages.yaml); mode lazy implies lazy_pages.
          .transform((strategy) =>
            strategy.mode === 'full' && strategy.lazy_pages
              ? { ...strategy, mode: 'lazy' }
              : strategy.mode === 'lazy'
                ? { ...strategy, lazy_pages: true }
                : strategy,
          )
          .prefault({}),
      })
      .prefault({}),
    transfer: z
      .object({
        method: oneOf(names.transfers, 'transfer method').default('rsync'),
        dest_dir: absolutePath.default('/srv/criu-lab/img'),
        s3_bucket: transferTargets.s3_bucket,
        s3_prefix: transferTargets.s3_prefix.default('criu-checkpoints'),
        efs_mount: transferTargets.efs_mount.default('/mnt/efs'),
        ebs_mount: transferTargets.ebs_mount.default('/mnt/ebs'),
        /** How many rsyncs move a directory at once, its files split between them by size (rsync only). */
        streams: numeric(z.number().int().min(1).max(16, 'must be 1 to 16 rsyncs at once')).default(1),
        /** false: rsync talks to a daemon started for the run on the destination's address, unencrypted (rsync only). */
        encrypt: z.boolean().default(true),
        rsync: z
          .object({
            cipher: z.enum(SSH_CIPHERS, { error: `must be an OpenSSH cipher: ${SSH_CIPHERS.join(', ')}` }).default('aes128-gcm@openssh.com'),
            compress: z.boolean().default(false),
            /** The TCP port of the run's rsync daemon (transfer.encrypt false) on the destination. */
            daemon_port: port.default(28873),
          })
          .prefault({}),
        keep_images: z.boolean().default(false),
        s3: z
          .object({
            endpoint_url: transferTargets.s3_endpoint_url,
            profile: transferTargets.s3_profile,
            region: optionalText(z.string().regex(/^[a-z0-9-]+$/, 'must be a region name such as us-west-2')),
            part_size_mb: numeric(z.number().int().min(5).max(5120)).default(16),
            max_concurrency: numeric(z.number().int().min(1).max(64)).default(10),
          })
          .prefault({}),
        ebs: z
          .object({
            volume: transferTargets.ebs_volume,
            wait_s: seconds(300),
          })
          .prefault({}),
      })
      .prefault({})
      .superRefine((transfer, ctx) => {
        // Streams and the unencrypted daemon are rsync's; another method would ignore them silently.
        if (transfer.method !== 'rsync') {
          if (transfer.streams !== 1)
            ctx.addIssue({ code: 'custom', path: ['streams'], message: `applies to transfer.method rsync only, not ${transfer.method}; leave it at 1` });
          if (!transfer.encrypt)
            ctx.addIssue({ code: 'custom', path: ['encrypt'], message: `false applies to transfer.method rsync only, not ${transfer.method}; leave it true` });
        }
        if (transfer.method === 's3' && !transfer.s3_bucket)
          ctx.addIssue({ code: 'custom', path: ['s3_bucket'], message: 'is required for transfer.method s3; set transfer.s3_bucket or export AWS_S3_BUCKET' });
      }),
    /** The AWS stack the nodes belong to (servers.yaml from `criu-lab infra deploy`). */
    aws: awsStack.optional(),
    /** Which lab wrote servers.yaml (`lab status` and `lab down` read it); a run does not. */
    lab: labRecord.optional(),
    // Besides these, `workload:` takes the chosen workload's own parameters (checked against its schema).
    workload: workloadKeysSchemaOf(names).loose().prefault({}),
    /** Where payloads and their data go on the nodes; unset = the run's working dir. */
    paths: z.object({ scripts_dir: absolutePath.optional(), data_dir: absolutePath.optional() }).prefault({}),
    migration: z
      .object({
        /** Which checks decide the outcome: the process runs on the destination; the workload's data is intact. */
        success_criteria: z.object({ process_running: z.boolean().default(true), data_integrity_check: z.boolean().default(true) }).prefault({}),
      })
      .prefault({}),
    logging: z
      .object({
        // The original writes DEBUG/INFO/WARNING/ERROR; any case is accepted.
        level: z
          .preprocess(
            (v) => (typeof v === 'string' ? v.toLowerCase() : v),
            z.enum(LOG_LEVELS, { error: `must be one of: ${LOG_LEVELS.join(', ')} (any case)` }),
          )
          .default('info'),
      })
      .prefault({}),
    timeouts: z
      .object({
        connect_s: seconds(20),
        command_s: seconds(60),
        ready_s: seconds(600),
        dump_s: seconds(600),
        transfer_s: seconds(1800),
        restore_s: seconds(600),
        verify_s: seconds(120),
      })
      .prefault({}),
  });

export type RawConfig = z.infer<ReturnType<typeof configSchemaOf>>;
