// The strategies' CRIU calls, directory chains and transfers, driven through fake nodes: this
// kernel has no soft-dirty tracking, so pre-dump chains are proven here, argv by argv.
import { describe, expect, it } from '@jest/globals';
import { fullStrategy } from '../../experiments/strategies/full.js';
import { lazyStrategy } from '../../experiments/strategies/lazy.js';
import { pageserverStrategy } from '../../experiments/strategies/pageserver.js';
import { predumpStrategy, relinkArgv } from '../../experiments/strategies/predump.js';
import { strategies } from '../../experiments/strategies/registry.js';
import { FakeWorld, contextFor, flag, planWith, recordingTransfer, statsImage, type Answer } from './strategies-fakes.js';

const RUN = 'memory_20261126_000000';
const SRC = `/srv/criu-lab/img/${RUN}`;
const DST = `/srv/dest/${RUN}`;
const WORK = `/srv/criu-lab/work/${RUN}`;
const PID = 4242;
/** The page stream's TLS files (on by default), in the run's control directory on each node. */
const TLS_DIR = `/srv/criu-lab/img/${RUN}.ctl/tls`;
const TLS = ['--tls', '--tls-cacert', `${TLS_DIR}/ca.pem`, '--tls-cert', `${TLS_DIR}/cert.pem`, '--tls-key', `${TLS_DIR}/key.pem`];

/** The destination has no process 4242, so the pid can be restored there. */
/** The pre-freeze check's probe of the destination for the tree's ids (it prints the taken ones). */
const isIdProbe = (argv: readonly string[]): boolean => argv[0] === 'sh' && (argv[2] ?? '').includes('kill -0');
const pidFree = (_node: string, argv: readonly string[]): Answer | undefined => (isIdProbe(argv) ? { stdout: '' } : undefined);

/** The final dump takes 500 ms on the fake clock, every other command 100 ms. */
const slowDump = (node: string, argv: readonly string[]): Answer | undefined => pidFree(node, argv) ?? (argv[1] === 'dump' ? { durationMs: 500 } : undefined);

const imagesDirOf = (argv: readonly string[]) => argv[argv.indexOf('--images-dir') + 1];

function predumpWorld(written: readonly number[]): FakeWorld {
  const world = new FakeWorld(slowDump);
  written.forEach((pages, i) => {
    world.files.set(
      `${SRC}/${i + 1}/stats-dump`,
      statsImage('dump', { pages_scanned: 262_144, pages_skipped_parent: 262_144 - pages, pages_written: pages, frozen_time: 40_000 }),
    );
  });
  world.files.set(`${DST}/final/stats-dump`, statsImage('dump', { freezing_time: 1_000, frozen_time: 150_000, pages_scanned: 262_144, pages_written: 500 }));
  world.files.set(`${DST}/final/stats-restore`, statsImage('restore', { restore_time: 200_000 }));
  return world;
}

const predumpPlan = (...more: ReturnType<typeof flag>[]) =>
  planWith([
    flag('checkpoint.strategy.mode', 'predump'),
    flag('checkpoint.strategy.predump_iterations', 3),
    flag('checkpoint.strategy.predump_interval', 0),
    flag('transfer.dest_dir', '/srv/dest'),
    ...more,
  ]);

/** Each event of a migration, in order: CRIU calls by kind, moves by their labels, relinks. */
function story(world: FakeWorld): string[] {
  return world.calls.flatMap((c) => {
    if (c.argv[0] === 'criu') return [`${c.node} ${c.argv[1]} ${imagesDirOf(c.argv)}`];
    if (c.node === 'transfer') return [c.argv.join(' ')];
    if (c.argv[0] === 'sh' && c.argv[2]?.includes('ln -s')) return [`${c.node} relink`];
    return [];
  });
}

