// The original framework's pre-dump settings, through fake nodes (no soft-dirty tracking here):
// its start-to-start interval (predump_interval_from: start) and sync_after_predump on shared storage.
import { describe, expect, it } from '@jest/globals';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Plan } from '../../experiments/config/plan.js';
import { dryRun } from '../../experiments/pipeline.js';
import { predumpStrategy } from '../../experiments/strategies/predump.js';
import { transfers } from '../../experiments/transfers/registry.js';
import { FakeWorld, contextFor, flag, planWith, recordingTransfer, statsImage } from './strategies-fakes.js';

const RUN = 'memory_20261126_000000';
const SRC = `/srv/criu-lab/img/${RUN}`;
const DST = `/srv/dest/${RUN}`;
const PID = 4242;

function world(): FakeWorld {
  const w = new FakeWorld((_node, argv) => (argv[0] === 'kill' && argv[1] === '-0' ? { exitCode: 1 } : undefined));
  for (const n of [1, 2, 3]) w.files.set(`${SRC}/${n}/stats-dump`, statsImage('dump', { pages_scanned: 1000, pages_written: 100 }));
  w.files.set(`${DST}/final/stats-dump`, statsImage('dump', { frozen_time: 1000, pages_written: 10 }));
  w.files.set(`${DST}/final/stats-restore`, statsImage('restore', { restore_time: 1000 }));
  return w;
}

function plan(strategy: Partial<Plan['checkpoint']['strategy']>, intervalS: number): Plan {
  const base = planWith([
    flag('checkpoint.strategy.mode', 'predump'),
    flag('checkpoint.strategy.predump_iterations', 3),
    flag('checkpoint.strategy.predump_interval', intervalS),
    flag('transfer.dest_dir', '/srv/dest'),
  ]);
  return { ...base, checkpoint: { ...base.checkpoint, strategy: { ...base.checkpoint.strategy, ...strategy } } };
}

/** Runs three rounds whose pre-dumps take `predumpMs` of real time; returns the real start time of each round. */
async function roundStarts(p: Plan, predumpMs: number): Promise<number[]> {
  const w = world();
  const ctx = contextFor(p, w);
  const starts: number[] = [];
  const source = ctx.source;
  const slowSource = {
    ...source,
    run: async (argv: readonly string[], options?: Parameters<typeof source.run>[1]) => {
      if (argv[1] === 'pre-dump') {
        starts.push(performance.now());
        await sleep(predumpMs);
      }
      return source.run(argv, options);
    },
  };
  await predumpStrategy.migrate({ ...ctx, source: slowSource }, recordingTransfer(w), PID);
  return starts;
}

const gaps = (starts: readonly number[]) => starts.slice(1).map((t, i) => t - starts[i]!);

describe('predump_interval_from', () => {
  it("'end' (criu-lab's default) waits the interval after each pre-dump ends: rounds start interval + pre-dump apart", async () => {
    for (const gap of gaps(await roundStarts(plan({ predumpIntervalFrom: 'end' }, 1), 800))) expect(gap).toBeGreaterThanOrEqual(1780);
  });

  it("'start' (the original's) counts the interval from each pre-dump's start: rounds start the interval apart", async () => {
    // 1 s apart, not the 1.8 s of 'end': the bound leaves half a second for a loaded machine (CI saw +270 ms at a 300 ms interval).
    for (const gap of gaps(await roundStarts(plan({ predumpIntervalFrom: 'start' }, 1), 800))) {
      expect(gap).toBeGreaterThanOrEqual(990);
      expect(gap).toBeLessThan(1500);
    }
  });
});

describe('sync_after_predump', () => {
  const syncs = async (transferName: string, syncAfterPredump: boolean) => {
    const w = world();
    const transfer = { ...recordingTransfer(w), name: transferName, capabilities: transfers.get(transferName).capabilities };
    const result = await predumpStrategy.migrate(contextFor(plan({ syncAfterPredump }, 0), w), transfer, PID);
    return { calls: w.argvs('n1', 'sync'), rounds: result.predump!.iterations };
  };

  it('syncs each round on the source after it is shipped, when the images go to efs or ebs', async () => {
    for (const method of ['efs', 'ebs']) {
      const { calls, rounds } = await syncs(method, true);
      expect(calls).toEqual([1, 2, 3].map((n) => ['sync', '-f', `${SRC}/${n}`]));
      expect(rounds.every((r) => r.syncMs !== undefined)).toBe(true);
    }
  });

  it('does not sync over rsync or s3, nor when it is off', async () => {
    expect((await syncs('rsync', true)).calls).toEqual([]);
    expect((await syncs('s3', true)).calls).toEqual([]);
    expect((await syncs('efs', false)).calls).toEqual([]);
  });

  it('shows the sync in a dry run', async () => {
    const efs = planWith([
      flag('checkpoint.strategy.mode', 'predump'),
      flag('checkpoint.strategy.predump_iterations', 3),
      flag('checkpoint.strategy.sync_after_predump', true),
      flag('transfer.method', 'efs'),
    ]);
    const { steps } = await dryRun(efs);
    const root = `${efs.transfer.efsMount}/memory_<timestamp>`;
    expect(steps.filter((s) => s.command.startsWith('sync -f ')).map((s) => s.command)).toEqual([1, 2, 3].map((n) => `sync -f '${root}/${n}'`));
  });
});
