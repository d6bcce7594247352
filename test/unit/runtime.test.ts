// The runtime side of the original framework's settings, through their public functions: its
// metrics file, success criteria per check kind, the RSS a trigger reads, scripts run by path,
// and the sudo wrapping of a non-root user's commands.
import { describe, expect, it } from '@jest/globals';
import { join, resolve } from 'node:path';
import { Registry } from '../../core/registry.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { toOriginalMetrics } from '../../experiments/original-metrics.js';
import { asRoot } from '../../experiments/remote/ssh.js';
import { checkKind, describeTrigger, judge } from '../../experiments/workload-control.js';
import { registerScriptWorkload, scriptWorkloadName } from '../../workloads/custom/script.js';
import { parseRssKb } from '../../workloads/proc.js';
import type { Workload } from '../../workloads/workload.js';

const root = resolve(import.meta.dirname, '../..');
const payloads = join(root, 'test/fixtures/original/payloads');

const run: RunMetrics = {
  experiment: 'lazy-pages-test',
  runId: 'memory_20261126_000000',
  workload: 'memory',
  workloadParams: { mb_size: 256, max_memory: 4096 },
  strategy: 'predump',
  source: { name: 'n1', ip: '10.0.1.10' },
  destination: { name: 'n2', ip: '10.0.1.11' },
  startedAt: '2026-11-26T00:00:00.000Z',
  phases: [
    { name: 'connect', startedAt: '2026-11-26T00:00:00.100Z', durationMs: 100, measuredOn: 'controller' },
    { name: 'predump.1', startedAt: '2026-11-26T00:00:10.000Z', durationMs: 2000, measuredOn: 'n1' },
    { name: 'dump', startedAt: '2026-11-26T00:00:30.000Z', durationMs: 1500, measuredOn: 'n1' },
    { name: 'transfer.images+workdir', startedAt: '2026-11-26T00:00:31.500Z', durationMs: 4000, measuredOn: 'n1' },
    { name: 'restore', startedAt: '2026-11-26T00:00:35.500Z', durationMs: 800, measuredOn: 'n2' },
  ],
  predump: {
    planned: 1,
    totalMs: 2000,
    averageMs: 2000,
    stopReason: 'iterations',
    stopDetail: '1 round',
    iterations: [
      { iteration: 1, startedAt: '2026-11-26T00:00:10.000Z', durationMs: 2000, criuStats: { pages_written: 1000 }, shippedBytes: 2 * 1024 * 1024, shipMs: 500 },
    ],
  },
  dump: { durationMs: 1500, criuStats: { frozen_time: 900_000, pages_written: 200 }, imageBytes: 512 * 1024 * 1024 },
  transfer: {
    method: 'rsync',
    bytes: 512 * 1024 * 1024,
    durationMs: 4000,
    throughputMBps: 128,
    steps: [{ name: 'rsync images+workdir', durationMs: 4000, bytes: 512 * 1024 * 1024 }],
  },
  restore: { durationMs: 800, criuStats: { restore_time: 700_000 } },
  downtimeMs: 6300,
  migrationMs: 26_300,
  totalDurationMs: 40_000,
  verify: { ok: true, checks: [{ name: 'alive on destination', ok: true, detail: 'pid 1', kind: 'process', counted: true }] },
  versions: { criu: '4.2.1' },
  outcome: 'ok',
  trigger: { kind: 'ready', detail: 'right after ready', firedAfterReadyMs: 5 },
  commandLine: ['criu-lab', 'run', '-c', 'lazy_pages.yaml'],
  config: {
    experiment: { name: 'lazy-pages-test' },
    workload: { type: 'memory' },
    checkpoint: { strategy: { mode: 'predump' } },
    transfer: { method: 'rsync' },
    nodes: { ssh_user: 'ubuntu' },
  },
};