describe('predump with 3 iterations', () => {
  it('runs three linked pre-dumps and a final dump linked to the last, with the exact CRIU argv', async () => {
    const world = predumpWorld([262_144, 20_000, 3_000]);
    await predumpStrategy.migrate(contextFor(predumpPlan(), world), recordingTransfer(world), PID);
    expect(world.argvs('n1', 'criu')).toEqual([
      ['criu', 'pre-dump', '--tree', '4242', '--images-dir', `${SRC}/1`, '--log-file', 'pre-dump.log', '-v4', '--track-mem'],
      ['criu', 'pre-dump', '--tree', '4242', '--images-dir', `${SRC}/2`, '--log-file', 'pre-dump.log', '-v4', '--track-mem', '--prev-images-dir', '../1'],
      ['criu', 'pre-dump', '--tree', '4242', '--images-dir', `${SRC}/3`, '--log-file', 'pre-dump.log', '-v4', '--track-mem', '--prev-images-dir', '../2'],
      [
        'criu',
        'dump',
        '--tree',
        '4242',
        '--images-dir',
        `${SRC}/final`,
        '--log-file',
        'dump.log',
        '-v4',
        '--leave-stopped',
        '--track-mem',
        '--prev-images-dir',
        '../3',
      ],
    ]);
    expect(world.argvs('n1', 'mkdir')).toEqual([1, 2, 3, 'final'].map((dir) => ['mkdir', '-p', `${SRC}/${dir}`]));
  });

  it('ships each round while the workload runs, so the final move carries only the final dump and the work dir', async () => {
    const world = predumpWorld([262_144, 20_000, 3_000]);
    const transfer = recordingTransfer(world);
    await predumpStrategy.migrate(contextFor(predumpPlan(), world), transfer, PID);
    expect(transfer.moves.map((m) => m.items)).toEqual([
      [{ label: 'predump-1', from: `${SRC}/1`, to: `${DST}/1` }],
      [{ label: 'predump-2', from: `${SRC}/2`, to: `${DST}/2` }],
      [{ label: 'predump-3', from: `${SRC}/3`, to: `${DST}/3` }],
      [
        { label: 'images', from: `${SRC}/final`, to: `${DST}/final` },
        { label: 'workdir', from: WORK, to: WORK },
      ],
    ]);
    expect(story(world)).toEqual([
      `n1 pre-dump ${SRC}/1`,
      'move predump-1',
      `n1 pre-dump ${SRC}/2`,
      'move predump-2',
      `n1 pre-dump ${SRC}/3`,
      'move predump-3',
      `n1 dump ${SRC}/final`,
      'move images workdir',
      'n2 relink',
      `n2 restore ${DST}/final`,
    ]);
  });

  it('relinks the chain on the destination with relative parents and restores from the final dump', async () => {
    const world = predumpWorld([262_144, 20_000, 3_000]);
    await predumpStrategy.migrate(contextFor(predumpPlan(), world), recordingTransfer(world), PID);
    expect(world.argvs('n2', 'sh')).toContainEqual(
      relinkArgv([
        [`${DST}/2`, '../1'],
        [`${DST}/3`, '../2'],
        [`${DST}/final`, '../3'],
      ]),
    );
    expect(world.argvs('n2', 'criu')).toEqual([['criu', 'restore', '--images-dir', `${DST}/final`, '--log-file', 'restore.log', '-v4', '--restore-detached']]);
  });

  it("records every round with CRIU's page counts and what was shipped, and times the migration from the first pre-dump", async () => {
    const world = predumpWorld([262_144, 20_000, 3_000]);
    const result = await predumpStrategy.migrate(contextFor(predumpPlan(), world), recordingTransfer(world), PID);
    expect(result.predump).toMatchObject({ planned: 3, stopReason: 'iterations', stopDetail: '3 rounds, as configured' });
    expect(
      result.predump!.iterations.map((r) => [
        r.iteration,
        r.criuStats['pages_scanned'],
        r.criuStats['pages_skipped_parent'],
        r.criuStats['pages_written'],
        r.shippedBytes,
        r.shipMs,
      ]),
    ).toEqual([
      [1, 262_144, 0, 262_144, 4_096_000, 50],
      [2, 262_144, 242_144, 20_000, 4_096_000, 50],
      [3, 262_144, 259_144, 3_000, 4_096_000, 50],
    ]);
    const at = (node: string, verb: string, dir: string) => world.calls.find((c) => c.node === node && c.argv[1] === verb && imagesDirOf(c.argv) === dir)!.atMs;
    const restoreEnd = at('n2', 'restore', `${DST}/final`) + 100;
    expect(result.migrationMs).toBe(restoreEnd - at('n1', 'pre-dump', `${SRC}/1`));
    // CRIU says freezing_time + frozen_time = 151 ms: the freeze began that long before the 500 ms dump ended.
    expect(result.downtimeMs).toBe(restoreEnd - (at('n1', 'dump', `${SRC}/final`) + 500 - 151));
    expect(result.predump!.totalMs).toBe(300);
  });

  it('with no pre-dump rounds dumps without a parent and relinks nothing', async () => {
    const world = predumpWorld([]);
    await predumpStrategy.migrate(contextFor(predumpPlan(flag('checkpoint.strategy.predump_iterations', 0)), world), recordingTransfer(world), PID);
    expect(world.argvs('n1', 'criu')).toEqual([
      ['criu', 'dump', '--tree', '4242', '--images-dir', `${SRC}/final`, '--log-file', 'dump.log', '-v4', '--leave-stopped'],
    ]);
    expect(story(world)).not.toContain('n2 relink');
  });

  it('with --predump-iterations auto stops once a round wrote at most 64 pages', async () => {
    const world = predumpWorld([262_144, 2_000, 40]);
    const result = await predumpStrategy.migrate(
      contextFor(predumpPlan(flag('checkpoint.strategy.predump_iterations', 'auto')), world),
      recordingTransfer(world),
      PID,
    );
    expect(result.predump).toMatchObject({ planned: 'auto', stopReason: 'converged', stopDetail: 'round 3 wrote 40 pages, at most 64' });
    expect(world.argvs('n1', 'criu', 'pre-dump')).toHaveLength(3);
  });

  it("ends with a lazy dump after the chain when lazy_pages is set (the seed's lazy_pages.yaml)", async () => {
    const world = predumpWorld([262_144, 20_000]);
    world.files.set(`${SRC}/final/dump.log`, Buffer.from('(00.010000) Seized task 4242, state 1\n(00.050000) Starting lazy pages server\n'));
    world.files.set(`${DST}/final/lazy-pages.log`, Buffer.from('(01.000000) 4242-5: UFFD transferred pages: (3000/3000)\n'));
    const plan = predumpPlan(flag('checkpoint.strategy.predump_iterations', 2), flag('checkpoint.strategy.lazy_pages', true));
    const result = await predumpStrategy.migrate(contextFor(plan, world), recordingTransfer(world), PID);
    expect(world.argvs('n1', 'criu', 'dump')).toEqual([
      [
        'criu',
        'dump',
        '--tree',
        '4242',
        '--images-dir',
        `${SRC}/final`,
        '--log-file',
        'dump.log',
        '-v4',
        '--leave-stopped',
        '--track-mem',
        '--prev-images-dir',
        '../2',
        '--lazy-pages',
        '--port',
        '27000',
        ...TLS,
      ],
    ]);
    expect(world.argvs('n2', 'criu')).toEqual([
      [
        'criu',
        'lazy-pages',
        '--page-server',
        '--address',
        '10.9.0.11',
        '--port',
        '27000',
        ...TLS,
        '--images-dir',
        `${DST}/final`,
        '--work-dir',
        `${WORK}/.criu-lazy`,
        '--log-file',
        `${DST}/final/lazy-pages.log`,
        '-v4',
      ],
      [
        'criu',
        'restore',
        '--images-dir',
        `${DST}/final`,
        '--work-dir',
        `${WORK}/.criu-lazy`,
        '--log-file',
        `${DST}/final/restore.log`,
        '-v4',
        '--restore-detached',
        '--lazy-pages',
      ],
    ]);
    expect(result.predump?.iterations).toHaveLength(2);
    expect(result.lazy).toMatchObject({ pagesTransferred: 3000, pagesTotal: 3000 });
  });

  it('refuses to freeze when the destination already has a process with the same pid', async () => {
    // n1 lists the tree's threads: the workload and one thread; n2 has a process with the workload's pid.
    const world = new FakeWorld((node, argv) =>
      node === 'n1' && argv[0] === 'ps' && argv[1] === '-L'
        ? { stdout: ' 4242\n 4250\n' }
        : node === 'n2' && isIdProbe(argv)
          ? { stdout: '4242\n' }
          : undefined,
    );
    await expect(predumpStrategy.migrate(contextFor(predumpPlan(), world), recordingTransfer(world), PID)).rejects.toThrow(
      /n2: pid 4242 of the workload's tree is taken there/,
    );
    expect(world.argvs('n2', 'sh')[0]?.slice(4)).toEqual(['4242', '4250']);
    expect(world.argvs('n1', 'criu')).toEqual([]);
  });
});

