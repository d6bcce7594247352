// What a run has put on its nodes, written to <results>/leftovers.json as the effects happen, so
// `criu-lab cleanup <results dir>` can reconnect and remove them when the controller died first.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { cleanNode } from './cleanup.js';
import { UsageError } from '../core/errors.js';
import { connectPlanNode, type ConnectionPlan } from './remote/connect.js';
import type { RemoteNode, Role } from '../core/node.js';
import type { RunPaths } from './run-context.js';
import { transfers } from './transfers/registry.js';
import type { TransferLeftovers } from './transfers/transfer.js';
import { ms } from './units.js';
import { OUTPUT_FILE } from '../workloads/payload-files.js';

export const LEFTOVERS_FILE = 'leftovers.json';

const ROLES: readonly Role[] = ['source', 'destination'];

export interface LeftoversRecord {
  readonly runId: string;
  /** How to reach the nodes again: addresses, key, pinned host keys, bastion, timeouts. */
  readonly connection: ConnectionPlan;
  readonly paths: RunPaths;
  readonly transfer: string;
  /** What the transfer's session said it leaves (objects, a stage dir on a mount, a volume's move), checked by the method itself. */
  readonly transferLeftovers?: TransferLeftovers;
  /** The workload's PID (it leads its own session) once it has started. */
  readonly workloadPid?: number;
  /** Nodes the run may have changed (from the deploy on), and those cleaned since. */
  readonly touched: readonly Role[];
  readonly cleaned: readonly Role[];
}

/** The run's side: the record, rewritten (by rename, so never torn) on every change, one write at a time. */
export class LeftoversLog {
  private record: LeftoversRecord;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly path: string,
    record: LeftoversRecord,
  ) {
    this.record = record;
  }

  static async create(resultsDir: string, record: Omit<LeftoversRecord, 'touched' | 'cleaned'>): Promise<LeftoversLog> {
    const log = new LeftoversLog(join(resultsDir, LEFTOVERS_FILE), { ...record, touched: [], cleaned: [] });
    await log.update({});
    return log;
  }

  update(change: Partial<Pick<LeftoversRecord, 'workloadPid' | 'touched' | 'transferLeftovers'>>): Promise<void> {
    this.record = { ...this.record, ...change };
    return this.flush();
  }

  markCleaned(role: Role): Promise<void> {
    this.record = { ...this.record, cleaned: [...new Set([...this.record.cleaned, role])] };
    return this.flush();
  }

  private flush(): Promise<void> {
    const text = `${JSON.stringify(this.record, null, 2)}\n`;
    this.writing = this.writing.then(async () => {
      await writeFile(`${this.path}.tmp`, text);
      await rename(`${this.path}.tmp`, this.path);
    });
    return this.writing;
  }
}

/** `<workload>_<yyyymmdd>_<hhmmss>[_<n>]` (results.ts makeRunId; workload names are a-z, 0-9 and _). */
export const RUN_ID = /^[a-z0-9_]+_\d{8}_\d{6}(?:_\d+)?$/;

/** An absolute path of plain segments (no `.`, `..` or empty ones) whose last segment is `last`: inside the run's own directory. */
const runDir = (runId: string, last: string) =>
  z.string().refine(
    (path) =>
      /^\/[A-Za-z0-9._/-]+$/.test(path) &&
      path
        .split('/')
        .slice(1)
        .every((s) => s !== '' && s !== '.' && s !== '..') &&
      path.endsWith(`/${last}`),
    {
      error: (issue) => `${JSON.stringify(issue.input)} is not a directory of run ${runId} (an absolute path ending in /${last})`,
    },
  );

const hostAddress = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.:-]*$/, 'must be an IP address or host name');
const nodeAddress = z.object({ ip: hostAddress, name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'must be a node name') });
const sshUser = z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'must be a user name');
const sshPort = z.number().int().min(1).max(65535);
const localFile = z.string().regex(/^\/\S+$/, 'must be an absolute path on this machine');
const seconds = z.number().positive().max(86_400);
const role = z.enum(ROLES);

