// The schema of a merged configuration (the seed's snake_case keys) and its mapping to a Plan.
import { z } from 'zod';
import { numeric } from '../../workloads/workload.js';
import { strategies } from '../strategies/registry.js';
import { transfers } from '../transfers/registry.js';
import { workloads } from '../../workloads/registry.js';

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const host = z.string().refine((v) => z.ipv4().safeParse(v).success || z.ipv6().safeParse(v).success || HOST.test(v), {
  message: 'is not an IP address or host name',
});
const port = numeric(z.number().int().min(1).max(65535));
const absolutePath = z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, 'must be an absolute path of letters, digits and . _ - /');
const seconds = (fallback: number) => numeric(z.number().positive().max(86_400)).default(fallback);
const oneOf = (names: () => string[], what: string) =>
  z.string().refine((v) => names().includes(v), { error: (issue) => `unknown ${what} '${String(issue.input)}'; choose one of: ${names().join(', ')}` });

const address = z.object({ ip: host, name: z.string().min(1).optional() });

/** Where the two nodes of a migration sit: one availability zone, or two. */
export const PLACEMENTS = ['same-az', 'cross-az'] as const;
export type Placement = (typeof PLACEMENTS)[number];

export const configSchema = z.object({
  experiment: z
    .object({
      name: z.string().min(1).default('default-experiment'),
      workload_type: z.string().optional(),
      save_metrics: z.boolean().default(true),
      results_dir: z.string().min(1).default('results'),
      migrate_after: numeric(z.number().nonnegative().max(86_400)).optional(),
      placement: z.enum(PLACEMENTS, { error: `must be one of: ${PLACEMENTS.join(', ')}` }).optional(),
    })
    .prefault({}),
  nodes: z.object({
    ssh_user: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'must be a user name').default('root'),
    ssh_key: z.string().min(1),
    ssh_port: port.default(22),
    known_hosts: z.string().min(1).optional(),
    bastion: z.object({ ip: host, name: z.string().min(1).default('bastion'), ssh_user: z.string().optional(), ssh_port: port.optional() }).optional(),
    source: address,
    destination: address,
  }),
  /** Every node by zone (servers.yaml from `lab up` or the AWS deploy); --placement picks the pair from here. */
  all_nodes: z.record(z.string(), z.array(z.looseObject({ ip: host, name: z.string().min(1) }))).optional(),
  checkpoint: z
    .object({
      dirs: z.object({ working_dir: absolutePath.default('/srv/criu-lab/work'), checkpoint_dir: absolutePath.default('/srv/criu-lab/img') }).prefault({}),
      strategy: z
        .object({
          mode: oneOf(() => strategies.names(), 'checkpoint strategy').default('full'),
          predump_iterations: numeric(z.number().int().min(0).max(100)).default(8),
          predump_interval: seconds(10),
          lazy_pages: z.boolean().default(false),
          page_server_port: port.default(27000),
        })
        .prefault({}),
    })
    .prefault({}),
  transfer: z
    .object({
      method: oneOf(() => transfers.names(), 'transfer method').default('rsync'),
      dest_dir: absolutePath.default('/srv/criu-lab/img'),
      s3_bucket: z.string().optional(),
      s3_prefix: z.string().default('criu-checkpoints'),
      efs_mount: absolutePath.default('/mnt/efs'),
      ebs_mount: absolutePath.default('/mnt/ebs'),
      rsync: z.object({ cipher: z.string().regex(/^[a-z0-9@.-]+$/).default('aes128-gcm@openssh.com'), compress: z.boolean().default(false) }).prefault({}),
    })
    .prefault({}),
  workload: z.looseObject({ type: oneOf(() => workloads.names(), 'workload').optional() }).prefault({}),
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

export type RawConfig = z.infer<typeof configSchema>;