describe('pageserver', () => {
  it("starts a page server on the destination and streams the dump's pages to it, keeping the page stream's own time", async () => {
    const world = new FakeWorld(pidFree);
    const plan = planWith([flag('checkpoint.strategy.mode', 'pageserver'), flag('transfer.dest_dir', '/srv/dest')]);
    world.files.set(`${DST}/stats-dump`, statsImage('dump', { freezing_time: 2_000, frozen_time: 480_000, memwrite_time: 230_000, pages_written: 34_288 }));
    const transfer = recordingTransfer(world);
    const result = await pageserverStrategy.migrate(contextFor(plan, world), transfer, PID);
    expect(world.argvs('n2', 'criu')).toEqual([
      ['criu', 'page-server', '--images-dir', DST, '--port', '27000', ...TLS, '--daemon', '--log-file', 'page-server.log', '-v4'],
      ['criu', 'restore', '--images-dir', DST, '--log-file', 'restore.log', '-v4', '--restore-detached'],
    ]);
    expect(world.argvs('n1', 'criu')).toEqual([
      [
        'criu',
        'dump',
        '--tree',
        '4242',
        '--images-dir',
        SRC,
        '--log-file',
        'dump.log',
        '-v4',
        '--leave-stopped',
        '--page-server',
        '--address',
        '10.9.0.12',
        '--port',
        '27000',
        ...TLS,
      ],
    ]);
    // The certificates reach both nodes before the page server starts, in a directory only root may enter.
    for (const node of ['n1', 'n2'])
      expect(world.argvs(node, 'mkdir', '-p', '-m', '700')).toEqual([['mkdir', '-p', '-m', '700', `/srv/criu-lab/img/${RUN}.ctl`, TLS_DIR]]);
    expect(world.files.get(`${TLS_DIR}/cert.pem`)?.toString()).toContain('BEGIN CERTIFICATE');
    expect(transfer.moves.map((m) => m.items.map((i) => i.label))).toEqual([['images', 'workdir']]);
    expect(result.pageStream).toEqual({ durationMs: 230, pages: 34_288, bytes: 34_288 * 4096, throughputMBps: expect.closeTo(582.3, 1), tls: true });
  });
});

