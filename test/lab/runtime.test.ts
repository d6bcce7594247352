// The original framework's ways of running, for real on a lab of their own: a non-root SSH user
// reaching CRIU through sudo, a migration started at a target RSS, payload and data dirs of
// their own, its metrics file, its standalone scripts run by path, and --no-cleanup.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { ConfigOverride } from '../../experiments/config/load.js';
import type { Plan } from '../../experiments/config/plan.js';
import { cleanLeftovers } from '../../experiments/leftovers.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import type { OriginalMetrics } from '../../experiments/original-metrics.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';
import { projectRoot as root, useLab } from '../support/lab.js';

const LAB = 'hrt';
const USER = 'hrtuser';
const payloads = join(root, 'test/fixtures/original/payloads');
const lab = useLab({ name: LAB, nodes: 2, subnet: '10.77.212', user: USER, upTimeoutMs: 90_000 });
const { work } = lab;

/** The run's entries left under a node's /srv (its private bind mount). */
const onNode = (node: string, sub: string): string[] => {
  const dir = lab.nodeDir(node, join('srv', sub));
  return existsSync(dir) ? readdirSync(dir) : [];
};

function planFor(overrides: readonly ConfigOverride[], experiment: Partial<Plan['experiment']> = {}, checkpoint: Partial<Plan['checkpoint']> = {}): Plan {
  const plan = lab.plan(overrides);
  // The config edge maps the original's keys onto these fields; here they are set directly.
  return { ...plan, experiment: { ...plan.experiment, ...experiment }, checkpoint: { ...plan.checkpoint, ...checkpoint } };
}

const migrate = (plan: Plan) =>
  runMigration(plan, { signal: new AbortController().signal, progress: createProgress(process.stderr, true), commandLine: ['criu-lab', 'run', '(test)'] });

describe('a migration as a non-root user with sudo, started at a target RSS', () => {
  let metrics: RunMetrics;
  let resultsDir: string;
  const metricsFile = () => join(work, 'original/experiment_metrics.json');

  beforeAll(async () => {
    const plan = planFor(
      [
        { path: 'workload.mb_size', value: 32, flag: '--mb-size' },
        { path: 'workload.interval', value: 0.2, flag: '--interval' },
        { path: 'workload.max_memory', value: 256, flag: '--max-memory' },
      ],
      { trigger: { kind: 'rss', targetMb: 96 }, metricsFile: metricsFile(), description: 'sudo + rss trigger' },
      { scriptsDir: '/srv/hrt-scripts', dataDir: '/srv/hrt-data' },
    );
    expect(plan.nodes.sshUser).toBe(USER);
    ({ metrics, resultsDir } = await migrate(plan));
  }, 240_000);

  it('restores the memory workload with verify ok, every command run through sudo -n', () => {
    expect(metrics.error).toBeUndefined();
    expect(metrics.outcome).toBe('ok');
    expect(metrics.verify?.checks.every((c) => c.ok && c.counted)).toBe(true);
    expect(metrics.verify?.checks.find((c) => c.name === 'blocks intact')?.kind).toBe('integrity');
  });

  it("starts the migration once the tree's RSS reached the target, before the heap is full, and records it", () => {
    expect(metrics.trigger).toMatchObject({ kind: 'rss', detail: 'rss >= 96 MiB' });
    expect(metrics.trigger!.rssMb).toBeGreaterThanOrEqual(96);
    expect(metrics.dump!.imageBytes).toBeLessThan(256 * 1024 * 1024);
  });

  it('records the description, the command line and the resolved config in metrics.json', () => {
    const written = JSON.parse(readFileSync(join(resultsDir, 'metrics.json'), 'utf8')) as RunMetrics;
    expect(written.description).toBe('sudo + rss trigger');
    expect(written.commandLine).toEqual(['criu-lab', 'run', '(test)']);
    expect((written.config as { nodes: { ssh_user: string } }).nodes.ssh_user).toBe(USER);
  });

  it("writes the original framework's metrics file, in seconds, listing the collected logs", () => {
    const original = JSON.parse(readFileSync(metricsFile(), 'utf8')) as OriginalMetrics;
    expect(original.workload_type).toBe('memory');
    expect(original.final_dump!.duration).toBeCloseTo(metrics.dump!.durationMs / 1000, 6);
    expect(original.transfer!.metadata['method']).toBe('rsync');
    expect(original.log_files.source.some((f) => f.endsWith('criu-dump.log'))).toBe(true);
  });

  it('leaves nothing behind: no run dirs (scripts and data dirs included) and no run key for the user', () => {
    for (const node of ['n1', 'n2']) for (const sub of ['criu-lab/work', 'criu-lab/img', 'hrt-scripts', 'hrt-data']) expect(onNode(node, sub)).toEqual([]);
    expect(readFileSync(`/home/${USER}/.ssh/authorized_keys`, 'utf8')).not.toContain('criu-lab-memory_');
  });
});

describe('standalone scripts of the original framework, run by path', () => {
  it('migrates memory_standalone.py with its own flags, verify ok', async () => {
    const plan = planFor(
      [
        { path: 'workload.script', value: join(payloads, 'memory_standalone.py'), flag: 'workload.script' },
        { path: 'workload.script_args', value: ['--mb_size', '16', '--interval', '0.2', '--max_memory_mb', '64'], flag: 'workload.script_args' },
      ],
      { trigger: { kind: 'wait', seconds: 2 } },
    );
    const { metrics } = await migrate(plan);
    expect(metrics.error).toBeUndefined();
    expect(metrics.workload).toBe('script_memory_standalone');
    expect(metrics.verify?.ok).toBe(true);
    expect(metrics.trigger?.firedAfterReadyMs).toBeGreaterThanOrEqual(2000);
  }, 180_000);

  it('migrates matmul_standalone.py with --no-cleanup: its dirs stay until `criu-lab cleanup`', async () => {
    const plan = planFor(
      [
        { path: 'workload.script', value: join(payloads, 'matmul_standalone.py'), flag: 'workload.script' },
        { path: 'workload.script_args', value: ['--matrix_size', '30'], flag: 'workload.script_args' },
      ],
      { trigger: { kind: 'ready' }, cleanup: false },
    );
    const { metrics, resultsDir } = await migrate(plan);
    expect(metrics.error).toBeUndefined();
    expect(metrics.verify?.ok).toBe(true);
    expect(metrics.leftOnNodes?.['n2']).toContain(`/srv/criu-lab/work/${metrics.runId}`);
    expect(onNode('n2', 'criu-lab/work')).toContain(metrics.runId);
    const report = await cleanLeftovers(resultsDir, () => undefined);
    expect(report.failures).toEqual([]);
    expect(onNode('n2', 'criu-lab/work')).toEqual([]);
    expect(onNode('n1', 'criu-lab/img')).toEqual([]);
  }, 180_000);
});