describe("the original framework's metrics file", () => {
  const original = toOriginalMetrics(run, { output_dir: '/r', source: ['/r/source/criu-dump.log'], dest: [] });

  it('names the experiment and workload as its ExperimentMetrics does, with durations in seconds', () => {
    expect(original).toMatchObject({
      experiment_name: 'lazy-pages-test',
      workload_type: 'memory',
      total_duration: 40,
      timestamp: '2026-11-26T00:00:00.000Z',
      success: true,
    });
  });

  it('has one timing per pre-dump round, with the shipping time as rsync_duration', () => {
    expect(original.pre_dump_iterations).toEqual([
      {
        name: 'pre_dump_1',
        duration: 2,
        start_time: Date.parse('2026-11-26T00:00:10.000Z') / 1000,
        end_time: Date.parse('2026-11-26T00:00:12.000Z') / 1000,
        metadata: { pages_written: 1000, rsync_duration: 0.5, size_mb: 2 },
      },
    ]);
  });

  it('times the final dump, the transfer (method, size_mb, throughput) and the restore from their phases', () => {
    expect(original.final_dump).toMatchObject({
      name: 'final_dump',
      duration: 1.5,
      start_time: Date.parse('2026-11-26T00:00:30.000Z') / 1000,
      end_time: Date.parse('2026-11-26T00:00:31.500Z') / 1000,
    });
    expect(original.final_dump!.metadata).toMatchObject({ size_mb: 512, frozen_time: 900_000 });
    expect(original.transfer).toMatchObject({ name: 'transfer', duration: 4, metadata: { method: 'rsync', size_mb: 512, throughput_mbps: 128 } });
    expect(original.transfer!.start_time).toBe(Date.parse('2026-11-26T00:00:31.500Z') / 1000);
    expect(original.restore).toMatchObject({ name: 'restore', duration: 0.8, metadata: { lazy_pages: false, restore_time: 700_000 } });
  });

  it('keeps downtime, migration and the trigger wait as custom metrics', () => {
    expect(original.custom_metrics['downtime']?.duration).toBe(6.3);
    expect(original.custom_metrics['migration']?.start_time).toBe(Date.parse('2026-11-26T00:00:10.000Z') / 1000);
    expect(original.custom_metrics['wait_before_migration']?.metadata).toEqual({ trigger: 'ready', detail: 'right after ready' });
  });

  it('snapshots the config sections its set_config keeps, the command line, the node addresses and the logs', () => {
    expect(Object.keys(original.config)).toEqual(['checkpoint', 'transfer', 'workload', 'experiment']);
    expect(original.cli_args).toMatchObject({
      argv: ['criu-lab', 'run', '-c', 'lazy_pages.yaml'],
      mb_size: 256,
      strategy: 'predump',
      transfer_method: 'rsync',
    });
    expect(original.nodes).toEqual({ source: '10.0.1.10', destination: '10.0.1.11' });
    expect(original.log_files.source).toEqual(['/r/source/criu-dump.log']);
  });

  it('leaves a step that did not happen as null, as the framework does', () => {
    const failed = toOriginalMetrics(
      { ...run, dump: undefined, transfer: undefined, restore: undefined, predump: undefined, outcome: 'failed' },
      { output_dir: '/r', source: [], dest: [] },
    );
    expect(failed).toMatchObject({ final_dump: null, transfer: null, restore: null, pre_dump_iterations: [], success: false });
  });
});

