// Preflight for each strategy on fake nodes shaped like this lab (no soft-dirty tracking): a row
// per check, predump refused before anything starts with a message naming CONFIG_MEM_SOFT_DIRTY.
import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../core/errors.js';
import { formatPreflight, inspectNodes, preflight } from '../../experiments/preflight.js';
import { strategies } from '../../experiments/strategies/registry.js';
import { FakeWorld, contextFor, flag, planWith, recordingTransfer, type Answer } from './strategies-fakes.js';

const SCRATCH = '/tmp/criu-lab-cpuinfo.test';

interface Lab {
  readonly softDirty?: boolean;
  readonly listening?: Partial<Record<'n1' | 'n2', string>>;
  readonly samePidNamespace?: boolean;
}

/** Answers like this machine's lab nodes: CRIU 4.2.1, uffd on, soft-dirty off, separate PID namespaces on one kernel. */
function labWorld(lab: Lab = {}): FakeWorld {
  const world = new FakeWorld((node, argv): Answer | undefined => {
    const words = argv.join(' ');
    if (words === 'criu --version') return { stdout: 'Version: 4.2.1\n' };
    if (words === 'criu check') return { stdout: 'Looks good.\n' };
    if (words === 'criu check --feature mem_dirty_track')
      return lab.softDirty ? {} : { exitCode: 1, stderr: 'Warn  (criu/cr-check.c:824): Dirty tracking is OFF. Memory snapshot will not work.\n' };
    if (words.startsWith('criu check --feature')) return { stdout: `${argv[3]} is supported\n` };
    if (argv[0] === 'mktemp') return { stdout: `${SCRATCH}\n` };
    if (argv[0] === 'ss') return { stdout: lab.listening?.[node as 'n1' | 'n2'] ?? '' };
    if (argv[0] === 'cat') return { stdout: '67108864\n0\n' };
    if (words.includes('df -P -B1')) return { stdout: '/dev/vda 270000000000 27000000000 80000000000 25% /\n' };
    if (words.includes('boot_id')) return { stdout: `3f1c\npid:[${lab.samePidNamespace ? 1 : node === 'n1' ? 4026532546 : 4026532549}]\n` };
    if (argv[0] === 'uname') return { stdout: '6.18.0\n' };
    return undefined;
  });
  world.files.set(`${SCRATCH}/cpuinfo.img`, Buffer.from('cpuinfo'));
  return world;
}

const contextWith = (world: FakeWorld, ...flags: ReturnType<typeof flag>[]) => contextFor(planWith(flags), world);
/** Preflight asks the transfer only its name and what it can do. */
const rsyncSession = { ...recordingTransfer(new FakeWorld()), name: 'rsync' };