const connectionSchema = z.object({
  nodes: z.object({
    sshUser,
    sshKey: localFile,
    sshPort,
    // Without it the controller would take any host key: the record must pin the nodes it sends root commands to.
    knownHosts: localFile,
    bastion: z.object({ ip: hostAddress, name: nodeAddress.shape.name, sshUser, sshPort }).optional(),
    source: nodeAddress,
    destination: nodeAddress,
  }),
  timeouts: z.object({ connectS: seconds, commandS: seconds, readyS: seconds, dumpS: seconds, transferS: seconds, restoreS: seconds, verifyS: seconds }),
});

/** The record as input: a results directory may have been shared or copied, and cleanup runs its contents as root on the nodes. */
function recordSchema(runId: string) {
  return z.object({
    runId: z.string(),
    connection: connectionSchema,
    paths: z.object({
      workDir: runDir(runId, runId),
      sourceImageDir: runDir(runId, runId),
      destImageDir: runDir(runId, runId),
      sourceControlDir: runDir(runId, `${runId}.ctl`),
      scriptDir: runDir(runId, runId),
      dataDir: runDir(runId, runId),
    }),
    transfer: z.string().refine((name) => transfers.has(name), { error: `must be a transfer method (${transfers.names().join(', ')})` }),
    transferLeftovers: z.record(z.string(), z.unknown()).optional(),
    workloadPid: z.number().int().min(2).max(4_194_304).optional(),
    touched: z.array(role),
    cleaned: z.array(role),
  });
}

/** Parses a leftovers record, or says every field that is wrong; nothing in it is used before it passes. */
export function parseLeftovers(text: string, path: string): LeftoversRecord {
  const fix = `fix: pass the results directory of a run this controller made, with its ${LEFTOVERS_FILE} as the run wrote it`;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not JSON`, [`${(error as Error).message}; ${fix}`]);
  }
  const runId = (raw as { runId?: unknown } | null)?.runId;
  if (typeof runId !== 'string' || !RUN_ID.test(runId))
    throw new UsageError(`${path} is not a run's leftovers record; nothing was run on the nodes`, [
      `runId: ${JSON.stringify(runId)} is not a run id (<workload>_<yyyymmdd>_<hhmmss>); ${fix}`,
    ]);
  const parsed = recordSchema(runId).safeParse(raw);
  if (!parsed.success)
    throw new UsageError(`${path} is not a run's leftovers record; nothing was run on the nodes`, [
      ...parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`),
      fix,
    ]);
  // The method checks its own part: what it names is passed to commands run as root.
  const transferProblems = transfers.get(parsed.data.transfer).checkLeftovers(parsed.data.transferLeftovers);
  if (transferProblems.length > 0)
    throw new UsageError(`${path} is not a run's leftovers record; nothing was run on the nodes`, [
      ...transferProblems.map((p) => `transferLeftovers.${p}`),
      fix,
    ]);
  const { connection, ...record } = parsed.data;
  // Trusting unknown host keys is never taken from a record: only cleanup's own flag turns it on.
  return { ...record, runId, connection: { ...connection, nodes: { ...connection.nodes, bastion: connection.nodes.bastion, trustUnknownHostKeys: false } } };
}

export async function readLeftovers(resultsDir: string): Promise<LeftoversRecord> {
  const path = join(resultsDir, LEFTOVERS_FILE);
  if (!existsSync(path)) throw new UsageError(`${resultsDir} has no ${LEFTOVERS_FILE}; pass the results directory of a run (results/<workload>_<timestamp>…)`);
  return parseLeftovers(await readFile(path, 'utf8'), path);
}

/** The logs a run collects, fetched only when the run did not get to it. */
function logsOf(record: LeftoversRecord, role: Role): { remote: string; local: string }[] {
  const { paths } = record;
  return role === 'source'
    ? [
        { remote: `${paths.sourceImageDir}/dump.log`, local: 'source/criu-dump.log' },
        { remote: `${paths.workDir}/${OUTPUT_FILE}`, local: 'source/payload.out' },
      ]
    : [
        { remote: `${paths.destImageDir}/restore.log`, local: 'dest/criu-restore.log' },
        { remote: `${paths.destImageDir}/page-server.log`, local: 'dest/criu-page-server.log' },
        { remote: `${paths.workDir}/${OUTPUT_FILE}`, local: 'dest/payload.out' },
      ];
}

