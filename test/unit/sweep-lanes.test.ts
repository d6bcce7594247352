// Lanes (`fresh: per-cell` with `parallel: N`) without AWS: which lanes a sweep uses and the stack
// each derives from infra.yaml (prefix, zones, files), the estimate pricing lane stacks, the cost
// meter counting stacks up at once, and the runner on fake lanes (cells brought up at once, one
// lane's deploy failing only its cell, resuming). test/infra/sweep-lanes-moto.test.ts deploys them.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ExternalError, UsageError } from '../../core/errors.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { Registry } from '../../core/registry.js';
import { loadPriceTable } from '../../infra/aws/prices.js';
import { parseInfraProps } from '../../infra/aws/props.js';
import type { BackendFactory } from '../../experiments/sweep/backends/backend.js';
import { CostMeter } from '../../experiments/sweep/budget.js';
import { estimateSweep, formatEstimate, infraForEstimate } from '../../experiments/sweep/estimate.js';
import { runsOf } from '../../experiments/sweep/expand.js';
import { laneFiles, laneInfraConfig, lanePrefix, lanesFor, laneZoneSizes, shouldRetireLane, staleLanes, usesLanes } from '../../experiments/sweep/lanes.js';
import { createSweepProgress } from '../../experiments/sweep/progress.js';
import { runSweep, type SweepOptions } from '../../experiments/sweep/runner.js';
import { loadSweepSpec, type SweepSpec } from '../../experiments/sweep/spec.js';
import { SweepStore, type SweepState } from '../../experiments/sweep/state.js';

const OPERATOR = { operator_cidr: '198.51.100.7/32', public_key: 'ssh-ed25519 AAAA x', private_key_path: '~/.ssh/x' };
let dir: string;

