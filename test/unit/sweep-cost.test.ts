// A sweep's cost before it starts and while it runs, without credentials or a lab: the stack's
// hourly rate from config/prices.yaml, the estimate of the placement sweep on AWS (hours, dollars,
// wall time with and without parallel pairs, what fresh adds), the budget refused before anything
// deploys, and the running cost stopping the runner between runs (a fake clock, a fake backend).
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ExternalError, UsageError } from '../../core/errors.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { Registry } from '../../core/registry.js';
import { loadPriceTable, ratePerHour, stackRate } from '../../infra/aws/prices.js';
import { parseInfraProps } from '../../infra/aws/props.js';
import type { BackendFactory } from '../../experiments/sweep/backends/backend.js';
import { BudgetReachedError, CostMeter, parseBudget, refuseOverBudget } from '../../experiments/sweep/budget.js';
import { estimateRecord, prepareSweepCost } from '../../experiments/sweep/cost.js';
import {
  AWS_BAKED_TIMES_MS,
  budgetedUsd,
  estimateSweep,
  formatEstimate,
  INFRA_TIMES_MS,
  infraForEstimate,
  makespanMs,
  modelRunMs,
  RUN_MODEL,
} from '../../experiments/sweep/estimate.js';
import { runsOf } from '../../experiments/sweep/expand.js';
import { createSweepProgress } from '../../experiments/sweep/progress.js';
import { runSweep } from '../../experiments/sweep/runner.js';
import { loadSweepSpec, type SweepSpec } from '../../experiments/sweep/spec.js';
import type { SweepState } from '../../experiments/sweep/state.js';
import { renderReportHtml } from '../../experiments/report/html.js';
import { loadReportInput } from '../../experiments/report/load.js';
import { summaryRows } from '../../experiments/report/summary.js';
import { writeFixtureSweep } from '../report/fixture.js';
import { runCli } from '../support/cli.js';

const PRICES = loadPriceTable(join(PACKAGE_ROOT, 'config', 'prices.yaml'));
const DEFAULT_SETTINGS = { operator_cidr: '198.51.100.7/32', public_key: 'ssh-ed25519 AAAA x', private_key_path: '~/.ssh/x' };
const DEFAULT_PROPS = parseInfraProps(DEFAULT_SETTINGS);
let dir: string;

function placementOnAws(): SweepSpec {
  return loadSweepSpec(join(PACKAGE_ROOT, 'config', 'sweeps', 'placement-aws.yaml'), { resultsDir: join(dir, 'results') }, dir);
}

