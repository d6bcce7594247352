// Sweep files, their expansion into runs, the bisection of deadline curves and the resume
// bookkeeping, without a lab (the lab sweep is test/lab/sweep.test.ts).
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { UsageError } from '../../core/errors.js';
import { bisectLargestMeeting, maxProbes, midpoint } from '../../experiments/sweep/bisect.js';
import { cellsOf, runsOf } from '../../experiments/sweep/expand.js';
import { estimateRemainingMs, formatDuration } from '../../experiments/sweep/progress.js';
import { loadSweepSpec, unknownPathProblem } from '../../experiments/sweep/spec.js';
import { SweepStore } from '../../experiments/sweep/state.js';

let dir: string;

function sweepFile(text: string): string {
  const path = join(dir, `sweep-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

function problemsOf(text: string): string[] {
  try {
    loadSweepSpec(sweepFile(text), { resultsDir: join(dir, 'results') }, dir);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return [...(error as UsageError).problems];
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-sweep-unit-'));
});

describe('a sweep file', () => {
  it('crosses the matrix axes and runs the zip lists side by side, repetitions inside a cell', () => {
    const spec = loadSweepSpec(
      sweepFile(`
name: grid
settings: { workload.interval: 0.2 }
matrix:
  checkpoint.strategy.mode: [full]
  workload.max_memory: [128, 256]
zip:
  experiment.placement: [same-az, cross-az]
  experiment.profile: [same-az, cross-az]
repetitions: 3
`),
      { resultsDir: join(dir, 'results') },
      dir,
    );
    const cells = cellsOf(spec);
    expect(cells.map((c) => c.key)).toEqual(['full_128_same-az', 'full_128_cross-az', 'full_256_same-az', 'full_256_cross-az']);
    expect(cells[1]!.label).toBe('mode=full max_memory=128 placement=cross-az profile=cross-az');
    const runs = runsOf(spec);
    expect(runs).toHaveLength(12);
    expect(runs.slice(0, 3).map((r) => r.key)).toEqual(['full_128_same-az-r1', 'full_128_same-az-r2', 'full_128_same-az-r3']);
    expect(runs[0]!.settings).toEqual([
      { path: 'workload.interval', value: 0.2 },
      { path: 'checkpoint.strategy.mode', value: 'full' },
      { path: 'workload.max_memory', value: 128 },
      { path: 'experiment.placement', value: 'same-az' },
      { path: 'experiment.profile', value: 'same-az' },
    ]);
    expect(spec.dir).toBe(join(dir, 'results', 'grid'));
  });

  it('keeps the keys of existing runs when a value is added, so a resume finds them', () => {
    const before = runsOf({ matrix: [{ path: 'workload.max_memory', values: [128, 256] }], zip: [], settings: [], repetitions: 1 }).map((r) => r.key);
    const after = runsOf({ matrix: [{ path: 'workload.max_memory', values: [64, 128, 256] }], zip: [], settings: [], repetitions: 1 }).map((r) => r.key);
    expect(after).toEqual(expect.arrayContaining(before));
  });

  it('reports every problem at once with its dotted path, before anything starts', () => {
    const problems = problemsOf(`
matrix:
  checkpoint.strategy.speed: [fast]
  workload.num_keys: [10]
zip:
  experiment.placement: [same-az, cross-az]
  experiment.profile: [same-az]
fresh: sometimes
`);
    expect(problems).toEqual(['fresh: must be one of: per-cell, per-run, never']);
    const semantic = problemsOf(`
settings: { workload.max_memory: 64, experiment.results_dir: /tmp/x }
matrix:
  checkpoint.strategy.speed: [fast]
  workload.num_keys: [10]
  workload.max_memory: [128]
zip:
  experiment.placement: [same-az, cross-az]
  experiment.profile: [same-az]
infra: { backend: none }
fresh: per-cell
`);
    expect(semantic).toEqual([
      'zip: every list must have the same length (got experiment.placement: 2, experiment.profile: 1)',
      'workload.max_memory: set in settings and matrix; a setting may vary in one place only',
      "experiment.results_dir: the sweep decides where each run's results go (results_dir of the sweep file)",
      'checkpoint.strategy.speed: is not a configuration setting (see the table in README.md)',
      expect.stringMatching(/^workload\.num_keys: workload memory has no parameter 'num_keys'; it has: mb_size, interval, max_memory/),
      'fresh: per-cell needs infra the sweep can recreate (infra.backend lab or aws), not none',
      'infra.servers: backend none runs on existing nodes; name their servers.yaml here or pass --servers',
    ]);
  });

  it('takes any setting of the config schema as an axis: through defaults and transforms, and under records', () => {
    const settings = [
      'checkpoint.strategy.predump_iterations',
      'checkpoint.strategy.deadline',
      'transfer.s3.part_size_mb',
      'logging.level',
      'aws.ebs_volumes.az_a',
    ];
    for (const path of [...settings, 'checkpoint.strategy'])
      expect({ path, problem: unknownPathProblem(path, 'memory') }).toEqual({ path, problem: undefined });
    for (const path of ['checkpoint.strategy.mode.name', 'transfer.s3.speed', 'logging.level.x'])
      expect(unknownPathProblem(path, 'memory')).toBe('is not a configuration setting (see the table in README.md)');
  });

  it('refuses lab bandwidth profiles on AWS, where the placement is real', () => {
    expect(problemsOf('infra: { backend: aws }\nzip: { experiment.profile: [same-az] }\n')).toEqual([
      'experiment.profile: bandwidth profiles emulate placements on the lab; on AWS the placement (experiment.placement) is real',
    ]);
  });

  it('accepts nested config settings and a deadline search over a size', () => {
    expect(
      problemsOf(
        'settings: { transfer.rsync.cipher: aes128-ctr, timeouts.verify_s: 30 }\ndeadline: { size: workload.max_memory, low: 64, high: 1024, resolution: 64 }\n',
      ),
    ).toEqual([]);
  });
});

describe('deadline bisection', () => {
  const range = { low: 64, high: 1024, resolution: 64 };

  it('finds the largest size on the grid that meets the deadline', async () => {
    const probed: number[] = [];
    const result = await bisectLargestMeeting(range, async (size) => {
      probed.push(size);
      return { met: size <= 600, worstMigrationMs: size * 10 };
    });
    expect(result.maxSize).toBe(576);
    expect(result.bound).toBe('within');
    expect(probed.length).toBeLessThanOrEqual(maxProbes(range));
    expect(probed.every((s) => (s - 64) % 64 === 0)).toBe(true);
  });

  it('says when the whole range meets it, or none of it does', async () => {
    expect(await bisectLargestMeeting(range, async () => ({ met: true, worstMigrationMs: 1 }))).toMatchObject({ maxSize: 1024, bound: 'above-high' });
    expect(await bisectLargestMeeting(range, async () => ({ met: false, worstMigrationMs: undefined }))).toMatchObject({
      maxSize: undefined,
      bound: 'below-low',
    });
  });

  it('probes only grid points strictly inside the bracket', () => {
    expect(midpoint(range, 64, 128)).toBeUndefined();
    expect(midpoint(range, 64, 192)).toBe(128);
  });
});

describe('sweep progress', () => {
  it('estimates the remaining time from the runs finished so far', () => {
    expect(estimateRemainingMs([], 5)).toBeUndefined();
    expect(estimateRemainingMs([10_000, 20_000], 4)).toBe(60_000);
    expect(formatDuration(59_400)).toBe('59s');
    expect(formatDuration(125_000)).toBe('2m05s');
  });
});

describe('sweep.json and samples.jsonl', () => {
  it('drops the samples of a run that did not finish, so a redone run is counted once', async () => {
    const spec = loadSweepSpec(sweepFile('name: prune\nmatrix: { workload.max_memory: [64, 128] }\n'), { resultsDir: join(dir, 'results') }, dir);
    const store = await SweepStore.open(spec, runsOf(spec));
    store.state.runs[0]!.status = 'ok';
    store.state.runs[1]!.status = 'running';
    const sample = (run: string) => ({ metric: 'downtime', value: 1, unit: 'ms', metadata: { sweep_run: run }, timestamp: 0 });
    await store.appendSamples([sample('64-r1'), sample('128-r1')]);
    await store.save();
    await store.pruneSamples();
    const lines = readFileSync(store.samplesPath, 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).metadata.sweep_run)).toEqual(['64-r1']);
    const reopened = await SweepStore.open(spec, runsOf(spec));
    expect(reopened.state.runs.map((r) => [r.key, r.status])).toEqual([
      ['64-r1', 'ok'],
      ['128-r1', 'running'],
    ]);
  });
});