describe('migration.success_criteria', () => {
  const checks = [
    { name: 'alive on destination', ok: true, detail: '' },
    { name: 'blocks intact', ok: false, detail: 'checksum differs' },
  ];

  it('tells process checks from data integrity checks', () => {
    expect(['alive on destination', 'progress continues', 'same process', 'exits after checkpoint_flag removal'].map(checkKind)).toEqual([
      'process',
      'process',
      'process',
      'process',
    ]);
    expect(['blocks intact', 'table intact', 'results match a recomputation', 'output files valid'].map(checkKind)).toEqual([
      'integrity',
      'integrity',
      'integrity',
      'integrity',
    ]);
  });

  it('fails a run on a failed integrity check while data_integrity_check is on', () => {
    expect(judge(checks, { processRunning: true, dataIntegrity: true }).ok).toBe(false);
  });

  it('records but does not count integrity checks when data_integrity_check is off', () => {
    const judged = judge(checks, { processRunning: true, dataIntegrity: false });
    expect(judged.ok).toBe(true);
    expect(judged.checks.map((c) => [c.name, c.kind, c.counted])).toEqual([
      ['alive on destination', 'process', true],
      ['blocks intact', 'integrity', false],
    ]);
  });
});

describe('migration triggers', () => {
  it('sums VmRSS over the process tree from /proc/<pid>/status', () => {
    expect(parseRssKb('Name:\tpython3\nVmRSS:\t  102400 kB\nThreads:\t1\nName:\tchild\nVmRSS:\t2048 kB\n') / 1024).toBe(102);
  });

  it('describes each trigger as metrics.json records it', () => {
    expect(
      [{ kind: 'warm' } as const, { kind: 'ready' } as const, { kind: 'wait', seconds: 30 } as const, { kind: 'rss', targetMb: 512 } as const].map(
        describeTrigger,
      ),
    ).toEqual(['when the workload is warm', 'right after ready', 'wait 30 s after ready', 'rss >= 512 MiB']);
  });
});

describe('a standalone script run by path', () => {
  const registry = () => new Registry<Workload<Record<string, unknown>>>('workload');

  it('becomes a workload named after the file that starts it with --working_dir and its own flags, in the work dir', () => {
    const workloads = registry();
    const name = registerScriptWorkload(workloads, join(payloads, 'memory_standalone.py'), ['--mb_size', '16'], '--script');
    expect(name).toBe('script_memory_standalone');
    expect(workloads.get(name).startArgv({ params: {}, workDir: '/w/run', scriptDir: '/s/run' })).toEqual([
      'sh',
      '-c',
      'cd "$1" && shift && exec "$@"',
      'sh',
      '/w/run',
      '/usr/bin/python3',
      '/s/run/memory_standalone.py',
      '--working_dir',
      '/w/run',
      '--mb_size',
      '16',
    ]);
    expect(workloads.get(name).observer).toBeDefined();
  });

  it('is registered once for the same script and arguments, and refused for other arguments', () => {
    const workloads = registry();
    const script = join(payloads, 'matmul_standalone.py');
    expect(registerScriptWorkload(workloads, script, [], '--script')).toBe(registerScriptWorkload(workloads, script, [], '--script'));
    expect(() => registerScriptWorkload(workloads, script, ['--matrix_size', '9'], '--script')).toThrow('cannot run the script');
  });

  it('refuses a missing file or one with no known interpreter, naming the flag', () => {
    expect(() => registerScriptWorkload(registry(), '/nonexistent/x_standalone.py', [], '--script')).toThrow(
      expect.objectContaining({ problems: [expect.stringContaining('--script: no such file /nonexistent/x_standalone.py')] }),
    );
    expect(() => registerScriptWorkload(registry(), join(root, 'package.json'), [], 'workload.script')).toThrow(
      expect.objectContaining({ problems: [expect.stringContaining('neither .py nor .sh')] }),
    );
    expect(scriptWorkloadName('/a/My-Job.v2.py')).toBe('script_my_job_v2');
  });
});

describe('a non-root ssh_user', () => {
  it('runs the whole command line under sudo -n, redirections included, quoted once more', () => {
    expect(asRoot("setsid -f python3 'a b' </dev/null >>/w/payload.out 2>&1")).toBe(
      `sudo -n -- sh -c 'setsid -f python3 '\\''a b'\\'' </dev/null >>/w/payload.out 2>&1'`,
    );
  });
});
