// Transfer sessions: each run's state lives in its session, the session records what it leaves,
// and the method cleans that up from the record alone (what `criu-lab cleanup` does after a crash).
import { describe, expect, it } from '@jest/globals';
import { transfers } from '../../experiments/transfers/registry.js';
import { FakeWorld, contextFor, flag, planWith } from './strategies-fakes.js';

const RUN = 'memory_20261126_000000';

function leftoversContext(world: FakeWorld, leftovers: Record<string, unknown>, both = true) {
  const ctx = contextFor(planWith([]), world, RUN);
  return { runId: RUN, paths: ctx.paths, commandTimeoutMs: 1000, leftovers, nodes: { source: ctx.source, ...(both ? { destination: ctx.destination } : {}) } };
}

describe('a session', () => {
  it('records the s3 objects it will leave before the bucket is touched', async () => {
    const world = new FakeWorld();
    const ctx = contextFor(planWith([flag('transfer.method', 's3'), flag('transfer.s3_bucket', 'bucket-one')]), world, RUN);
    const remembered: unknown[] = [];
    await transfers
      .get('s3')
      .open(ctx, { remember: async (l) => void remembered.push({ ...l, callsBefore: world.calls.length }) })
      .prepare();
    expect(remembered).toEqual([{ bucket: 'bucket-one', prefix: `criu-checkpoints/${RUN}/`, region: 'us-east-1', callsBefore: 0 }]);
  });

  it('keeps its ebs volume to itself: another session of the same run id prepared does not make this one ready', async () => {
    const plan = planWith([flag('transfer.method', 'ebs'), flag('transfer.ebs.volume', '/dev/loop7')]);
    const first = transfers.get('ebs').open(contextFor(plan, new FakeWorld(), RUN));
    await transfers
      .get('ebs')
      .open(contextFor(plan, new FakeWorld(), RUN))
      .prepare();
    await expect(first.move([])).rejects.toThrow('ebs move before prepare');
  });

  it('says what its method can do, so no strategy names a method', () => {
    expect(Object.fromEntries(transfers.all().map((t) => [t.name, t.capabilities]))).toEqual({
      rsync: { handsStorageOver: false, imagesOnSharedStorage: false },
      s3: { handsStorageOver: false, imagesOnSharedStorage: false },
      efs: { handsStorageOver: false, imagesOnSharedStorage: true },
      ebs: { handsStorageOver: true, imagesOnSharedStorage: true },
    });
  });
});

describe('cleaning up from a leftovers record', () => {
  it('removes the s3 objects with a config of its own', async () => {
    const world = new FakeWorld();
    await transfers
      .get('s3')
      .cleanLeftovers(
        leftoversContext(world, { bucket: 'bucket-one', prefix: `criu-checkpoints/${RUN}/`, region: 'eu-west-1', endpointUrl: 'http://10.9.0.2:9000' }),
      );
    const rm = world.calls.find((c) => c.argv.includes('rm') && c.argv.includes('s3'));
    expect(rm?.node).toBe('n1');
    expect(rm?.argv.slice(2)).toEqual([
      'aws',
      '--endpoint-url',
      'http://10.9.0.2:9000',
      's3',
      'rm',
      '--only-show-errors',
      '--recursive',
      `s3://bucket-one/criu-checkpoints/${RUN}/`,
    ]);
    expect(world.files.get(`/srv/criu-lab/img/${RUN}.ctl/aws-config-cleanup`)?.toString()).toBe('[default]\nregion = eu-west-1\n');
  });

  it('removes the efs stage dir and brings a lab volume back to the source', async () => {
    const efs = new FakeWorld();
    await transfers.get('efs').cleanLeftovers(leftoversContext(efs, { mount: '/mnt/efs' }));
    expect(efs.argvs('n1', 'rm')).toEqual([['rm', '-rf', `/mnt/efs/${RUN}.stage`]]);
    // The volume is mounted on the destination (the run got past the hand-over): unmounted there, mounted on the source.
    const ebs = new FakeWorld((node, argv) => (argv[0] === 'sh' && argv[2]?.startsWith('[ "$(findmnt') ? { exitCode: node === 'n2' ? 0 : 1 } : undefined));
    await transfers.get('ebs').cleanLeftovers(leftoversContext(ebs, { mount: '/mnt/ebs', volume: '/dev/loop7', waitS: 1 }));
    expect(ebs.argvs('n2', 'umount')).toEqual([['umount', '/mnt/ebs']]);
    expect(ebs.calls.filter((c) => c.argv[2]?.includes('mount "$1" "$2"')).map((c) => c.node)).toEqual(['n1']);
  });

  it('refuses a record whose method part would put something else into a root command', () => {
    expect(transfers.get('s3').checkLeftovers({ bucket: 'b; rm -rf /', prefix: '../', region: 'us-east-1' })).toEqual([
      expect.stringMatching(/^bucket: /),
      expect.stringMatching(/^prefix: /),
    ]);
    expect(transfers.get('efs').checkLeftovers({ mount: '/mnt/../etc' })).toEqual([expect.stringMatching(/^mount: /)]);
    expect(transfers.get('ebs').checkLeftovers({ mount: '/mnt/ebs', volume: '/dev/$(reboot)', waitS: 1 })).toEqual([expect.stringMatching(/^volume: /)]);
    expect(transfers.get('s3').checkLeftovers(undefined)).toEqual([]);
  });
});