function sweepFile(lines: readonly string[]): SweepSpec {
  const file = join(dir, `sweep-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return loadSweepSpec(file, { resultsDir: join(dir, 'results') }, dir);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-sweep-cost-'));
});

describe('the price table', () => {
  it('states its date and source and prices spot at a stated share of on-demand', () => {
    expect(PRICES.as_of).toBe('2025');
    expect(PRICES.source).toMatch(/aws\.amazon\.com\/ec2\/pricing\/on-demand/);
    expect(PRICES.spot.share_of_on_demand).toBeGreaterThan(0);
  });

  it('gives the default stack the ≈ $2.43 per hour of the README', () => {
    const lines = stackRate(DEFAULT_PROPS, PRICES);
    expect(lines.find((l) => l.instanceType === 'm5.4xlarge')).toMatchObject({ count: 3, unitPerHour: 0.768, market: 'on-demand' });
    expect(ratePerHour(lines)).toBeCloseTo(2.4258, 3);
  });

  it('scales the nodes, not the bastion or the NAT gateway, with parallel copies of the node set', () => {
    const two = stackRate(DEFAULT_PROPS, PRICES, 2);
    expect(two.find((l) => l.instanceType === 'm5.4xlarge')?.count).toBe(6);
    expect(two.find((l) => l.item === 'NAT gateway')?.count).toBe(1);
    expect(ratePerHour(two) - ratePerHour(stackRate(DEFAULT_PROPS, PRICES))).toBeGreaterThan(3 * 0.768);
  });

  it('refuses an instance type or a region it has no price for, naming the key and the table', () => {
    const noType = parseInfraProps({ ...DEFAULT_SETTINGS, node_instance_type: 'x9.huge' });
    expect(() => stackRate(noType, PRICES)).toThrow(UsageError);
    expect(() => stackRate(noType, PRICES)).toThrow(/x9\.huge/);
    try {
      stackRate(noType, PRICES);
    } catch (error) {
      expect((error as UsageError).problems[0]).toMatch(/^node_instance_type: x9\.huge is not in .*prices\.yaml.*fix: add/);
    }
    const otherRegion = parseInfraProps({ ...DEFAULT_SETTINGS, region: 'eu-west-1' });
    expect(() => stackRate(otherRegion, PRICES)).toThrow(/no prices for region eu-west-1/);
  });
});

describe('the estimate of the placement sweep on AWS', () => {
  it('counts its 24 runs and times each by the stated model', () => {
    const spec = placementOnAws();
    const [first] = runsOf(spec);
    // full, 128 MiB by 64 MiB every 0.2 s: 20 s fixed + 2 × 0.2 s warm-up + 1/8 GiB × 13 s.
    expect(modelRunMs(first!)).toBeCloseTo(RUN_MODEL.fixedMs + 400 + 13_000 / 8, 0);
    const estimate = estimateSweep(spec, { prices: PRICES, infra: infraForEstimate(spec) });
    expect({ runs: estimate.runs, cells: estimate.cells, remaining: estimate.remainingRuns, bound: estimate.runsIsBound }).toEqual({
      runs: 24,
      cells: 8,
      remaining: 24,
      bound: false,
    });
    expect(estimate.model).toMatch(/20 s per run .* 13 s per GiB migrated \(bench\/results\.md section 4/);
  });

  it('prices the stack for the deploy, every run and the destroy, per instance type and market', () => {
    const spec = placementOnAws();
    const estimate = estimateSweep(spec, { prices: PRICES, infra: infraForEstimate(spec) });
    const serial = estimate.serial;
    const runsMs = runsOf(spec).reduce((sum, run) => sum + modelRunMs(run), 0);
    expect(serial.wallMs).toBeCloseTo(20 * 60_000 + runsMs, 0);
    expect(serial.freshWallMs).toBe(20 * 60_000);
    const [onDemand, spot] = serial.costs;
    expect(onDemand?.market).toBe('on-demand');
    expect(spot?.market).toBe('spot');
    const nodes = onDemand!.lines.find((l) => l.instanceType === 'm5.4xlarge')!;
    expect(nodes.instanceHours).toBeCloseTo(3 * serial.stackHours, 6);
    expect(nodes.usd).toBeCloseTo(nodes.instanceHours! * 0.768, 6);
    expect(onDemand!.usd).toBeCloseTo(serial.stackHours * 2.4258, 2);
    expect(spot!.lines.find((l) => l.instanceType === 'm5.4xlarge')!.usd).toBeCloseTo(nodes.usd * 0.35, 6);
    expect(budgetedUsd(estimate)).toBeCloseTo(onDemand!.usd, 6);
  });

  it('shows the wall time with parallel pairs and what each fresh policy adds', () => {
    const spec = placementOnAws();
    const estimate = estimateSweep(spec, { prices: PRICES, infra: infraForEstimate(spec) });
    expect(estimate.parallel.pairs).toBe(2);
    expect(estimate.parallel.wallMs).toBeLessThan(estimate.serial.wallMs);
    const byFresh = Object.fromEntries(estimate.byFresh.map((s) => [s.fresh, s.freshWallMs]));
    expect(byFresh).toEqual({ never: 20 * 60_000, 'per-cell': 8 * 20 * 60_000, 'per-run': 24 * 20 * 60_000 });
    const text = formatEstimate(estimate).join('\n');
    expect(text).toMatch(
      /^estimate for sweep placement-aws: 24 runs in 8 cells, backend aws, fresh never, parallel 1 \(nothing started, no credentials used\)/,
    );
    expect(text).toMatch(/prices: .*config\/prices\.yaml, list prices as of 2025 .*spot at 35 % of on-demand, an assumption/);
    expect(text).toMatch(/m5\.4xlarge on-demand +1\.\d\d h +\$1\.\d\d/);
    expect(text).toMatch(/m5\.4xlarge spot +1\.\d\d h/);
    expect(text).toMatch(/with parallel: 2 .*wall \d+m/);
    expect(text).toMatch(/\* never +wall/);
  });

  it("times a stack on Debian's own AMI with the CRIU build at boot, and shows a baked image's deploy on one line", () => {
    const spec = placementOnAws();
    const estimate = estimateSweep(spec, { prices: PRICES, infra: infraForEstimate(spec) });
    expect(estimate.infraTimes).toBe(INFRA_TIMES_MS.aws);
    expect(estimate.otherImage).toMatchObject({ baked: true, infraTimes: AWS_BAKED_TIMES_MS });
    const cycleSavedMs = INFRA_TIMES_MS.aws.deployMs - AWS_BAKED_TIMES_MS.deployMs;
    expect(estimate.planned.wallMs - estimate.otherImage!.planned.wallMs).toBeCloseTo(cycleSavedMs, 0);
    expect(estimate.otherImage!.planned.costs[0]!.usd).toBeLessThan(estimate.planned.costs[0]!.usd);
    expect(formatEstimate(estimate).join('\n')).toMatch(
      /\n {2}with an image from `criu-lab infra bake`: deploy 7m00s, wall \d+m\d\ds, \$\d+\.\d\d \(on-demand\)\n/,
    );
  });

  it("times a stack whose ami is an image id as baked (no CRIU build at boot), and shows Debian's own AMI on one line", () => {
    const spec = placementOnAws();
    const props = parseInfraProps({ ...DEFAULT_SETTINGS, ami: { id: 'ami-0123456789abcdef0', ssh_user: 'admin' } });
    const estimate = estimateSweep(spec, { prices: PRICES, infra: { props, note: undefined } });
    expect(estimate.infraTimes).toBe(AWS_BAKED_TIMES_MS);
    expect(AWS_BAKED_TIMES_MS).toMatchObject({ deployMs: 7 * 60_000, destroyMs: 5 * 60_000 });
    expect(Object.fromEntries(estimate.byFresh.map((s) => [s.fresh, s.freshWallMs]))).toEqual({
      never: 12 * 60_000,
      'per-cell': 8 * 12 * 60_000,
      'per-run': 24 * 12 * 60_000,
    });
    const text = formatEstimate(estimate).join('\n');
    expect(text).toMatch(/deploy 7m00s \+ destroy 5m00s per recreation \(a placeholder until the rehearsal measures it/);
    expect(text).toMatch(/\n {2}with Debian's own AMI \(CRIU built at boot\): deploy 15m00s, wall \d+m\d\ds, \$\d+\.\d\d \(on-demand\)\n/);
  });

  it('takes the per-run time from the runs this sweep has finished, when sweep.json has some', () => {
    const spec = placementOnAws();
    const runs = runsOf(spec);
    const [first, second] = [runs[0], runs[3]];
    const state = {
      runs: [
        { key: first!.key, cellKey: first!.cell.key, status: 'ok', durationMs: 90_000 },
        { key: second!.key, cellKey: second!.cell.key, status: 'failed', durationMs: 30_000 },
      ],
    } as unknown as SweepState;
    const estimate = estimateSweep(spec, { prices: PRICES, infra: infraForEstimate(spec), state });
    expect(estimate.model).toMatch(/mean time of this sweep's 2 finished run/);
    expect(estimate.remainingRuns).toBe(22);
    // A cell with a finished run takes its own mean (2 × 90 s, 2 × 30 s left), the 6 others the mean of both (60 s).
    expect(estimate.remaining.wallMs).toBeCloseTo(20 * 60_000 + (2 * 90 + 2 * 30 + 18 * 60) * 1000, 0);
  });

  it('lays runs on pairs the way the scheduler does: each to the pair free first', () => {
    expect(makespanMs([10, 10, 10, 10], 1)).toBe(40);
    expect(makespanMs([10, 10, 10, 10], 2)).toBe(20);
    expect(makespanMs([30, 10, 10, 10], 2)).toBe(30);
    expect(makespanMs([], 3)).toBe(0);
  });

  it("plans on the sweep's own parallel pairs", () => {
    const spec = placementOnAws();
    expect(spec.parallel).toBe(1);
    expect(estimateSweep(spec, { prices: PRICES, infra: infraForEstimate(spec) }).planned.pairs).toBe(1);
    const estimate = estimateSweep({ ...spec, parallel: 3 } as SweepSpec, { prices: PRICES, infra: infraForEstimate(spec) });
    expect(estimate.planned.pairs).toBe(3);
    expect(estimate.planned.costs[0]!.lines.find((l) => l.instanceType === 'm5.4xlarge')!.instanceHours).toBeCloseTo(9 * estimate.planned.stackHours, 6);
  });

  it('is free on the lab and records what the report compares against', () => {
    const spec = sweepFile(['name: lab', 'settings: { workload.type: memory, workload.max_memory: 1024 }', 'repetitions: 2', 'infra: { backend: lab }']);
    const estimate = estimateSweep(spec);
    expect(estimate.planned.costs).toEqual([]);
    expect(formatEstimate(estimate).join('\n')).toMatch(/cost: \$0 to criu-lab: the lab runs on this machine/);
    expect(estimateRecord(estimate, new Date('2026-12-06T00:00:00Z'))).toMatchObject({
      at: '2026-12-06T00:00:00.000Z',
      runs: 2,
      pairs: 1,
      usd: undefined,
      ratePerHourUsd: 0,
    });
  });

  it('bounds a deadline search by its most probes', () => {
    const spec = sweepFile([
      'name: curve',
      'settings: { workload.type: memory }',
      'zip: { experiment.placement: [same-az, cross-az] }',
      'deadline: { size: workload.max_memory, low: 128, high: 1024, resolution: 128, deadlines_s: [30] }',
      'infra: { backend: lab }',
    ]);
    const estimate = estimateSweep(spec);
    expect(estimate.runsIsBound).toBe(true);
    expect(estimate.runs).toBeGreaterThan(2);
    expect(formatEstimate(estimate)[0]).toMatch(/at most \d+ runs in 2 cells/);
  });
});

describe('the budget', () => {
  it('takes dollars and refuses anything else, naming the flag', () => {
    expect(parseBudget('25')).toBe(25);
    expect(parseBudget('$2.5')).toBe(2.5);
    expect(() => parseBudget('-1')).toThrow(/--budget takes a positive number of US dollars/);
  });

  it('refuses a sweep whose estimate exceeds it, naming both figures, before anything starts', () => {
    expect(() => refuseOverBudget(1.18, 0, 1, 'placement-aws')).toThrow(UsageError);
    expect(() => refuseOverBudget(1.18, 0, 1, 'placement-aws')).toThrow('sweep placement-aws: the estimate $1.18 exceeds --budget $1.00; nothing was started');
    expect(() => refuseOverBudget(1.18, 0.5, 1.5, 'x')).toThrow(/the estimate \$1\.18 \+ \$0\.50 already spent by earlier sessions exceeds --budget \$1\.50/);
    expect(() => refuseOverBudget(1.18, 0, 2, 'x')).not.toThrow();
  });

  it('refuses the placement sweep on AWS below its estimate and writes nothing', () => {
    const spec = placementOnAws();
    expect(() => prepareSweepCost(spec, 0.5, () => undefined)).toThrow(/the estimate \$1\.\d\d exceeds --budget \$0\.50/);
    const cost = prepareSweepCost(spec, 100, () => undefined);
    expect(cost.estimate).toMatchObject({ runs: 24, pairs: 1, market: 'on-demand' });
    expect(cost.estimate?.ratePerHourUsd).toBeCloseTo(2.4258, 3);
  });

  it('is what the command does: --estimate prints hours and dollars, --budget below it exits 2 naming both, nothing deployed or written', async () => {
    const resultsDir = join(dir, 'cli-results');
    const estimate = await runCli(['sweep', 'config/sweeps/placement-aws.yaml', '--estimate', '--results-dir', resultsDir]);
    expect(estimate).toMatchObject({ code: 0, stderr: '' });
    expect(estimate.stdout).toMatch(/m5\.4xlarge on-demand +\d+\.\d\d h +\$\d+\.\d\d/);
    const refused = await runCli(['sweep', 'config/sweeps/placement-aws.yaml', '--budget', '0.5', '--results-dir', resultsDir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^error: sweep placement-aws: the estimate \$\d+\.\d\d exceeds --budget \$0\.50; nothing was started/);
    expect(existsSync(resultsDir)).toBe(false);
  }, 60_000);

  it('meters elapsed time × rate only while the infra is up, across sessions', () => {
    let now = 0;
    const meter = new CostMeter({ ratePerHourUsd: 3.6, budgetUsd: 2, now: () => now });
    now = 600_000;
    expect(meter.spentUsd).toBe(0);
    meter.infraUp();
    now += 1_000_000;
    expect(meter.spentUsd).toBeCloseTo(1, 6);
    meter.checkBeforeRun();
    meter.infraDown();
    now += 5_000_000;
    expect(meter.spentUsd).toBeCloseTo(1, 6);
    meter.infraUp();
    now += 1_000_000;
    expect(() => meter.checkBeforeRun()).toThrow(BudgetReachedError);
    expect(meter.record()).toMatchObject({ upMs: 2_000_000, budgetUsd: 2, stoppedForBudget: true });
    const next = new CostMeter({ ratePerHourUsd: 3.6, before: meter.record(), now: () => now });
    expect(next.spentUsd).toBeCloseTo(2, 6);
  });

  it('meters stacks up at once each: two lanes for an hour are two stack-hours', () => {
    let now = 0;
    const meter = new CostMeter({ ratePerHourUsd: 2, now: () => now });
    meter.infraUp();
    now += 1_800_000;
    meter.infraUp();
    now += 3_600_000;
    meter.infraDown();
    now += 1_800_000;
    meter.infraDown();
    now += 3_600_000;
    expect(meter.upMs).toBe(3 * 3_600_000);
    expect(meter.spentUsd).toBeCloseTo(6, 6);
    meter.infraDown(); // nothing up: no negative count
    expect(meter.upMs).toBe(3 * 3_600_000);
  });
});

describe('a sweep that reaches its budget while running', () => {
  /** A backend whose deploy takes an hour on the fake clock and whose runs fail at once (no nodes), so no run needs a lab. */
  function hourLongDeploy(clock: { now: number }, ups: string[]): Registry<BackendFactory> {
    const factory: BackendFactory = {
      name: 'aws',
      create: (spec) => ({
        name: 'aws',
        serversPath: join(spec.dir, 'servers.yaml'),
        up: async () => {
          clock.now += 3_600_000;
          ups.push('up');
        },
        down: async () => void ups.push('down'),
        prepareRun: async () => {
          throw new ExternalError('no nodes in this test');
        },
        describe: () => 'the fake stack',
      }),
    };
    return new Registry<BackendFactory>('sweep backend').register(factory);
  }

  it('launches no run once elapsed × rate reaches the budget, and leaves the rest pending to resume', async () => {
    const spec = sweepFile(['name: budget', 'settings: { workload.type: memory }', 'repetitions: 3', 'fresh: per-cell', 'infra: { backend: aws }']);
    const clock = { now: 0 };
    const ups: string[] = [];
    const meter = new CostMeter({ ratePerHourUsd: 2.43, budgetUsd: 2, now: () => clock.now });
    const progress = createSweepProgress(spec.dir, process.stderr, true);
    const options = { projectRoot: dir, backends: hourLongDeploy(clock, ups), signal: new AbortController().signal, progress };
    const outcome = await runSweep(spec, {
      ...options,
      cost: meter,
      estimate: { at: 'now', runs: 3, pairs: 1, wallMs: 1, usd: 3, market: 'on-demand', ratePerHourUsd: 2.43, model: 'm', prices: undefined },
    });
    expect(outcome.state.runs.map((r) => r.status)).toEqual(['failed', 'pending', 'pending']);
    expect(outcome.interrupted).toBe(true);
    expect(outcome.state.status).toBe('interrupted');
    expect(ups).toEqual(['down', 'up', 'down']);
    expect(outcome.state.cost).toMatchObject({ upMs: 3_600_000, budgetUsd: 2, stoppedForBudget: true });
    expect(outcome.state.cost?.usd).toBeCloseTo(2.43, 6);
    expect(outcome.state.estimate).toMatchObject({ usd: 3, runs: 3 });
    expect(outcome.state.sessions[0]?.endedAt).toBeDefined();

    // A rerun with a higher budget resumes from the runs left pending, the cost counted from where it was.
    const resumed = new CostMeter({ ratePerHourUsd: 2.43, budgetUsd: 10, before: outcome.state.cost, now: () => clock.now });
    const again = await runSweep(spec, {
      ...options,
      cost: resumed,
      estimate: { at: 'later', runs: 3, pairs: 1, wallMs: 1, usd: 9, market: 'on-demand', ratePerHourUsd: 2.43, model: 'm', prices: undefined },
    });
    expect(again.skipped).toBe(1);
    expect(again.state.runs.map((r) => r.status)).toEqual(['failed', 'failed', 'failed']);
    expect(again.state.estimate?.at).toBe('now');
    expect(again.state.cost?.stoppedForBudget).toBeUndefined();
  });
});

describe('the report of a sweep', () => {
  it('puts the estimate recorded at the start beside the wall time and cost the sweep took', () => {
    const sweepDir = mkdtempSync(join(tmpdir(), 'criu-lab-report-cost-'));
    const state = writeFixtureSweep(sweepDir);
    const recorded: SweepState = {
      ...state,
      sessions: [
        { startedAt: '2026-12-06T01:00:00Z', skipped: 0, redone: [], endedAt: '2026-12-06T01:20:00Z' },
        { startedAt: '2026-12-06T02:00:00Z', skipped: 10, redone: ['x-r1'] },
        { startedAt: '2026-12-06T03:00:00Z', skipped: 12, redone: [], endedAt: '2026-12-06T03:12:30Z' },
      ],
      estimate: {
        at: '2026-12-06T01:00:00Z',
        runs: 24,
        pairs: 1,
        wallMs: 29 * 60_000,
        usd: 1.18,
        market: 'on-demand',
        ratePerHourUsd: 2.43,
        model: 'the default model',
        prices: 'config/prices.yaml (list prices as of 2025)',
      },
      cost: { ratePerHourUsd: 2.43, upMs: 3_600_000, usd: 2.43, budgetUsd: 5 },
    };
    writeFileSync(join(sweepDir, 'sweep.json'), JSON.stringify(recorded));
    const input = loadReportInput(sweepDir);
    expect(input.cost).toMatchObject({ actualWallMs: 32.5 * 60_000, sessionsCounted: 2, sessionsCutOff: 1, actualUsd: 2.43, stoppedForBudget: false });
    const html = renderReportHtml(input, summaryRows(input));
    expect(html).toContain('<h2>Cost and time</h2>');
    expect(html).toMatch(/<td>wall time<\/td><td>29m00s<\/td><td>32m30s \(2 session\(s\); 1 cut off, not counted\)<\/td>/);
    expect(html).toMatch(/<td>cost<\/td><td>\$1\.18 \(on-demand\)<\/td><td>\$2\.43 \(1\.00 h up × \$2\.43\/hour\)<\/td>/);
    expect(html).toMatch(/<td>budget<\/td><td>\$5\.00<\/td><td>not reached<\/td>/);
    expect(html).toContain('prices config/prices.yaml (list prices as of 2025)');
    expect(JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8')).estimate.usd).toBe(1.18);
  });

  it('has no cost section for a sweep from before estimates', () => {
    const sweepDir = mkdtempSync(join(tmpdir(), 'criu-lab-report-cost-'));
    writeFixtureSweep(sweepDir);
    const input = loadReportInput(sweepDir);
    expect(input.cost).toBeUndefined();
    expect(renderReportHtml(input, summaryRows(input))).not.toContain('Cost and time');
  });
});
