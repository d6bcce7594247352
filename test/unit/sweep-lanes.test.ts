// Lanes (`fresh: per-cell` with `parallel: N`) without AWS: which lanes a sweep uses, the stack
// each derives from infra.yaml (prefix, zones, files), and the estimate pricing lane stacks.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { UsageError } from '../../core/errors.js';
import { loadPriceTable } from '../../infra/aws/prices.js';
import { parseInfraProps } from '../../infra/aws/props.js';
import { estimateSweep, formatEstimate, infraForEstimate } from '../../experiments/sweep/estimate.js';
import { laneFiles, laneInfraConfig, lanePrefix, lanesFor, laneZoneSizes, shouldRetireLane, staleLanes, usesLanes } from '../../experiments/sweep/lanes.js';
import { loadSweepSpec, type SweepSpec } from '../../experiments/sweep/spec.js';

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