function sweepFile(lines: readonly string[]): SweepSpec {
  const file = join(dir, `sweep-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return loadSweepSpec(file, { resultsDir: join(dir, 'results') }, dir);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-lanes-unit-'));
});

describe('which lanes a sweep uses', () => {
  it('puts cells on lanes only when each cell recreates its infra and several may run at once', () => {
    expect(usesLanes({ fresh: 'per-cell', parallel: 2, deadline: undefined })).toBe(true);
    expect(usesLanes({ fresh: 'per-cell', parallel: 1, deadline: undefined })).toBe(false);
    expect(usesLanes({ fresh: 'never', parallel: 2, deadline: undefined })).toBe(false);
    expect(usesLanes({ fresh: 'per-cell', parallel: 2, deadline: { sizePath: 'workload.max_memory', low: 1, high: 2, resolution: 1, deadlinesS: [30] } })).toBe(
      false,
    );
  });

  it('uses parallel lanes, never more than there are cells to run, and removes what lanes beyond left', () => {
    expect(lanesFor(2, 5)).toEqual([0, 1]);
    expect(lanesFor(4, 3)).toEqual([0, 1, 2]);
    expect(lanesFor(3, 0)).toEqual([0]);
    expect(staleLanes([3, 0, 1, 2], [0, 1])).toEqual([2, 3]);
  });

  it('takes a lane whose deploy failed out while another lane takes cells', () => {
    expect(shouldRetireLane([0, 1], [], 1)).toBe(true);
    expect(shouldRetireLane([0, 1], [0], 1)).toBe(false);
    expect(shouldRetireLane([0], [], 0)).toBe(false);
  });
});

describe("a lane's stack, derived from infra.yaml", () => {
  it('is named <prefix>-<k> within the 20 characters a prefix may have', () => {
    expect(lanePrefix('criu-lab', 0)).toBe('criu-lab-0');
    expect(lanePrefix('criu-lab', 15)).toBe('criu-lab-15');
    // Shortened, the dash it would end on dropped; still a valid prefix.
    expect(lanePrefix('criu-lab-experiments', 3)).toBe('criu-lab-experimen-3');
    expect(lanePrefix('abcdefghijklmnopq-rs', 1)).toBe('abcdefghijklmnopq-1');
    for (const prefix of ['criu-lab-experiments', 'abcdefghijklmnopq-rs', 'ab'])
      for (const lane of [0, 9, 15]) expect(parseInfraProps({ ...OPERATOR, prefix: lanePrefix(prefix, lane) }).prefix).toBe(lanePrefix(prefix, lane));
  });

  it("fails, naming the prefix key, when a lane's name would be the operator's own stack", () => {
    expect(() => lanePrefix('abcdefghijklmnopqr-1', 1)).toThrow(UsageError);
    expect(() => lanePrefix('abcdefghijklmnopqr-1', 1)).toThrow(/the stack of the infra config itself/);
    expect(lanePrefix('abcdefghijklmnopqr-1', 2)).toBe('abcdefghijklmnopqr-2');
  });

  it('holds one node pair per placement the sweep runs, whatever infra.yaml deploys', () => {
    expect(laneZoneSizes(['same-az'])).toEqual([2, 1]);
    expect(laneZoneSizes(['cross-az'])).toEqual([1, 1]);
    expect(laneZoneSizes(['same-az', 'cross-az'])).toEqual([2, 1]);
    expect(laneZoneSizes([])).toEqual([2, 1]);
  });

  it("keeps every other setting of the operator's, so the lane deploys what they configured", () => {
    const settings = {
      ...OPERATOR,
      prefix: 'study',
      market: 'spot',
      node_instance_type: 'c5.large',
      zones: [
        { az: 'b', nodes: 4 },
        { az: 'd', nodes: 3 },
      ],
    };
    const config = laneInfraConfig(settings, parseInfraProps(settings), 1, ['cross-az']);
    expect(config).toEqual({
      ...settings,
      prefix: 'study-1',
      zones: [
        { az: 'b', nodes: 1 },
        { az: 'd', nodes: 1 },
      ],
    });
    const lane = parseInfraProps(config);
    expect(lane.zones.map((z) => [z.availabilityZone, z.nodeCount])).toEqual([
      ['us-west-2b', 1],
      ['us-west-2d', 1],
    ]);
  });

  it('keeps its state, outputs, servers.yaml and log under lanes/<k>/ of the sweep', () => {
    const files = laneFiles('/r/sweeps/s', 1);
    expect(files).toEqual({
      lane: 1,
      dir: '/r/sweeps/s/lanes/1',
      config: '/r/sweeps/s/lanes/1/infra.yaml',
      state: '/r/sweeps/s/lanes/1/terraform.tfstate',
      cdktfOut: '/r/sweeps/s/lanes/1/cdktf.out',
      outputs: '/r/sweeps/s/lanes/1/infra.outputs.json',
      servers: '/r/sweeps/s/lanes/1/servers.yaml',
      log: '/r/sweeps/s/lanes/1/infra.log',
    });
  });
});

describe('the cost of lanes', () => {
  it('prices N lane stacks of one pair per placement, not N copies of infra.yaml', () => {
    const infra = join(dir, 'infra-4x4.yaml');
    writeFileSync(infra, `operator_cidr: 198.51.100.7/32\nzones: [{ az: a, nodes: 4 }, { az: c, nodes: 4 }]\n`);
    const spec = sweepFile([
      'name: lanes-priced',
      'settings: { experiment.placement: cross-az }',
      'matrix: { workload.max_memory: [128, 256, 512] }',
      'fresh: per-cell',
      'parallel: 2',
      `infra: { backend: aws, aws: { config: ${infra} } }`,
    ]);
    const estimate = estimateSweep(spec, { prices: loadPriceTable(join(PACKAGE_ROOT, 'config', 'prices.yaml')), infra: infraForEstimate(spec) });
    const nodeHours = (s: typeof estimate.planned) => s.costs[0]!.lines.find((l) => l.instanceType === 'm5.4xlarge')!.instanceHours!;
    expect(estimate.planned.lanes).toBe(true);
    // Two nodes (one cross-az pair) per lane stack, for the stack-hours of every cell's stack.
    expect(nodeHours(estimate.planned)).toBeCloseTo(2 * estimate.planned.stackHours, 6);
    // One at a time, per-cell recreates infra.yaml's 8 nodes.
    expect(estimate.serial.lanes).toBe(false);
    expect(nodeHours(estimate.serial)).toBeCloseTo(8 * estimate.serial.stackHours, 6);
    expect(estimate.planned.wallMs).toBeLessThan(estimate.serial.wallMs);
    expect(formatEstimate(estimate).join('\n')).toContain('as planned, 2 lanes at once (a stack each, one node pair per placement)');
  });
});

describe('the runner on lanes (fake lanes, no nodes)', () => {
  interface LaneEvents {
    readonly log: string[];
    /** Lanes whose deploy is in flight now, and the most at once. */
    deploying: number;
    mostAtOnce: number;
    /** Each run that reached its lane's nodes, with the node it would migrate from. */
    readonly reached: { key: string; lane: number; source: string }[];
  }

  /** Lanes whose `up` takes a while and writes the lane's servers.yaml (made-up nodes 10.<k>.0.x), whose runs stop before any migration. */
  function fakeLanes(failingUp: (lane: number) => boolean = () => false): { backends: Registry<BackendFactory>; events: LaneEvents } {
    const events: LaneEvents = { log: [], deploying: 0, mostAtOnce: 0, reached: [] };
    const factory: BackendFactory = {
      name: 'aws',
      create: () => {
        throw new Error('a sweep on lanes brings up no infra but its lanes');
      },
      createLane: (spec, lane) => {
        const files = laneFiles(spec.dir, lane);
        return {
          name: 'aws',
          serversPath: files.servers,
          up: async () => {
            events.log.push(`up ${lane}`);
            events.mostAtOnce = Math.max(events.mostAtOnce, ++events.deploying);
            await sleep(30);
            events.deploying -= 1;
            if (failingUp(lane)) throw new ExternalError(`cdktf deploy of stack criu-lab-${lane} failed (exit 1)`);
            mkdirSync(files.dir, { recursive: true });
            writeFileSync(join(files.dir, 'key'), 'not a key\n');
            const node = (n: number) => `{ ip: 10.${lane}.0.${n}, name: n${n} }`;
            writeFileSync(
              files.servers,
              `nodes:\n  ssh_user: root\n  ssh_key: ${join(files.dir, 'key')}\n  source: ${node(1)}\n  destination: ${node(2)}\nall_nodes:\n  az_a: [ ${node(1)}, ${node(2)} ]\n  az_c: [ ${node(3)} ]\n`,
            );
          },
          down: async () => void events.log.push(`down ${lane}`),
          prepareRun: async (plan) => {
            events.reached.push({ key: plan.experiment.resultsDir.split('/').at(-1)!, lane, source: plan.nodes.source.ip });
            throw new ExternalError('no migration in this test: the nodes are made up');
          },
          describe: () => `lane ${lane}`,
        };
      },
    };
    return { backends: new Registry<BackendFactory>('sweep backend').register(factory), events };
  }

  const lanesSweep = (name: string, cells = 4) =>
    sweepFile([
      `name: ${name}`,
      'measure_link: false',
      'settings: { experiment.placement: same-az, workload.mb_size: 8 }',
      `matrix: { workload.max_memory: [${[16, 32, 64, 128, 256].slice(0, cells).join(', ')}] }`,
      'repetitions: 2',
      'fresh: per-cell',
      'parallel: 2',
      'infra: { backend: aws }',
    ]);

  const options = (spec: SweepSpec, backends: Registry<BackendFactory>, extra: Partial<SweepOptions> = {}): SweepOptions => ({
    projectRoot: PACKAGE_ROOT,
    signal: new AbortController().signal,
    progress: createSweepProgress(spec.dir, process.stderr, true),
    backends,
    ...extra,
  });

  const lanesOf = (state: SweepState) => Object.fromEntries(state.runs.map((r) => [r.key, r.lane]));

  it("brings cells up on two lanes at once, each run on its lane's nodes, every lane down after its cell", async () => {
    const spec = lanesSweep('two-lanes');
    const { backends, events } = fakeLanes();
    let now = 0;
    const meter = new CostMeter({ ratePerHourUsd: 1, now: () => now });
    const outcome = await runSweep(spec, options(spec, backends, { cost: meter }));
    expect(outcome.interrupted).toBe(false);
    expect(events.mostAtOnce).toBe(2);
    // Each lane removes what an earlier session may have left, then per cell: up, its runs, down.
    expect(events.log.filter((e) => e.startsWith('up')).length).toBe(4);
    for (const lane of [0, 1]) {
      const own = events.log.filter((e) => e.endsWith(` ${lane}`));
      expect(own[0]).toBe(`down ${lane}`);
      for (let i = 1; i < own.length; i += 2) expect([own[i], own[i + 1]]).toEqual([`up ${lane}`, `down ${lane}`]);
    }
    const state = outcome.state;
    expect(state.lanes).toEqual({ parallel: 2, lanes: 2, dir: join(spec.dir, 'lanes'), retired: [] });
    // Both runs of a cell on one lane, the nodes of that lane's servers.yaml.
    for (const cell of ['16', '32', '64', '128']) expect(lanesOf(state)[`${cell}-r1`]).toBe(lanesOf(state)[`${cell}-r2`]);
    expect(events.reached.length).toBe(8);
    for (const run of events.reached) {
      expect(run.source).toBe(`10.${run.lane}.0.1`);
      expect(lanesOf(state)[run.key]).toBe(run.lane);
    }
    expect(new Set(events.reached.map((r) => r.lane))).toEqual(new Set([0, 1]));
    expect(state.runs.every((r) => r.status === 'failed' && !r.infraFailure)).toBe(true);
    // Every lane metered down: no stack counted once the sweep is over.
    const upMs = meter.upMs;
    now += 3_600_000;
    expect(meter.upMs).toBe(upMs);
  });

  it("fails only the runs of the cell a lane failed to deploy, destroys that lane's stack, and the other lane takes the rest", async () => {
    const spec = lanesSweep('failing-lane');
    const { backends, events } = fakeLanes((lane) => lane === 1);
    const outcome = await runSweep(spec, options(spec, backends));
    const state = outcome.state;
    const failedLane = state.runs.filter((r) => r.lane === 1);
    expect(failedLane.map((r) => r.key)).toEqual(['32-r1', '32-r2']);
    for (const run of failedLane) {
      expect(run).toMatchObject({ status: 'failed', infraFailure: true, attempts: 0 });
      expect(run.error).toContain('cdktf deploy of stack criu-lab-1 failed');
    }
    expect(events.log.filter((e) => e.endsWith(' 1'))).toEqual(['down 1', 'up 1', 'down 1']);
    expect(state.lanes?.retired).toEqual([1]);
    // The other cells all ran on lane 0.
    expect(events.reached.map((r) => r.key).sort()).toEqual(['128-r1', '128-r2', '16-r1', '16-r2', '64-r1', '64-r2']);
    expect(state.runs.filter((r) => r.lane === 0).every((r) => r.status === 'failed' && !r.infraFailure)).toBe(true);

    // Resumable like any failed run: a rerun skips them, --retry-failed brings their cells up again.
    const again = fakeLanes();
    const rerun = await runSweep(spec, options(spec, again.backends));
    expect(rerun.skipped).toBe(8);
    expect(again.events.log.filter((e) => e.startsWith('up'))).toEqual([]);
    const retried = fakeLanes();
    const retry = await runSweep(spec, options(spec, retried.backends, { retryFailed: true }));
    expect(retried.events.reached.length).toBe(8);
    expect(retry.state.runs.every((r) => r.infraFailure === undefined)).toBe(true);
    expect(retry.state.lanes?.retired).toEqual([]);
  });

  it('resumes a killed sweep on lanes: only unfinished cells come up, and a lane no longer used is removed', async () => {
    const spec = lanesSweep('killed-lanes', 3);
    // The state a SIGKILL left: cell 16 done, cell 32 in flight on lane 1, cell 64 not started; a lane 2 from a wider session.
    const store = await SweepStore.open(spec, runsOf(spec));
    const [a1, a2, b1, b2] = store.state.runs;
    Object.assign(a1!, { status: 'ok', lane: 0 });
    Object.assign(a2!, { status: 'ok', lane: 0 });
    Object.assign(b1!, { status: 'running', attempts: 1, lane: 1 });
    Object.assign(b2!, { status: 'pending', lane: 1 });
    await store.save();
    mkdirSync(laneFiles(spec.dir, 2).dir, { recursive: true });

    const { backends, events } = fakeLanes();
    const outcome = await runSweep(spec, options(spec, backends));
    expect(outcome.skipped).toBe(2);
    expect(outcome.redone).toEqual(['32-r1']);
    expect(events.log[0]).toBe('down 2');
    expect(events.log.filter((e) => e.startsWith('up')).sort()).toEqual(['up 0', 'up 1']);
    expect(events.reached.map((r) => r.key).sort()).toEqual(['32-r1', '32-r2', '64-r1', '64-r2']);
    const saved = JSON.parse(readFileSync(join(spec.dir, 'sweep.json'), 'utf8')) as SweepState;
    expect(saved.runs.filter((r) => r.status === 'ok').map((r) => r.key)).toEqual(['16-r1', '16-r2']);
    expect(saved.lanes).toMatchObject({ lanes: 2, retired: [] });
  });
});
