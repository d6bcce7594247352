// What efs and ebs share: images that already live on the storage move with it; any other
// directory (the work dir) is copied onto the storage on the source and off it on the
// destination, through a staging directory next to the run's images.
import { z } from 'zod';
import { ExternalError } from '../../core/errors.js';
import type { TransferMetrics } from '../metrics.js';
import type { RemoteNode } from '../../core/node.js';
import type { RunContext } from '../run-context.js';
import { ms } from '../units.js';
import { copyArgv } from './staging.js';
import { nodeStep, sumOfLeadingNumbers, transferMetrics, type TimedStep } from './steps.js';
import type { TransferItem } from './transfer.js';

const isUnder = (path: string, root: string) => path === root || path.startsWith(`${root.replace(/\/+$/, '')}/`);

/** Splits the items into those on the storage already (same path on both nodes, under `root`) and those to copy through it. */
export function splitItems(items: readonly TransferItem[], root: string): { onStorage: TransferItem[]; staged: TransferItem[] } {
  const onStorage = items.filter((i) => i.from === i.to && isUnder(i.from, root));
  return { onStorage, staged: items.filter((i) => !onStorage.includes(i)) };
}

export const stageDir = (root: string, runId: string): string => `${root.replace(/\/+$/, '')}/${runId}.stage`;

// Values reach sh as positional parameters, never pasted into the script.
const FLUSH_SCRIPT = 'root=$1; shift; sync -f "$root" && if [ $# -gt 0 ]; then du -sb "$@"; fi';

/** On the source: copies each staged item to <stage>/<label>; prints the bytes staged. */
export const stageArgv = (stage: string, items: readonly TransferItem[]) =>
  copyArgv(
    items.map((i) => ({ from: `${i.from}/.`, to: `${stage}/${i.label}` })),
    stage,
  );
/** On the destination: copies <stage>/<label> to each item's place. */
export const unstageArgv = (stage: string, items: readonly TransferItem[]) => copyArgv(items.map((i) => ({ from: `${stage}/${i.label}/.`, to: i.to })));
/** Flushes the storage's file system (syncfs) and prints the bytes of the directories on it. */
export const flushArgv = (root: string, dirs: readonly string[]) => ['sh', '-c', FLUSH_SCRIPT, 'sh', root, ...dirs];

/** Fails, naming the setting and every node without it, unless something is mounted at `path` on each node. */
export async function requireMountPoint(ctx: RunContext, nodes: readonly RemoteNode[], setting: string, path: string, fix: string): Promise<void> {
  const step = `${ctx.plan.transfer.method} prepare`;
  const checks = await Promise.all(
    nodes.map((node) => node.run(['mountpoint', '-q', path], { check: false, step, timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal })),
  );
  const missing = nodes.filter((_, i) => checks[i]!.exitCode !== 0).map((node) => node.name);
  if (missing.length > 0)
    throw new ExternalError(`${setting}: nothing is mounted at ${path} on ${missing.join(' and ')}; ${fix}`, { node: missing.join(', '), step });
}

/** How a method gets the flushed storage from the source to the destination (efs: nothing to do; ebs: the volume moves). */
export interface StorageHandOver {
  /** Runs a timed command on a node as one of the transfer's steps; returns its stdout. */
  onNode(node: RemoteNode, name: string, argv: readonly string[]): Promise<string>;
  /** Records a step timed elsewhere (an AWS call on the controller). */
  record(step: TimedStep): void;
}

/** stage (source) → flush (source) → hand over → unstage (destination), each a timed step. */
export async function moveThroughStorage(
  ctx: RunContext,
  root: string,
  items: readonly TransferItem[],
  handOver: (steps: StorageHandOver) => Promise<void> = async () => {},
): Promise<TransferMetrics> {
  const stage = stageDir(root, ctx.runId);
  const { onStorage, staged } = splitItems(items, root);
  const steps: TimedStep[] = [];
  const onNode = async (node: RemoteNode, name: string, argv: readonly string[], counted = false) => {
    const { step, result } = await nodeStep(ctx, node, name, argv);
    steps.push(counted ? { ...step, bytes: sumOfLeadingNumbers(result.stdout) } : step);
    return result.stdout;
  };
  let bytes = staged.length > 0 ? sumOfLeadingNumbers(await onNode(ctx.source, 'stage', stageArgv(stage, staged), true)) : 0;
  bytes += sumOfLeadingNumbers(
    await onNode(
      ctx.source,
      'flush',
      flushArgv(
        root,
        onStorage.map((i) => i.from),
      ),
      true,
    ),
  );
  await handOver({ onNode: (node, name, argv) => onNode(node, name, argv), record: (step) => steps.push(step) });
  if (staged.length > 0) await onNode(ctx.destination, 'unstage', unstageArgv(stage, staged));
  return transferMetrics(ctx.plan.transfer.method, bytes, steps);
}

/** A mount path as a leftovers record may name it: absolute, plain segments (cleanup removes below it as root). */
export const mountPathSchema = z.string().refine(
  (path) =>
    /^\/[A-Za-z0-9._/-]+$/.test(path) &&
    path
      .split('/')
      .slice(1)
      .every((s) => s !== '' && s !== '.' && s !== '..'),
  'must be an absolute path of plain segments',
);

/** Removes the run's staging directory on the storage, from each node given (on shared storage one is enough, but a volume may be mounted on either). */
export async function removeStage(nodes: readonly RemoteNode[], root: string, runId: string, timeoutMs: number): Promise<void> {
  await Promise.all(nodes.map((node) => node.run(['rm', '-rf', stageDir(root, runId)], { check: false, timeoutMs, idempotent: true, step: 'cleanup' })));
}

/** The problems of a leftovers part, each with its key; none for an empty part (a record from before sessions). */
export function leftoversProblems(schema: z.ZodType, leftovers: unknown): string[] {
  if (leftovers === undefined || (typeof leftovers === 'object' && leftovers !== null && Object.keys(leftovers).length === 0)) return [];
  const parsed = schema.safeParse(leftovers);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}
