// s3: the source uploads each directory as one tar stream (multipart, parts in parallel), the
// destination downloads and unpacks it; both run the AWS CLI on the node, so image data never
// passes through the controller. Objects live under s3_prefix/<run id>/ and are removed after
// the run unless --keep-images. In the lab moto, the AWS emulator, is reached the same way
// through transfer.s3.endpoint_url.
import { z } from 'zod';
import { directoryBytes } from '../criu/images.js';
import { ExternalError } from '../../core/errors.js';
import type { RemoteNode } from '../../core/node.js';
import { tail } from '../remote/ssh.js';
import type { RunContext } from '../run-context.js';
import { ms } from '../units.js';
import { leftoversProblems } from './shared-storage.js';
import { nodeStep, sumOfLeadingNumbers, transferMetrics } from './steps.js';
import { LOCAL_IMAGES, localImageDirs, type Transfer, type TransferItem } from './transfer.js';

type Ctx = Pick<RunContext, 'plan' | 'runId' | 'paths'>;

const DEFAULT_REGION = 'us-east-1';

/** The run's key prefix: s3_prefix/<run id>/, without a leading or doubled slash. */
export function runPrefix(c: Ctx): string {
  const base = c.plan.transfer.s3Prefix.replace(/^\/+|\/+$/g, '');
  return base ? `${base}/${c.runId}/` : `${c.runId}/`;
}

const bucketOf = (c: Ctx): string => c.plan.transfer.s3Bucket ?? '';
const objectUrl = (c: Ctx, item: TransferItem) => `s3://${bucketOf(c)}/${runPrefix(c)}${item.label}.tar`;
const configPath = (c: Ctx) => `${c.paths.sourceControlDir}/aws-config`;
const regionOf = (c: Ctx) => c.plan.transfer.s3.region ?? c.plan.aws?.region ?? DEFAULT_REGION;

/**
 * The AWS CLI config for this run, written to the control dir on both nodes and passed as
 * AWS_CONFIG_FILE: multipart part size and parallelism without touching the node's own config.
 */
export function awsCliConfig(c: Ctx): string {
  const { s3 } = c.plan.transfer;
  const section = s3.profile ? `[profile ${s3.profile}]` : '[default]';
  const part = `${s3.partSizeMb}MB`;
  return [
    section,
    `region = ${regionOf(c)}`,
    's3 =',
    `  max_concurrent_requests = ${s3.maxConcurrency}`,
    `  multipart_chunksize = ${part}`,
    `  multipart_threshold = ${part}`,
    '',
  ].join('\n');
}

/** Where a run's objects are and how the AWS CLI reaches them: what cleanup needs, also from a leftovers record. */
export interface S3Target {
  readonly bucket: string;
  /** The run's key prefix (s3_prefix/<run id>/). */
  readonly prefix: string;
  readonly region: string;
  readonly profile?: string;
  readonly endpointUrl?: string;
}

const targetOf = (c: Ctx): S3Target => {
  const { s3 } = c.plan.transfer;
  return {
    bucket: bucketOf(c),
    prefix: runPrefix(c),
    region: regionOf(c),
    ...(s3.profile ? { profile: s3.profile } : {}),
    ...(s3.endpointUrl ? { endpointUrl: s3.endpointUrl } : {}),
  };
};

/** `aws` with the given config file, profile and endpoint; the S3 arguments follow. */
const awsArgvFor = (target: S3Target, config: string, args: readonly string[]): string[] => [
  'env',
  `AWS_CONFIG_FILE=${config}`,
  'aws',
  ...(target.profile ? ['--profile', target.profile] : []),
  ...(target.endpointUrl ? ['--endpoint-url', target.endpointUrl] : []),
  ...args,
];

/** `aws` with this run's config, profile and endpoint; the S3 arguments follow. */
export function awsArgv(c: Ctx, ...args: string[]): string[] {
  return awsArgvFor(targetOf(c), configPath(c), args);
}

// Values reach bash as positional parameters, never pasted into the script.
const UPLOAD_SCRIPT = 'set -o pipefail; dir=$1; shift; tar -C "$dir" -cf - . | "$@" && du -sb "$dir"';
const DOWNLOAD_SCRIPT = 'set -o pipefail; dir=$1; shift; mkdir -p "$dir" && "$@" | tar -C "$dir" -xf -';

export const uploadArgv = (c: Ctx, item: TransferItem) => [
  'bash',
  '-c',
  UPLOAD_SCRIPT,
  'bash',
  item.from,
  ...awsArgv(c, 's3', 'cp', '--only-show-errors', '-', objectUrl(c, item)),
];
export const downloadArgv = (c: Ctx, item: TransferItem) => [
  'bash',
  '-c',
  DOWNLOAD_SCRIPT,
  'bash',
  item.to,
  ...awsArgv(c, 's3', 'cp', '--only-show-errors', objectUrl(c, item), '-'),
];
const headBucketArgv = (c: Ctx) => awsArgv(c, 's3api', 'head-bucket', '--bucket', bucketOf(c));
const removeArgv = (target: S3Target, config: string) =>
  awsArgvFor(target, config, ['s3', 'rm', '--only-show-errors', '--recursive', `s3://${target.bucket}/${target.prefix}`]);

