// The dry run is the real pipeline against nodes that record each command: what a run's stages
// issue shows up without anyone keeping a second list, and nothing is touched.
import { describe, expect, it } from '@jest/globals';
import { dryRun } from '../../experiments/pipeline.js';
import { flag, planWith } from './strategies-fakes.js';

const commandsOf = async (...flags: ReturnType<typeof flag>[]) => (await dryRun(planWith(flags))).steps;

describe('a predump + s3 dry run', () => {
  const predumpS3 = () =>
    commandsOf(
      flag('checkpoint.strategy.mode', 'predump'),
      flag('checkpoint.strategy.predump_iterations', 2),
      flag('transfer.method', 's3'),
      flag('transfer.s3_bucket', 'bucket-one'),
    );

  it('lists the soft-dirty preflight, the pre-freeze check, the open-file lookup and the removal of the objects', async () => {
    const steps = await predumpS3();
    const at = (pattern: RegExp) => steps.findIndex((s) => pattern.test(s.command));
    expect(steps.find((s) => s.command === 'criu check --feature mem_dirty_track')).toMatchObject({ node: 'n1', step: 'preflight' });
    expect(steps.find((s) => s.command === "ps -o rss= -s '<pid>'")).toMatchObject({ node: 'n1', step: 'migrate' });
    expect(steps.find((s) => s.command === "ps -L -o lwp= -s '<pid>'")).toMatchObject({ node: 'n1', step: 'migrate' });
    expect(steps.find((s) => s.command.includes('kill -0') && s.command.endsWith(" '<pid>'"))).toMatchObject({ node: 'n2', step: 'migrate' });
    // Each move first looks for files the frozen tree holds open outside the moved directories.
    expect(steps.filter((s) => s.command === 'ps -e -o pid=,ppid=,comm=')).toHaveLength(3);
    expect(steps.find((s) => / s3 rm .*--recursive 's3:\/\/bucket-one\/criu-checkpoints\/memory_<timestamp>\/'$/.test(s.command))).toMatchObject({
      node: 'n1',
      step: 's3 cleanup',
    });
    // In the order a run takes them: the check before the first pre-dump, the removal after the restore.
    expect(at(/^ps -o rss=/)).toBeLessThan(at(/^criu pre-dump /));
    expect(at(/^criu restore /)).toBeLessThan(at(/ s3 rm /));
  });

  it('uploads each round and the final dump, then relinks the chain before the restore', async () => {
    const steps = await predumpS3();
    const uploads = steps.filter((s) => s.node === 'n1' && s.command.includes(' s3 cp ') && s.command.includes('tar -C "$dir" -cf -'));
    expect(uploads.map((s) => /'(\/srv\/criu-lab\/\S+)' env/.exec(s.command)?.[1])).toEqual([
      '/srv/criu-lab/img/memory_<timestamp>/1',
      '/srv/criu-lab/img/memory_<timestamp>/2',
      '/srv/criu-lab/img/memory_<timestamp>/final',
      '/srv/criu-lab/work/memory_<timestamp>',
    ]);
    const relink = steps.findIndex((s) => s.command.includes('ln -s "$2" "$1/parent"'));
    expect(relink).toBeGreaterThan(0);
    expect(relink).toBeLessThan(steps.findIndex((s) => s.command.startsWith('criu restore ')));
  });
});

describe('a dry run', () => {
  it('shows the ebs volume handed over between the nodes without calling any cloud', async () => {
    const steps = await commandsOf(flag('transfer.method', 'ebs'), flag('transfer.ebs.volume', 'vol-0123456789abcdef0'));
    const device = '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0';
    expect(
      steps.filter((s) => s.step === 'migrate' && /^umount |^sh -c .*mount "\$1" "\$2"/.test(s.command)).map((s) => `${s.node} ${s.command.split(' ')[0]}`),
    ).toEqual(['n1 umount', 'n2 sh']);
    expect(steps.some((s) => s.node === 'n2' && s.command.includes(device))).toBe(true);
  });

  it('ends with the cleanup a run does: the workload session, its processes and its directories, on both nodes', async () => {
    const steps = await commandsOf(flag('checkpoint.strategy.mode', 'pageserver'));
    const cleanup = steps.filter((s) => s.step === 'cleanup');
    expect(cleanup.map((s) => s.node).sort()).toEqual(['n1', 'n1', 'n1', 'n1', 'n2', 'n2', 'n2', 'n2']);
    expect(cleanup.at(-1)!.command).toMatch(/^rm -rf --one-file-system /);
  });
});
