// Parallel pairs (`parallel: N`) without a lab: the pairs servers.yaml's zones give, the nodes
// a lab needs, the scheduler on recorded sweep states (free pairs, a pair failing, placement
// needs), the overlap marks, the AWS check naming the infra.yaml key, and the runner resuming
// a killed parallel sweep and taking out a failing pair (with a backend that runs nothing).
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Registry } from '../../core/registry.js';
import { UsageError } from '../../core/errors.js';
import { pairRows } from '../../experiments/report/summary.js';
import { pairsSection } from '../../experiments/report/html.js';
import type { ReportInput } from '../../experiments/report/load.js';
import type { BackendFactory } from '../../experiments/sweep/backends/backend.js';
import { runsOf } from '../../experiments/sweep/expand.js';
import {
  assignPairs,
  awsPairShortfall,
  candidatePairs,
  labNodesFor,
  overlapsOf,
  pairsAvailable,
  shouldRetire,
  usablePairs,
  type PairView,
  type SweepPair,
} from '../../experiments/sweep/pairs.js';
import type { SweepProgress } from '../../experiments/sweep/progress.js';
import { runSweep, withPairNodes } from '../../experiments/sweep/runner.js';
import { loadSweepSpec } from '../../experiments/sweep/spec.js';
import { SweepStore, type SweepState } from '../../experiments/sweep/state.js';

const root = resolve(import.meta.dirname, '../..');
let dir: string;

const node = (n: number) => ({ ip: `10.0.0.${n}`, name: `n${n}` });
/** The zones `lab up --nodes 4` writes. */
const lab4 = { az_a: [node(1), node(2)], az_c: [node(3), node(4)] };
const pairs4 = candidatePairs(lab4);
const byId = (id: string) => pairs4.find((p) => p.id === id)!;