describe('preflight', () => {
  it('refuses predump on a kernel without soft-dirty tracking, naming CONFIG_MEM_SOFT_DIRTY and the strategies that work, before anything starts', async () => {
    const world = labWorld();
    const ctx = contextWith(world, flag('checkpoint.strategy.mode', 'predump'));
    const refused = preflight(ctx, strategies.get('predump'), rsyncSession);
    await expect(refused).rejects.toBeInstanceOf(UsageError);
    const error = (await refused.catch((e: unknown) => e)) as UsageError;
    expect(error.exitCode).toBe(2);
    expect(error.message).toBe('preflight found 1 problem for strategy predump; nothing was started');
    expect(error.problems).toEqual([
      expect.stringMatching(
        /^n1: soft-dirty tracking: the kernel of n1 has no soft-dirty memory tracking \(CONFIG_MEM_SOFT_DIRTY\), so `criu pre-dump` cannot work there .*; fix: choose another strategy on these nodes \(--strategy full, pageserver or lazy\)/,
      ),
    ]);
    const started = world.calls.filter((c) => ['dump', 'pre-dump', 'restore'].includes(c.argv[1] ?? '') || c.argv[0] === 'setsid');
    expect(started).toEqual([]);
  });

  it('passes full, pageserver and lazy on the same nodes', async () => {
    for (const mode of ['full', 'pageserver', 'lazy']) {
      const report = await inspectNodes(contextWith(labWorld(), flag('checkpoint.strategy.mode', mode)), strategies.get(mode), rsyncSession);
      expect({ mode, failing: report.rows.filter((r) => !r.ok) }).toEqual({ mode, failing: [] });
    }
  });

  it('checks what lazy pages need: userfaultfd on the destination, pipe sysctls and a free port on the source', async () => {
    const report = await inspectNodes(contextWith(labWorld(), flag('checkpoint.strategy.mode', 'lazy')), strategies.get('lazy'), rsyncSession);
    expect(report.rows.map((r) => `${r.node} ${r.check}`)).toEqual(
      expect.arrayContaining([
        'n2 userfaultfd',
        'n2 userfaultfd non-cooperative',
        'n1 pipe sysctls',
        'n1 port 27000 free',
        'n1 → n2 cpuinfo',
        'n1 → n2 PID namespace',
      ]),
    );
  });

  it('refuses pageserver with a transfer that hands the image storage over (ebs): the volume would be mounted over the pages', async () => {
    const world = labWorld();
    const ebsSession = { ...recordingTransfer(world), name: 'ebs', capabilities: { handsStorageOver: true, imagesOnSharedStorage: true } };
    const refused = preflight(contextWith(world, flag('checkpoint.strategy.mode', 'pageserver')), strategies.get('pageserver'), ebsSession);
    const error = (await refused.catch((e: unknown) => e)) as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.problems).toEqual([
      expect.stringMatching(
        /^n2: transfer ebs: the page server writes the pages on n2 before ebs brings the image storage there, .*; fix: choose --transfer rsync, s3 or efs with pageserver, or --strategy full with ebs/,
      ),
    ]);
    expect(world.calls.filter((c) => ['dump', 'page-server', 'restore'].includes(c.argv[1] ?? ''))).toEqual([]);
  });

  it('fails a row that names the port and the setting to change when the page server port is taken', async () => {
    const world = labWorld({ listening: { n2: 'LISTEN 0 1 0.0.0.0:27000 0.0.0.0:* users:(("criu",pid=9,fd=7))' } });
    const report = await inspectNodes(contextWith(world, flag('checkpoint.strategy.mode', 'pageserver')), strategies.get('pageserver'), rsyncSession);
    expect(report.ok).toBe(false);
    expect(report.rows.filter((r) => !r.ok)).toEqual([
      expect.objectContaining({
        node: 'n2',
        check: 'port 27000 free',
        detail: expect.stringContaining('taken: LISTEN'),
        fix: expect.stringContaining('checkpoint.strategy.page_server_port'),
      }),
    ]);
  });

  it('fails when both nodes share one PID namespace, where CRIU cannot give the process its PID back', async () => {
    const report = await inspectNodes(contextWith(labWorld({ samePidNamespace: true })), strategies.get('full'), rsyncSession);
    expect(report.rows.find((r) => r.check === 'PID namespace')).toMatchObject({
      ok: false,
      detail: expect.stringContaining("Can't fork for <pid>: File exists"),
    });
  });

  it('prints a table per node with a fix under each failing row', async () => {
    const ctx = contextWith(labWorld(), flag('checkpoint.strategy.mode', 'predump'));
    const table = formatPreflight(await inspectNodes(ctx, strategies.get('predump'), rsyncSession), ctx);
    expect(table.split('\n').filter((line) => !line.startsWith(' '))).toEqual([
      'preflight: strategy predump, workload memory, n1 → n2',
      '',
      'n1 (source)',
      '',
      'n2 (destination)',
      '',
      'n1 → n2',
      '',
      'preflight: 1 of 14 checks failed; nothing was started',
    ]);
    expect(table).toMatch(/\n {2}✗ soft-dirty tracking +the kernel of n1 .*\n +fix: choose another strategy/);
  });
});