function where(c: Ctx): string {
  return c.plan.transfer.s3.endpointUrl ? `at ${c.plan.transfer.s3.endpointUrl}` : `in AWS S3 (${regionOf(c)})`;
}

/** Both nodes must reach the bucket before anything is frozen. */
async function checkBucket(ctx: RunContext, node: RemoteNode): Promise<void> {
  const timeoutMs = ms(ctx.plan.timeouts.commandS);
  await node.run(['mkdir', '-p', '-m', '700', ctx.paths.sourceControlDir], { step: 's3 prepare', timeoutMs, signal: ctx.signal });
  await node.writeFile(configPath(ctx), awsCliConfig(ctx), 0o600);
  const head = await node.run(headBucketArgv(ctx), { check: false, step: 's3 prepare', timeoutMs, signal: ctx.signal });
  if (head.exitCode === 0) return;
  const why = tail(head.stderr || head.stdout, 3).trim();
  if (head.exitCode === 127)
    throw new ExternalError(`the AWS CLI (aws) is not installed on ${node.name}; run scripts/setup-host.sh there (it installs awscli)`, {
      node: node.name,
      step: 's3 prepare',
    });
  throw new ExternalError(
    `transfer.s3_bucket: bucket '${bucketOf(ctx)}' is not reachable from ${node.name} ${where(ctx)}: ${why}; set transfer.s3_bucket (or AWS_S3_BUCKET) to a bucket the nodes can write`,
    { node: node.name, step: 's3 prepare', command: headBucketArgv(ctx).join(' '), exitCode: head.exitCode },
  );
}

/** Removes the run's objects, from whichever node is given: a minimal config (region only) is written for it, as the run's may be gone. */
async function removeObjects(node: RemoteNode, target: S3Target, controlDir: string, timeoutMs: number): Promise<void> {
  const config = `${controlDir}/aws-config-cleanup`;
  await node.run(['mkdir', '-p', '-m', '700', controlDir], { check: false, idempotent: true, step: 's3 cleanup', timeoutMs });
  await node.writeFile(config, `${target.profile ? `[profile ${target.profile}]` : '[default]'}\nregion = ${target.region}\n`, 0o600);
  await node.run(removeArgv(target, config), { idempotent: true, step: 's3 cleanup', timeoutMs });
}

// What a leftovers record may name: cleanup passes these to the AWS CLI as root, so each is a plain word of its kind.
const leftoversSchema = z.object({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,62}$/, 'must be a bucket name'),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9._/-]*[A-Za-z0-9._-]+\/$/, 'must be a key prefix ending in /')
    .refine((p) => !p.split('/').includes('..'), 'must not climb with ..'),
  region: z.string().regex(/^[a-z0-9-]+$/, 'must be a region name'),
  profile: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be a profile name')
    .optional(),
  endpointUrl: z
    .string()
    .regex(/^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._/-]*)?$/, 'must be an http(s) URL')
    .optional(),
});

export const s3Transfer: Transfer = {
  name: 's3',
  capabilities: LOCAL_IMAGES,

  imageDirs: localImageDirs,

  open(ctx, { remember } = {}) {
    const target = targetOf(ctx);
    return {
      name: 's3',
      capabilities: LOCAL_IMAGES,

      async prepare() {
        // Recorded before the first object can exist, so `criu-lab cleanup` finds them after a crash.
        if (!ctx.plan.transfer.keepImages) await remember?.({ ...target });
        // Both checked at once; the source's problem is reported first, whichever answers first.
        const checks = await Promise.allSettled([checkBucket(ctx, ctx.source), checkBucket(ctx, ctx.destination)]);
        const failed = checks.find((c): c is PromiseRejectedResult => c.status === 'rejected');
        if (failed) throw failed.reason;
      },

      async move(items) {
        const uploads = await Promise.all(items.map((item) => nodeStep(ctx, ctx.source, `upload ${item.label}`, uploadArgv(ctx, item))));
        const downloads = await Promise.all(
          items.map((item) =>
            nodeStep(ctx, ctx.destination, `download ${item.label}`, downloadArgv(ctx, item), () => directoryBytes(ctx.destination, item.to)),
          ),
        );
        const bytes = uploads.map(({ result }) => sumOfLeadingNumbers(result.stdout));
        const steps = [...uploads.map(({ step }, i) => ({ ...step, bytes: bytes[i] })), ...downloads.map(({ step }, i) => ({ ...step, bytes: bytes[i] }))];
        return transferMetrics(
          's3',
          bytes.reduce((a, b) => a + b, 0),
          steps,
        );
      },

      async cleanup() {
        if (ctx.plan.transfer.keepImages || !ctx.plan.transfer.s3Bucket) return;
        await ctx.source.run(removeArgv(target, configPath(ctx)), { check: false, timeoutMs: ms(ctx.plan.timeouts.commandS) });
      },
    };
  },

  checkLeftovers: (leftovers) => leftoversProblems(leftoversSchema, leftovers),

  async cleanLeftovers({ nodes, leftovers, paths, commandTimeoutMs }) {
    if (Object.keys(leftovers).length === 0) return;
    const target = leftoversSchema.parse(leftovers);
    const node = nodes.source ?? nodes.destination;
    if (node) await removeObjects(node, target, paths.sourceControlDir, commandTimeoutMs);
  },
};
