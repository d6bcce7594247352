// Fakes at the edge for the strategy unit tests: nodes that record every argv and answer from a
// script, a transfer that records what it was asked to move, and CRIU stats images to read back.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadPlan, type ConfigOverride } from '../../experiments/config/load.js';
import type { Plan } from '../../experiments/config/plan.js';
import { ExternalError } from '../../core/errors.js';
import { throughputMiBps, type TransferMetrics } from '../../experiments/metrics.js';
import { createProgress } from '../../experiments/progress.js';
import type { CommandResult, RemoteNode, RunOptions } from '../../core/node.js';
import { PhaseLog, type RunContext } from '../../experiments/run-context.js';
import { runPaths } from '../../experiments/transfers/registry.js';
import type { TransferItem, TransferSession } from '../../experiments/transfers/transfer.js';
import { workloads } from '../../workloads/registry.js';

const root = resolve(import.meta.dirname, '../..');

let servers: string | undefined;

/** A servers.yaml for nodes n1 (10.9.0.11) → n2 (10.9.0.12), with a key file that exists (nothing connects); one per test file. */
export function serversFile(): string {
  if (servers) return servers;
  const dir = mkdtempSync(join(tmpdir(), 'criu-lab-strategies-'));
  const key = join(dir, 'id_test');
  writeFileSync(key, 'not really a key');
  servers = join(dir, 'servers.yaml');
  writeFileSync(servers, `nodes:\n  ssh_key: ${key}\n  source: { ip: 10.9.0.11, name: n1 }\n  destination: { ip: 10.9.0.12, name: n2 }\n`);
  return servers;
}

/** A plan for n1 → n2 with the given flags, over an experiment file if one is named. */
export function planWith(overrides: readonly ConfigOverride[], configFile?: string): Plan {
  return loadPlan({ projectRoot: root, serversFile: serversFile(), env: {}, cwd: root, overrides, ...(configFile ? { configFile } : {}) }).plan;
}

export const flag = (path: string, value: unknown): ConfigOverride => ({ path, value, flag: `--${path}` });

/** Every command any fake node ran, in order, with the fake clock at its start. */
export interface Call {
  readonly node: string;
  readonly argv: readonly string[];
  readonly atMs: number;
}

export type Answer = Partial<Pick<CommandResult, 'exitCode' | 'stdout' | 'stderr'>> & { readonly durationMs?: number };

/** Shared by the fake nodes of one test: the call log, the clock (epoch ms), and the files. */
export class FakeWorld {
  readonly calls: Call[] = [];
  readonly files = new Map<string, Buffer>();
  nowMs = Date.UTC(2026, 10, 26);
  constructor(readonly answer: (node: string, argv: readonly string[]) => Answer | undefined = () => undefined) {}

  node(name: string, ip: string): RemoteNode {
    const world = this;
    return {
      name,
      ip,
      hostKey: 'ssh-ed25519 AAAAfake',
      async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
        const answer = world.answer(name, argv) ?? {};
        const startedAtMs = world.nowMs;
        const durationMs = answer.durationMs ?? 100;
        world.nowMs += durationMs;
        world.calls.push({ node: name, argv, atMs: startedAtMs });
        const result: CommandResult = {
          node: name,
          argv,
          exitCode: answer.exitCode ?? 0,
          stdout: answer.stdout ?? '',
          stderr: answer.stderr ?? '',
          durationMs,
          ...(options.timed ? { nodeTiming: { startedAtMs, durationMs } } : {}),
        };
        if ((options.check ?? true) && result.exitCode !== 0)
          throw new ExternalError(`${argv[0]} failed on ${name}`, { node: name, exitCode: result.exitCode });
        return result;
      },
      async readFile(path: string) {
        const file = world.files.get(path);
        if (!file) throw new ExternalError(`no ${path} on ${name}`);
        return file;
      },
      async writeFile(path: string, content: string | Buffer) {
        world.files.set(path, Buffer.from(content));
      },
      async upload() {},
      async download() {},
      async close() {},
    };
  }

  /** The argv of every call on `node` whose argv starts with `prefix`. */
  argvs(node: string, ...prefix: string[]): (readonly string[])[] {
    return this.calls.filter((c) => c.node === node && prefix.every((word, i) => c.argv[i] === word)).map((c) => c.argv);
  }
}

/** A transfer session that records what it was asked to move (and when) and reports `bytesPerMove`. */
export function recordingTransfer(
  world: FakeWorld,
  bytesPerMove = 4096 * 1000,
): TransferSession & { readonly moves: { readonly items: readonly TransferItem[]; readonly atMs: number }[] } {
  const moves: { items: readonly TransferItem[]; atMs: number }[] = [];
  return {
    name: 'recording',
    capabilities: { handsStorageOver: false, imagesOnSharedStorage: false },
    moves,
    async prepare() {},
    async move(items): Promise<TransferMetrics> {
      moves.push({ items, atMs: world.nowMs });
      world.nowMs += 50;
      world.calls.push({ node: 'transfer', argv: ['move', ...items.map((i) => i.label)], atMs: world.nowMs });
      return { method: 'recording', bytes: bytesPerMove, durationMs: 50, throughputMBps: throughputMiBps(bytesPerMove, 50), steps: [] };
    },
    async cleanup() {},
  };
}

export function contextFor(plan: Plan, world: FakeWorld, runId = 'memory_20261126_000000'): RunContext {
  return {
    plan,
    runId,
    paths: runPaths(plan, runId),
    workload: workloads.get(plan.workload.type),
    source: world.node('n1', '10.9.0.11'),
    destination: world.node('n2', '10.9.0.12'),
    phases: new PhaseLog(),
    progress: createProgress(process.stderr, true),
    signal: new AbortController().signal,
  };
}

const DUMP_FIELD = {
  freezing_time: 1,
  frozen_time: 2,
  memdump_time: 3,
  memwrite_time: 4,
  pages_scanned: 5,
  pages_skipped_parent: 6,
  pages_written: 7,
} as const;
const RESTORE_FIELD = { restore_time: 4, pages_restored: 5 } as const;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = BigInt(value);
  do {
    const low = Number(rest & 0x7fn);
    rest >>= 7n;
    bytes.push(rest > 0n ? low | 0x80 : low);
  } while (rest > 0n);
  return bytes;
}

/** A stats-dump or stats-restore image as CRIU writes it (service magic, stats magic, length, stats_entry). */
export function statsImage(kind: 'dump', counters: Partial<Record<keyof typeof DUMP_FIELD, number>>): Buffer;
export function statsImage(kind: 'restore', counters: Partial<Record<keyof typeof RESTORE_FIELD, number>>): Buffer;
export function statsImage(kind: 'dump' | 'restore', counters: Record<string, number>): Buffer {
  const fields: Record<string, number> = kind === 'dump' ? DUMP_FIELD : RESTORE_FIELD;
  const inner = Object.entries(counters).flatMap(([name, value]) => [...varint(fields[name]! << 3), ...varint(value)]);
  const entry = [...varint(((kind === 'dump' ? 1 : 2) << 3) | 2), ...varint(inner.length), ...inner];
  const header = Buffer.alloc(12);
  header.writeUInt32LE(0x55105940, 0);
  header.writeUInt32LE(0x57093306, 4);
  header.writeUInt32LE(entry.length, 8);
  return Buffer.concat([header, Buffer.from(entry)]);
}
