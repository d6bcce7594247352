// Rollback after a failed restore or verify, on fake nodes: the destination's copy stops first,
// the source's CRIU is ended, the frozen process gets SIGCONT, and only progress counts as ok.
import { describe, expect, it } from '@jest/globals';
import { rollBack, stopCriuArgv } from '../../experiments/rollback.js';
import { FakeWorld, contextFor, flag, planWith, type Answer } from './strategies-fakes.js';

const RUN = 'memory_20261126_000000';
const STATUS = `/srv/criu-lab/work/${RUN}/workload_status.json`;
const status = (counter: number) => Buffer.from(JSON.stringify({ pid: 4242, counter, checksum: 'c0ffee', phase: 'running' }));

/** A source whose process resumes on SIGCONT (its status counter then moves to `after`), unless `gone`. */
function sourceThatResumes(after: number | undefined, gone = false): FakeWorld {
  const world: FakeWorld = new FakeWorld((_node, argv): Answer | undefined => {
    if (argv[0] === 'kill' && argv[1] === '-CONT') {
      if (gone) return { exitCode: 1, stderr: 'kill: (4242) - No such process' };
      if (after !== undefined) world.files.set(STATUS, status(after));
    }
    return undefined;
  });
  world.files.set(STATUS, status(11));
  return world;
}

const plan = () => planWith([flag('timeouts.verify_s', 0.5)]);

describe('rollback', () => {
  it('stops the destination copy, ends the source CRIU, resumes the frozen process and records its counter moving', async () => {
    const world = sourceThatResumes(14);
    const record = await rollBack(contextFor(plan(), world), 4242);
    expect(record).toMatchObject({
      status: 'ok',
      counterAtFreeze: 11,
      counterAfterResume: 14,
      detail: "pid 4242 resumed on n1: counter 11 at freeze, 14 after SIGCONT; n2's copy stopped",
    });
    const order = world.calls.map((c) => `${c.node} ${c.argv[0]} ${c.argv[1]}`).filter((line) => /pkill|kill -CONT|sh -c/.test(line));
    expect(order[0]).toBe('n2 pkill -KILL');
    expect(order.indexOf('n1 kill -CONT')).toBeGreaterThan(order.indexOf('n1 sh -c'));
    expect(world.argvs('n1', 'sh')).toContainEqual(stopCriuArgv(RUN));
  });

  it('records why when the source process is gone', async () => {
    const record = await rollBack(contextFor(plan(), sourceThatResumes(undefined, true)), 4242);
    expect(record).toMatchObject({ status: 'failed', detail: 'pid 4242 is gone on n1; there is nothing to resume' });
  });

  it('records why when the resumed process makes no progress', async () => {
    const record = await rollBack(contextFor(plan(), sourceThatResumes(undefined)), 4242);
    expect(record).toMatchObject({ status: 'failed', detail: 'pid 4242 made no progress on n1 within 0.5 s of SIGCONT' });
  });
});
