// servers.yaml, the one file between infra and the experiments: `lab up` and `infra deploy`
// write it, the config reads it as a layer. Its schema lives here once; the writers type what
// they write with ServersDocument and the config schema is built from the same parts.
import { z } from 'zod';

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** An IP address (v4 or v6) or a host name. */
export const host = z.string().refine((v) => z.ipv4().safeParse(v).success || z.ipv6().safeParse(v).success || HOST.test(v), {
  message: 'is not an IP address or host name',
});

export const absolutePath = z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, 'must be an absolute path of letters, digits and . _ - /');

/** An optional setting where an empty string (an unset `${VAR:-}`) means unset. */
export const optionalText = (schema: z.ZodType<string>) => z.preprocess((v) => (v === '' ? undefined : v), schema.optional());

export const sshUser = z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'must be a user name');

/** A node the experiments reach: nodes.source, nodes.destination. */
export const nodeAddress = z.object({ ip: host, name: z.string().min(1).optional() });

/** The jump host in front of the nodes (the AWS stack's bastion, the lab's on `--bastion`). */
export const bastionAddress = z.object({ ip: host, name: z.string().min(1).default('bastion'), ssh_user: z.string().optional() });

/** Every node by zone (`az_a`, `az_c`, ...): `--placement` picks the pair from here. */
export const allNodes = z.record(z.string(), z.array(z.looseObject({ ip: host, name: z.string().min(1), instance_id: z.string().min(1).optional() })));

/** The AWS stack the nodes belong to, written by `infra deploy`. */
export const awsStack = z.object({
  region: z.string().min(1),
  stack: z.string().min(1),
  ebs_volumes: z.record(z.string(), z.string()).default({}),
  // For the record: transfer.s3_bucket and the EFS mount carry what a run uses.
  bucket: z.string().optional(),
  efs_id: z.string().optional(),
  /** With `market: spot`: the FIS experiment template `criu-lab watch --fis` starts. */
  fis_template_id: z.string().optional(),
});

/** Which lab wrote the file: `lab status` and `lab down` read it; a run does not. */
export const labRecord = z.looseObject({
  name: z.string().min(1),
  backend: z.string().optional(),
  bridge: z.string().optional(),
  state_dir: z.string().optional(),
});

/** The transfer targets a servers.yaml names (the stack's bucket and mounts, the lab's storage node); the config adds the rest of `transfer:`. */
export const transferTargets = {
  s3_bucket: optionalText(z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name')),
  s3_prefix: z.string().regex(/^[A-Za-z0-9._\/-]*$/, 'must be an S3 key prefix of letters, digits and . _ - /'),
  efs_mount: absolutePath,
  ebs_mount: absolutePath,
  s3_endpoint_url: optionalText(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })),
  s3_profile: optionalText(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must be an AWS CLI profile name')),
  ebs_volume: optionalText(z.string().regex(/^(vol-[0-9a-f]+|\/dev\/[A-Za-z0-9._\/-]+)$/, 'must be an EC2 volume id (vol-…) or a block device path (/dev/…)')),
} as const;

export const serversSchema = z.object({
  nodes: z.object({
    ssh_user: sshUser.optional(),
    ssh_key: z.string().min(1),
    known_hosts: z.string().min(1).optional(),
    bastion: bastionAddress.optional(),
    source: nodeAddress,
    destination: nodeAddress,
  }),
  all_nodes: allNodes.optional(),
  aws: awsStack.optional(),
  lab: labRecord.optional(),
  transfer: z
    .object({
      s3_bucket: transferTargets.s3_bucket,
      s3_prefix: transferTargets.s3_prefix.optional(),
      s3: z.object({ endpoint_url: transferTargets.s3_endpoint_url, profile: transferTargets.s3_profile }).optional(),
      efs_mount: transferTargets.efs_mount.optional(),
      ebs_mount: transferTargets.ebs_mount.optional(),
      ebs: z.object({ volume: transferTargets.ebs_volume }).optional(),
    })
    .optional(),
});

/** A servers.yaml as its writers build it (defaults not yet applied). */
export type ServersDocument = z.input<typeof serversSchema>;
