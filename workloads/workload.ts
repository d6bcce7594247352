// The Workload seam: what the controller needs to know about a payload to start it on a
// node, checkpoint it, move it and prove afterwards that it goes on correctly.
import { z } from 'zod';

/** One workload parameter: its YAML key under `workload:`, its CLI flag and its schema with the seed's default. */
export interface WorkloadParam {
  readonly key: string;
  readonly flag: string;
  readonly description: string;
  readonly schema: z.ZodType;
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
  /** The per-run working directory on the node; the payload files are uploaded here. */
  readonly workDir: string;
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
