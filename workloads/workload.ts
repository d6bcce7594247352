// The Workload seam: what the controller needs to know about a payload to start it on a
// node, checkpoint it, move it and prove afterwards that it goes on correctly.
import { assetPath } from '../core/package-root.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { RemoteNode } from '../core/node.js';

/** One workload parameter: its YAML key under `workload:`, its CLI flag and its schema with the seed's default. */
export interface WorkloadParam {
  readonly key: string;
  readonly flag: string;
  readonly description: string;
  readonly schema: z.ZodType;
  /** A boolean switch: the bare flag means true. */
  readonly isSwitch?: boolean;
}

/** What a payload writes to its status file (open-write-close, atomically renamed). */
export interface WorkloadStatus {
  readonly pid: number;
  readonly counter: number;
  readonly checksum: string;
  readonly phase: string;
  readonly [key: string]: unknown;
}

/** What the payload writes when it sees `checkpoint_flag` gone: its data re-read from memory. */
export interface WorkloadFinal {
  readonly pid: number;
  readonly counter: number;
  readonly [key: string]: unknown;
}

export interface VerifyEvidence<P> {
  readonly params: P;
  /** The status file as the process was frozen (read after the dump). */
  readonly frozen: WorkloadStatus;
  /** The first status read on the destination right after restore, before any progress was required. */
  readonly restored: WorkloadStatus | undefined;
  /** A status written by the restored process on the destination. */
  readonly resumed: WorkloadStatus;
  /** The final report after `checkpoint_flag` was removed. */
  readonly final: WorkloadFinal;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
}

export interface StartContext<P> {
  readonly params: P;
  /** The per-run working directory on the node. */
  readonly workDir: string;
  /** Where the payload files were uploaded (paths.scripts_dir); @default workDir */
  readonly scriptDir?: string;
}

/** Where a payload file lies on the node: in the scripts dir when one is set, else in the work dir. */
export const payloadPath = (context: Pick<StartContext<unknown>, 'workDir' | 'scriptDir'>, file: string): string =>
  `${context.scriptDir ?? context.workDir}/${file}`;

/** The payload protocol's helpers (checkpoint_ready, checkpoint_flag, the status and final files, the working dir) in one Python module. */
export const PROTOCOL_FILE = assetPath('workloads/payload_protocol.py');
const IMPORTS_PROTOCOL = /^\s*(?:import|from)\s+payload_protocol\b/m;

/** A payload's files to upload: the payload, and payload_protocol.py beside it when the payload imports it (a standalone script gets nothing more). */
export const withProtocol = (payload: string): string[] => (IMPORTS_PROTOCOL.test(readFileSync(payload, 'latin1')) ? [payload, PROTOCOL_FILE] : [payload]);

/** The start of a built-in payload's argv: payload.py (beside the protocol module) under python3, told its working dir; its own flags follow. */
export const pythonPayloadArgv = (context: Pick<StartContext<unknown>, 'workDir' | 'scriptDir'>): string[] => [
  '/usr/bin/python3',
  payloadPath(context, 'payload.py'),
  '--working-dir',
  context.workDir,
];

/** Something a payload needs on a node, named so preflight can say what to install. */
export interface Requirement {
  readonly kind: 'python-module' | 'binary';
  /** The module (`numpy`) or executable (`redis-server`) looked for. */
  readonly name: string;
  /** The Debian package that provides it (`python3-numpy`). */
  readonly debianPackage: string;
}

/**
 * How the controller observes a payload that writes no status file (a script written for the
 * seed's framework): from outside, through /proc and the size of its output.
 */
export interface StatusObserver {
  /** The status as seen on a node; undefined while the process is not there yet. */
  status(node: RemoteNode, workDir: string, readyFile?: string): Promise<WorkloadStatus | undefined>;
  /** Whether `current` shows the restored process going on, given the frozen status and the first one read after restore. */
  progressed(frozen: WorkloadStatus, restored: WorkloadStatus | undefined, current: WorkloadStatus): boolean;
}

export interface Workload<P = Record<string, unknown>> {
  readonly name: string;
  readonly description: string;
  readonly params: readonly WorkloadParam[];
  /** Files (absolute local paths) uploaded into the working directory before start. */
  readonly payloadFiles: readonly string[];
  /** argv that starts the payload; it must write `checkpoint_ready` and the status file in workDir. */
  startArgv(context: StartContext<P>): string[];
  /** CRIU flags this workload needs (redis: --tcp-established). */
  readonly criuFlags: { readonly dump: readonly string[]; readonly restore: readonly string[] };
  /** What the payload needs on both nodes; preflight fails naming the missing package. */
  readonly requires: readonly Requirement[];
  /** Paths on the source node, outside the work dir, that must move with the images (besides the files the tree holds open, found at dump time). */
  moveFiles?(context: StartContext<P>): string[];
  /** Set for payloads without criu-lab's status and final files; they are then observed from outside. */
  readonly observer?: StatusObserver;
  /** Checks across parameters that each parameter's schema cannot make (the original's validate_config); each problem names its key under `workload:`. */
  validate?(params: P): readonly { readonly key: string; readonly message: string; readonly fix: string }[];
  /** When the process is worth migrating (e.g. memory grown to its target); default: as soon as ready. */
  readyToMigrate?(status: WorkloadStatus, params: P): boolean;
  verify(evidence: VerifyEvidence<P>): VerifyResult;
}

/** The zod object for a workload's parameters, keyed by their YAML names. */
export function paramsSchema(workload: Workload): z.ZodObject {
  return z.object(Object.fromEntries(workload.params.map((p) => [p.key, p.schema])));
}

/** Accepts numbers and numeric strings (flags arrive as strings); anything else fails the schema. */
export function numeric<T extends z.ZodNumber>(schema: T) {
  return z.preprocess((value) => (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value) ? Number(value) : value), schema);
}

/** The default of a parameter as its schema supplies it (undefined when it has none). */
export function paramDefault(param: WorkloadParam): unknown {
  const parsed = param.schema.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
}

export const pythonModule = (name: string, debianPackage: string): Requirement => ({ kind: 'python-module', name, debianPackage });
export const binary = (name: string, debianPackage: string): Requirement => ({ kind: 'binary', name, debianPackage });

/** sha256 over hex digests in order: the chained checksum payloads report for a list of immutable units (blocks, segments, chunks). */
export function chainChecksum(digests: readonly string[], count = digests.length): string {
  const hash = createHash('sha256');
  for (const digest of digests.slice(0, count)) hash.update(digest);
  return hash.digest('hex');
}

/** A list of strings from a payload's report, [] when absent or malformed. */
export function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/** Accepts booleans and "true"/"false" (a bare CLI flag arrives as true, a valued one as a string). */
export function flagBoolean() {
  return z.preprocess((value) => (value === 'true' ? true : value === 'false' ? false : value), z.boolean());
}

export function check(name: string, ok: boolean, detail: string): VerifyResult['checks'][number] {
  return { name, ok, detail };
}

/** A verify result that holds only when every check holds. */
export function verdict(checks: VerifyResult['checks']): VerifyResult {
  return { ok: checks.length > 0 && checks.every((c) => c.ok), checks };
}

/**
 * Erases a workload's parameter type for the registry. Safe because the config loader
 * validates `plan.workload.params` with this workload's own `params` schemas before any
 * method sees them.
 */
export function defineWorkload<P>(workload: Workload<P>): Workload<Record<string, unknown>> {
  return workload as unknown as Workload<Record<string, unknown>>;
}