describe('lazy', () => {
  it('serves pages from the source, starts the lazy-pages daemon before a lazy restore, and times restore-ready against all pages arrived', async () => {
    const world = new FakeWorld(pidFree);
    const plan = planWith([flag('checkpoint.strategy.lazy_pages', true), flag('transfer.dest_dir', '/srv/dest')]);
    world.files.set(`${SRC}/dump.log`, Buffer.from('(00.020000) Seized task 4242, state 1\n(00.060000) Starting lazy pages server\n'));
    world.files.set(`${DST}/lazy-pages.log`, Buffer.from('(00.900000) 4242-5: UFFD transferred pages: (33849/33849)\n'));
    const result = await lazyStrategy.migrate(contextFor(plan, world), recordingTransfer(world), PID);
    expect(plan.checkpoint.strategy.mode).toBe('lazy');
    expect(world.argvs('n1', 'criu')).toEqual([
      ['criu', 'dump', '--tree', '4242', '--images-dir', SRC, '--log-file', 'dump.log', '-v4', '--leave-stopped', '--lazy-pages', '--port', '27000', ...TLS],
    ]);
    expect(world.argvs('n2', 'criu').map((argv) => argv[1])).toEqual(['lazy-pages', 'restore']);
    const waits = world.calls.filter((c) => c.argv[0] === 'sh' && c.argv[2]?.startsWith('n=$1')).map((c) => `${c.node} ${c.argv.slice(5).join(' ')}`);
    expect(waits).toEqual([`n1 sh -c ss -H -l -t -n "sport = :$1" | grep -q . sh 27000 ${SRC}`, `n2 test -S ${WORK}/.criu-lazy/lazy-pages.socket`]);
    const lazy = result.lazy!;
    expect(lazy.restoreReadyMs).toBe(result.downtimeMs);
    expect(lazy.imagesDumpedMs).toBeCloseTo(40, 6);
    expect(lazy.pagesTransferred).toBe(33_849);
    expect(result.migrationMs).toBeGreaterThanOrEqual(lazy.sourceReleasedMs);
  });
});

describe('full', () => {
  it('keeps its single dump (left stopped for a rollback), move and restore', async () => {
    const world = new FakeWorld(pidFree);
    const transfer = recordingTransfer(world);
    await fullStrategy.migrate(contextFor(planWith([flag('transfer.dest_dir', '/srv/dest')]), world), transfer, PID);
    expect(world.argvs('n1', 'criu')).toEqual([['criu', 'dump', '--tree', '4242', '--images-dir', SRC, '--log-file', 'dump.log', '-v4', '--leave-stopped']]);
    expect(transfer.moves.map((m) => m.items)).toEqual([
      [
        { label: 'images', from: SRC, to: DST },
        { label: 'workdir', from: WORK, to: WORK },
      ],
    ]);
  });
});

describe('the strategy registry', () => {
  it('offers full, predump, pageserver and lazy', () => {
    expect(strategies.names()).toEqual(['full', 'predump', 'pageserver', 'lazy']);
  });
});