function sweepFile(text: string): string {
  const path = join(dir, `sweep-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

const quietProgress = (): SweepProgress => ({
  startRun: () => ({ note: () => undefined, track: (_label, work) => work() }),
  note: () => undefined,
  track: (_label, work) => work(),
  finish: () => undefined,
});

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-pairs-unit-'));
});

describe('the pairs of servers.yaml', () => {
  it('pairs consecutive nodes of a zone, and the i-th nodes of two zones; the first of each is the loader’s pair', () => {
    expect(pairs4.map((p) => [p.id, p.placement])).toEqual([
      ['n1->n2', 'same-az'],
      ['n3->n4', 'same-az'],
      ['n1->n3', 'cross-az'],
      ['n2->n4', 'cross-az'],
    ]);
    // `lab up --nodes 3`: one same-az pair, one cross-az pair.
    expect(candidatePairs({ az_a: [node(1), node(2)], az_c: [node(3)] }).map((p) => p.id)).toEqual(['n1->n2', 'n1->n3']);
    expect(candidatePairs({}).length).toBe(0);
  });

  it('brings up enough lab nodes for N disjoint pairs of each placement the sweep uses', () => {
    expect(pairsAvailable([2, 2], 'same-az')).toBe(2);
    expect(pairsAvailable([3, 3], 'same-az')).toBe(2);
    expect(pairsAvailable([3, 2], 'cross-az')).toBe(2);
    expect(labNodesFor(1, ['same-az'])).toBe(3);
    expect(labNodesFor(2, ['same-az'])).toBe(4);
    expect(labNodesFor(2, ['cross-az'])).toBe(4);
    expect(labNodesFor(3, ['same-az'])).toBe(7);
    expect(labNodesFor(3, ['cross-az'])).toBe(6);
    expect(labNodesFor(4, ['same-az', 'cross-az'])).toBe(8);
    expect(labNodesFor(5, ['cross-az'])).toBeUndefined();
    // No placement named: an experiment file may name either.
    expect(labNodesFor(2, [])).toBe(4);
  });

  it('sizes the lab from the sweep file and says why in sweep.json', () => {
    const spec = loadSweepSpec(
      sweepFile('name: sized\nparallel: 2\nsettings: { experiment.placement: same-az }\ninfra: { backend: lab, lab: { name: sz, nodes: 2 } }\n'),
      { resultsDir: join(dir, 'results') },
      dir,
    );
    const { spec: up, reason } = withPairNodes(spec);
    expect(up.infra.lab.nodes).toBe(4);
    expect(reason).toBe('4 nodes give 2 disjoint same-az pairs');
    const one = loadSweepSpec(sweepFile('name: one\ninfra: { backend: lab, lab: { name: sz, nodes: 3 } }\n'), { resultsDir: join(dir, 'results') }, dir);
    expect(withPairNodes(one).spec).toBe(one);
    expect(one.parallel).toBe(1);
  });

  it('refuses parallel pairs with fresh: per-run, and more pairs than a lab holds', () => {
    const problems = (text: string) => {
      try {
        loadSweepSpec(sweepFile(text), { resultsDir: join(dir, 'results') }, dir);
        return [];
      } catch (error) {
        return [...(error as UsageError).problems];
      }
    };
    expect(problems('parallel: 2\nfresh: per-run\n')).toEqual([
      'parallel: 2 runs at once on one set of nodes; fresh: per-run recreates them for every run (use per-cell or never)',
    ]);
    expect(problems('parallel: 5\nsettings: { experiment.placement: same-az }\n')).toEqual([
      "parallel: 5 disjoint same-az pairs need more than the lab's 8 nodes; at most 4 pairs fit",
    ]);
    expect(problems('parallel: 0\n')).toEqual([expect.stringMatching(/^parallel: /)]);
    // --parallel overrides the file.
    expect(loadSweepSpec(sweepFile('name: o\n'), { resultsDir: join(dir, 'results'), parallel: 3 }, dir).parallel).toBe(3);
  });
});

describe('the pair scheduler on recorded sweep states', () => {
  const view = (busy: readonly string[], parallel = 2, retired: readonly string[] = []): PairView => ({
    pairs: pairs4,
    parallel,
    busy: busy.map(byId),
    retired,
  });
  const same = (key: string) => ({ key, placement: 'same-az' as const });
  const cross = (key: string) => ({ key, placement: 'cross-az' as const });

  it('hands the queued runs the free pairs of their placement, in order, up to parallel', () => {
    expect(assignPairs(view([]), [same('a'), same('b'), same('c')]).map((a) => [a.key, a.pair.id])).toEqual([
      ['a', 'n1->n2'],
      ['b', 'n3->n4'],
    ]);
    expect(assignPairs(view([], 1), [same('a'), same('b')]).map((a) => a.key)).toEqual(['a']);
    expect(assignPairs(view(['n1->n2']), [same('c')]).map((a) => a.pair.id)).toEqual(['n3->n4']);
    expect(assignPairs(view(['n1->n2', 'n3->n4']), [same('c')])).toEqual([]);
  });

  it('keeps running pairs disjoint across placements; a later run of another placement may go ahead', () => {
    // n1->n2 runs: both cross-az pairs share a node with it (n1->n3, n2->n4).
    expect(assignPairs(view(['n1->n2']), [cross('x')])).toEqual([]);
    expect(assignPairs(view(['n1->n2']), [cross('x'), same('y')]).map((a) => [a.key, a.pair.id])).toEqual([['y', 'n3->n4']]);
    expect(assignPairs(view(['n1->n3']), [cross('x'), same('y')]).map((a) => [a.key, a.pair.id])).toEqual([['x', 'n2->n4']]);
    // Every pair handed out at once is node-disjoint.
    const given = assignPairs(view([], 4), [cross('a'), same('b'), cross('c'), same('d')]);
    const nodes = given.flatMap((a) => [a.pair.source.ip, a.pair.destination.ip]);
    expect(new Set(nodes).size).toBe(nodes.length);
  });

  it('waits for the pair a run names itself when its plan has no zones', () => {
    const fixed: SweepPair = { id: 'a->b', source: { ip: '10.1.0.1', name: 'a' }, destination: { ip: '10.1.0.2', name: 'b' }, placement: undefined };
    const v: PairView = { pairs: [], parallel: 2, busy: [], retired: [] };
    expect(
      assignPairs(v, [
        { key: 'r1', placement: undefined, fixed },
        { key: 'r2', placement: undefined, fixed },
      ]).map((a) => a.key),
    ).toEqual(['r1']);
    expect(assignPairs({ ...v, busy: [fixed] }, [{ key: 'r2', placement: undefined, fixed }])).toEqual([]);
  });

  it('takes a pair that failed infrastructure-wise out while another of its placement remains', () => {
    expect(shouldRetire({ pairs: pairs4, retired: [] }, byId('n1->n2'))).toBe(true);
    // The last same-az pair stays: its runs try it, as a sweep without parallel pairs does.
    expect(shouldRetire({ pairs: pairs4, retired: ['n1->n2'] }, byId('n3->n4'))).toBe(false);
    expect(usablePairs({ pairs: pairs4, retired: ['n1->n2'] }, same('a')).map((p) => p.id)).toEqual(['n3->n4']);
    expect(assignPairs(view([], 2, ['n1->n2']), [same('a'), same('b')]).map((a) => [a.key, a.pair.id])).toEqual([['a', 'n3->n4']]);
    expect(usablePairs({ pairs: pairs4, retired: ['n1->n3', 'n2->n4'] }, cross('x'))).toEqual([]);
  });

  it('marks the runs that overlapped in time on other pairs, a run in flight counting until now', () => {
    const at = (s: number) => new Date(Date.UTC(2026, 11, 6, 3, 0, s)).toISOString();
    const runs = [
      { key: 'a', pair: byId('n1->n2'), startedAt: at(0), finishedAt: at(10), status: 'ok' },
      { key: 'b', pair: byId('n3->n4'), startedAt: at(5), finishedAt: at(12), status: 'ok' },
      { key: 'c', pair: byId('n1->n2'), startedAt: at(10), finishedAt: at(20), status: 'failed' },
      { key: 'd', pair: byId('n3->n4'), startedAt: at(30), status: 'running' },
      { key: 'e', pair: byId('n1->n2'), startedAt: at(25), finishedAt: at(31), status: 'ok' },
      // Cut off and pending again: not a run now.
      { key: 'f', pair: byId('n3->n4'), startedAt: at(0), status: 'pending' },
    ];
    const overlaps = overlapsOf(runs, Date.parse(at(40)));
    expect(Object.fromEntries(overlaps)).toEqual({ a: ['b'], b: ['a', 'c'], c: ['b'], d: ['e'], e: ['d'] });
  });
});

describe('parallel pairs on AWS', () => {
  const zones = (a: number, c: number) => [
    { letter: 'a', nodeCount: a },
    { letter: 'c', nodeCount: c },
  ];

  it('fails clearly, naming the infra.yaml key to raise, when the stack holds fewer pairs', () => {
    expect(awsPairShortfall(zones(4, 2), 2, ['same-az', 'cross-az'], 'config/infra.yaml')).toBeUndefined();
    expect(awsPairShortfall(zones(2, 1), 2, ['same-az'], 'config/infra.yaml')).toBe(
      'same-az: parallel 2 needs 2 disjoint same-az pairs; zones a: 2 node(s), c: 1 node(s) give 1; fix in config/infra.yaml: raise zones[0].nodes (zone a) to 4, or spread 4 nodes over both zones in even numbers',
    );
    expect(awsPairShortfall(zones(2, 1), 2, ['cross-az'], 'config/infra.yaml')).toMatch(
      /^cross-az: .* give 1; fix in config\/infra.yaml: raise zones\[0\]\.nodes and zones\[1\]\.nodes \(zones a, c\) to at least 2 each$/,
    );
  });

  it('refuses before anything deploys', async () => {
    const infra = join(dir, 'infra.yaml');
    writeFileSync(infra, 'operator_cidr: 198.51.100.7/32\nzones: [{ az: a, nodes: 2 }, { az: c, nodes: 1 }]\n');
    const spec = loadSweepSpec(
      sweepFile(`name: awsp\nparallel: 3\nsettings: { experiment.placement: cross-az }\ninfra: { backend: aws, aws: { config: ${infra} } }\n`),
      { resultsDir: join(dir, 'results') },
      dir,
    );
    const { sweepBackends } = await import('../../experiments/sweep/backends/registry.js');
    const error = await sweepBackends
      .get('aws')
      .create(spec)
      .up()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).problems.join('\n')).toContain('raise zones[0].nodes and zones[1].nodes (zones a, c) to at least 3 each');
  });
});

describe('the runner with parallel pairs (a backend that runs nothing)', () => {
  function fourNodes(name: string): string {
    const folder = join(dir, name);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'key'), 'not a key\n');
    const servers = join(folder, 'servers.yaml');
    writeFileSync(
      servers,
      `nodes:
  ssh_user: root
  ssh_key: ${join(folder, 'key')}
  source: { ip: 10.0.0.1, name: n1 }
  destination: { ip: 10.0.0.2, name: n2 }
all_nodes:
  az_a: [ { ip: 10.0.0.1, name: n1 }, { ip: 10.0.0.2, name: n2 } ]
  az_c: [ { ip: 10.0.0.3, name: n3 }, { ip: 10.0.0.4, name: n4 } ]
`,
    );
    return servers;
  }

  function backends(prepareRun: (source: string) => Promise<void>) {
    const factory: BackendFactory = {
      name: 'none',
      create: (spec) => ({
        name: 'none',
        serversPath: spec.infra.servers!,
        up: async () => undefined,
        down: async () => undefined,
        prepareRun: (plan) => prepareRun(plan.nodes.source.name),
        describe: () => 'nothing',
      }),
    };
    return new Registry<BackendFactory>('sweep backend').register(factory);
  }

  it('resumes a sweep killed with runs in flight on two pairs: only those are redone, each knowing its pair', async () => {
    const servers = fourNodes('resume');
    const spec = loadSweepSpec(
      sweepFile(
        `name: killed\nparallel: 2\nmeasure_link: false\nsettings: { experiment.placement: same-az }\nmatrix: { workload.max_memory: [16, 32] }\nrepetitions: 2\ninfra: { backend: none, servers: ${servers} }\n`,
      ),
      { resultsDir: join(dir, 'results') },
      dir,
    );
    // The state a SIGKILL left: two runs done, two in flight on the two same-az pairs.
    const store = await SweepStore.open(spec, runsOf(spec));
    const [a, b, c, d] = store.state.runs;
    Object.assign(a!, { status: 'ok', pair: byId('n1->n2'), startedAt: '2026-12-06T03:00:00.000Z', finishedAt: '2026-12-06T03:00:10.000Z' });
    Object.assign(b!, { status: 'ok', pair: byId('n3->n4'), startedAt: '2026-12-06T03:00:01.000Z', finishedAt: '2026-12-06T03:00:11.000Z' });
    Object.assign(c!, { status: 'running', attempts: 1, pair: byId('n1->n2'), startedAt: '2026-12-06T03:00:10.000Z' });
    Object.assign(d!, { status: 'running', attempts: 1, pair: byId('n3->n4'), startedAt: '2026-12-06T03:00:11.000Z' });
    await store.save();

    // The rerun is stopped (Ctrl-C) before it starts anything: what it found is recorded.
    const stop = new AbortController();
    stop.abort();
    const outcome = await runSweep(spec, {
      projectRoot: root,
      signal: stop.signal,
      progress: quietProgress(),
      backends: backends(async () => undefined),
    });
    expect(outcome.interrupted).toBe(true);
    expect(outcome.skipped).toBe(2);
    expect(outcome.redone).toEqual(['32-r1', '32-r2']);
    const state = JSON.parse(readFileSync(join(spec.dir, 'sweep.json'), 'utf8')) as SweepState;
    expect(state.runs.map((r) => [r.key, r.status])).toEqual([
      ['16-r1', 'ok'],
      ['16-r2', 'ok'],
      ['32-r1', 'pending'],
      ['32-r2', 'pending'],
    ]);
    expect(state.runs[2]!.cutOff).toEqual([{ at: expect.any(String), pair: 'n1->n2' }]);
    expect(state.runs[3]!.cutOff).toEqual([{ at: expect.any(String), pair: 'n3->n4' }]);
    expect(state.sessions.at(-1)).toMatchObject({ skipped: 2, redone: ['32-r1', '32-r2'] });
  });

  it('records the run of a failing pair as failed, takes the pair out, and the other pair goes on', async () => {
    const servers = fourNodes('failing');
    const spec = loadSweepSpec(
      sweepFile(
        `name: failing-pair\nparallel: 2\nmeasure_link: false\nsettings: { experiment.placement: same-az }\nrepetitions: 4\ninfra: { backend: none, servers: ${servers} }\n`,
      ),
      { resultsDir: join(dir, 'results') },
      dir,
    );
    const tried: string[] = [];
    const outcome = await runSweep(spec, {
      projectRoot: root,
      signal: new AbortController().signal,
      progress: quietProgress(),
      // n1 never answers; n3's links cannot be shaped either, so nothing here runs a migration.
      backends: backends(async (source) => {
        tried.push(source);
        throw new Error(source === 'n1' ? 'n1 does not answer' : 'tc failed on n3');
      }),
    });
    expect(outcome.interrupted).toBe(false);
    const state = outcome.state;
    expect(state.runs.map((r) => [r.key, r.status, r.pair?.id, r.infraFailure])).toEqual([
      ['all-r1', 'failed', 'n1->n2', true],
      ['all-r2', 'failed', 'n3->n4', true],
      ['all-r3', 'failed', 'n3->n4', true],
      ['all-r4', 'failed', 'n3->n4', true],
    ]);
    expect(state.runs[0]!.error).toContain('n1 does not answer');
    expect(state.pairs).toMatchObject({ parallel: 2, nodes: 4, hostShared: false, retired: ['n1->n2'] });
    expect(tried).toEqual(['n1', 'n3', 'n3', 'n3']);
  });
});

describe('the report of a sweep on parallel pairs', () => {
  const metrics = (downtimeMs: number) => ({ downtimeMs, migrationMs: downtimeMs + 500 }) as never;
  const run = (id: string, pair: string, downtimeMs: number, overlap: boolean) => ({
    id,
    dims: {},
    repetition: 1,
    ok: true,
    error: undefined,
    metrics: metrics(downtimeMs),
    resultsDir: undefined,
    watch: undefined,
    pair,
    ...(overlap ? { overlap: true, overlapsWith: ['x'] } : {}),
  });
  const input: ReportInput = {
    title: 'sweep p',
    source: '/tmp/p',
    kind: 'sweep',
    runs: [run('a', 'n1->n2', 1000, true), run('b', 'n3->n4', 3000, true), run('c', 'n1->n2', 2000, false), run('d', 'n1->n2', 4000, false)],
    links: [],
    curves: [],
    sizePath: undefined,
    parallel: { n: 2, hostShared: true, nodes: 4, pairs: ['n1->n2', 'n3->n4'] },
  };

  it('gives the downtime median, min and max per pair', () => {
    expect(pairRows(input).map((r) => [r.pair, r.runs, r.downtimeS, r.overlapped])).toEqual([
      ['n1->n2', 3, { n: 3, median: 2, min: 1, max: 4 }, 1],
      ['n3->n4', 1, { n: 1, median: 3, min: 3, max: 3 }, 1],
    ]);
  });

  it('flags the runs that overlapped on one host', () => {
    const html = pairsSection(input);
    expect(html).toContain('⚠ overlap: 2 of 4 runs overlapped');
    expect(html).toContain('overlap: 1');
    expect(pairsSection({ ...input, runs: input.runs.map((r) => ({ ...r, pair: undefined })) })).toBe('');
  });
});