async function collectMissingLogs(resultsDir: string, record: LeftoversRecord, role: Role, node: RemoteNode): Promise<void> {
  for (const log of logsOf(record, role))
    if (!existsSync(join(resultsDir, log.local))) await node.download(log.remote, join(resultsDir, log.local)).catch(() => undefined);
}

export interface CleanupReport {
  /** The results directory, marked `_failed` if the run never wrote its metrics. */
  readonly resultsDir: string;
  readonly cleaned: readonly string[];
  readonly failures: readonly string[];
}

/**
 * `criu-lab cleanup`: for each node the run touched and did not clean, collect the logs still
 * missing, end the run's processes (the workload's whole session, CRIU, rsync), remove its
 * directories and its transfer key. Idempotent: a node already clean is left alone.
 */
export async function cleanLeftovers(resultsDir: string, note: (message: string) => void, trustUnknownHostKeys = false): Promise<CleanupReport> {
  let record = await readLeftovers(resultsDir);
  const cleaned: string[] = [];
  const failures: string[] = [];
  const pending = ROLES.filter((role) => record.touched.includes(role) && !record.cleaned.includes(role));
  if (pending.length === 0) note(`${record.runId}: nothing left on the nodes`);
  const nodes: Partial<Record<Role, RemoteNode>> = {};
  try {
    for (const role of pending) {
      try {
        // Trusting unknown host keys is this command's own choice (--trust-unknown-host-keys), never the record's: results dirs get copied and edited.
        nodes[role] = await connectPlanNode({ ...record.connection, nodes: { ...record.connection.nodes, trustUnknownHostKeys } }, role);
      } catch (error) {
        failures.push(`${record.connection.nodes[role].name} (${role}): ${(error as Error).message}`);
      }
    }
    // The method's debris first (its objects, its stage dir, the volume brought back), while the run's directories still hold what it needs.
    let transferCleaned = true;
    if (Object.keys(nodes).length > 0)
      try {
        await transfers.get(record.transfer).cleanLeftovers({
          runId: record.runId,
          paths: record.paths,
          nodes,
          leftovers: record.transferLeftovers ?? {},
          commandTimeoutMs: ms(record.connection.timeouts.commandS),
        });
      } catch (error) {
        transferCleaned = false;
        failures.push(`${record.transfer} (the transfer's leftovers): ${(error as Error).message}`);
      }
    for (const role of pending) {
      const node = nodes[role];
      if (!node) continue;
      const name = record.connection.nodes[role].name;
      try {
        await collectMissingLogs(resultsDir, record, role, node);
        await cleanNode(node, record.runId, record.paths, record.workloadPid);
        // A node whose transfer leftovers failed stays pending, so the next cleanup tries them again.
        if (!transferCleaned) continue;
        record = { ...record, cleaned: [...record.cleaned, role] };
        await writeFile(join(resultsDir, LEFTOVERS_FILE), `${JSON.stringify(record, null, 2)}\n`);
        cleaned.push(name);
        note(
          `${record.runId}: ${name} (${role}) cleaned: processes ended, ${record.paths.workDir} and the image directories removed, ${record.transfer} leftovers removed`,
        );
      } catch (error) {
        failures.push(`${name} (${role}): ${(error as Error).message}`);
      }
    }
  } finally {
    await Promise.all(Object.values(nodes).map((node) => node.close()));
  }
  let finalDir = resultsDir;
  if (failures.length === 0 && !existsSync(join(resultsDir, 'metrics.json')) && !/_(failed|exception)$/.test(basename(resultsDir))) {
    finalDir = `${resultsDir.replace(/\/+$/, '')}_failed`;
    await rename(resultsDir, finalDir);
    note(`the run never finished: marked ${finalDir}`);
  }
  return { resultsDir: finalDir, cleaned, failures };
}
