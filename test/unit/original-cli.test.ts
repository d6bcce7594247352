// The original framework's `run` flags, typed as its users type them, reach the same config
// keys: checked through `criu-lab run --dry-run --json`, which touches no node.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { Plan } from '../../experiments/config/plan.js';
import { runCli } from '../support/cli.js';

const ORIGINAL = join(resolve(import.meta.dirname, '../..'), 'test/fixtures/original');
const SERVERS = ['--servers', join(ORIGINAL, 'servers.yaml.example')];
// Each test starts the CLI (tsx compiles it first), which takes seconds on a busy machine.
const SLOW = 90_000;

async function dryRun(args: readonly string[]): Promise<{ plan: Plan; wouldRefuse: string[] }> {
  const { code, stdout, stderr } = await runCli(['run', ...SERVERS, ...args, '--dry-run', '--json']);
  expect({ code, stderr: stderr.includes('unknown key') ? stderr : '' }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(stdout) as { plan: Plan; wouldRefuse: string[] };
}

describe("the original's run flags", () => {
  it(
    'take their meaning: -w, --ssh-user, --log-level, --no-cleanup, -n, --transfer-method, -o, --logs-dir, --collect-logs, --preset',
    async () => {
      const { plan } = await dryRun([
        '-w',
        'memory',
        '--ssh-user',
        'ubuntu',
        '--log-level',
        'DEBUG',
        '--no-cleanup',
        '-n',
        'my_exp',
        '--transfer-method',
        'efs',
        '-o',
        '/tmp/criu-lab-m.json',
        '--logs-dir',
        '/tmp/criu-lab-logs',
        '--collect-logs',
        '--preset',
        'small',
        '--wait-before-dump',
        '7',
        '--strategy',
        'full',
      ]);
      expect(plan.workload.type).toBe('memory');
      expect(plan.workload.params).toMatchObject({ mb_size: 128, max_memory: 1024 });
      expect(plan.nodes.sshUser).toBe('ubuntu');
      expect(plan.transfer.method).toBe('efs');
      expect(plan.experiment).toMatchObject({
        name: 'my_exp',
        logLevel: 'debug',
        cleanup: false,
        metricsFile: '/tmp/criu-lab-m.json',
        saveMetrics: true,
        resultsDir: '/tmp/criu-lab-logs',
        trigger: { kind: 'wait', seconds: 7 },
        inertKeys: [{ path: 'experiment.collect_logs', reason: expect.stringMatching(/always collects/) }],
      });
    },
    SLOW,
  );

  it(
    '-c is --config, and --target-memory-mb sets an RSS trigger',
    async () => {
      const { plan } = await dryRun(['-c', join(ORIGINAL, 'experiments/lazy_pages.yaml'), '--target-memory-mb', '2048']);
      expect(plan.workload.params['max_memory']).toBe(4096);
      expect(plan.experiment.trigger).toEqual({ kind: 'rss', targetMb: 2048 });
    },
    SLOW,
  );

  it(
    'refuse --wait-before-dump with --target-memory-mb, as the original does',
    async () => {
      const { code, stderr } = await runCli(['run', ...SERVERS, '--wait-before-dump', '5', '--target-memory-mb', '100', '--dry-run']);
      expect(code).not.toBe(0);
      expect(stderr).toMatch(/option '--wait-before-dump <s>' cannot be used with option '--target-memory-mb <mb>'/);
    },
    SLOW,
  );

  it(
    'name the config key of each in the help',
    async () => {
      // Help wraps its lines: compare with the white space collapsed.
      const help = (await runCli(['run', '--help'])).stdout.replace(/\s+/g, ' ');
      for (const key of [
        'workload.type',
        'nodes.ssh_user',
        'logging.level',
        'experiment.cleanup',
        'experiment.name',
        'transfer.method',
        'experiment.metrics_file',
        'checkpoint.strategy.wait_before_dump',
        'checkpoint.strategy.target_memory_mb',
        'experiment.collect_logs',
        'experiment.results_dir',
        'workload.preset',
      ])
        expect(help).toContain(`(config: ${key})`);
      for (const flag of [
        '-c, --config <file>',
        '-w, --workload <name>',
        '-n, --name <name>',
        '-o, --output <file>',
        '--transfer-method <method>',
        '--logs-dir <dir>',
      ])
        expect(help).toContain(flag);
    },
    SLOW,
  );
});

describe('a dry run', () => {
  it(
    "prints the original's keys accepted with no effect under the plan, and no unknown key",
    async () => {
      const { stdout, stderr, code } = await runCli(['run', ...SERVERS, '-c', join(ORIGINAL, 'default.yaml'), '--dry-run']);
      expect(code).toBe(0);
      expect(stdout).toMatch(
        /\nAccepted from the original framework, with no effect here:\n {2}logging\.format: .*\n {2}paths\.data_setup: .*\n {2}migration\.metrics: /,
      );
      expect(stdout + stderr).not.toContain('unknown key');
    },
    SLOW,
  );

  it(
    'prints what a real run would refuse under the plan, and exits 0',
    async () => {
      const config = join(mkdtempSync(join(tmpdir(), 'criu-lab-cli-')), 'nokey.yaml');
      writeFileSync(config, 'nodes: { ssh_key: /nonexistent/key }\n');
      const { stdout, code } = await runCli(['run', ...SERVERS, '-c', config, '--dry-run']);
      expect(code).toBe(0);
      expect(stdout).toMatch(/\nA real run would refuse this plan until these are fixed:\n {2}nodes\.ssh_key: no such file \/nonexistent\/key/);
    },
    SLOW,
  );
});
