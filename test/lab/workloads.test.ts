// Every workload migrated for real on one lab (namespaces, sshd, CRIU 4.2.1), full + rsync, with
// small parameters: each must go on with its data proven intact. Then the ways it must not pass:
// a corrupted image, a process killed after restore, a package missing on a node.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../core/errors.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { type RunOutcome } from '../../experiments/pipeline.js';
import { transfers } from '../../experiments/transfers/registry.js';
import type { Transfer } from '../../experiments/transfers/transfer.js';
import { netnsPids } from '../../infra/local/network.js';
import { workloads } from '../../workloads/registry.js';
import { runLeftovers } from '../support/lab-leftovers.js';
import { pythonModule, type Workload } from '../../workloads/workload.js';
import { projectRoot as root, setting, useLab } from '../support/lab.js';

const LAB = 'w5';
const NODES = ['n1', 'n2'] as const;
const lab = useLab({ name: LAB, nodes: 2 });
const { work, servers, nodeDir } = lab;

/** Runs one migration in this process, as `criu-lab run` would, with flags given as config paths. */
async function migrate(workload: string, params: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<RunOutcome> {
  return lab.migrate([setting('workload.type', workload), ...Object.entries(extra).map(([path, value]) => setting(path, value))], { workload: params });
}

const checkNames = (metrics: RunMetrics) => metrics.verify?.checks.map((c) => c.name);
const detailOf = (metrics: RunMetrics, name: string) => metrics.verify?.checks.find((c) => c.name === name)?.detail ?? '';
const failedChecks = (metrics: RunMetrics) => (metrics.verify?.checks ?? []).filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

describe('each workload, full + rsync, small', () => {
  it('matmul: the iteration count goes on and the results match a recomputation from the seeded inputs', async () => {
    const { metrics } = await migrate('matmul', { matrix_size: 256, interval: 0.1 });
    expect(failedChecks(metrics)).toEqual([]);
    expect(metrics.outcome).toBe('ok');
    expect(checkNames(metrics)).toEqual([
      'alive on destination',
      'progress continues',
      'same process',
      'inputs intact',
      'results match a recomputation',
      'exits after checkpoint_flag removal',
    ]);
  }, 60_000);

  it('dataproc: operations go on and the table is bit-identical', async () => {
    const { metrics } = await migrate('dataproc', { num_rows: 50_000, num_cols: 10, interval: 0.1 });
    expect(failedChecks(metrics)).toEqual([]);
    expect(metrics.outcome).toBe('ok');
    expect(checkNames(metrics)).toContain('table intact');
  }, 60_000);

  it('redis: the data set and the very same client connection survive, and dest/ shows it', async () => {
    const { metrics, resultsDir } = await migrate('redis', { num_keys: 5000, value_size: 512 });
    expect(failedChecks(metrics)).toEqual([]);
    expect(metrics.outcome).toBe('ok');
    expect(checkNames(metrics)).toEqual([
      'alive on destination',
      'progress continues',
      'same process',
      'same client connection',
      'data intact',
      'exits after checkpoint_flag removal',
    ]);
    const frozen = readJson(join(resultsDir, 'source/workload_status_pre_dump.json'));
    const final = readJson(join(resultsDir, 'dest/workload_final.json'));
    expect(final['connection']).toEqual(frozen['connection']);
    expect(final['dbsize']).toBe(5000);
    // The restored client logs, on its first tick after restore, which connection answers it.
    const { id, addr } = frozen['connection'] as { id: number; addr: string };
    expect(readFileSync(join(resultsDir, 'dest/workload_stdout_post_restore.log'), 'utf8')).toMatch(
      new RegExp(`restored at op \\d+: the same connection answers as \\{'id': ${id}, 'addr': '${addr}'`),
    );
    expect(readFileSync(join(resultsDir, 'dest/workload_status_post_restore.txt'), 'utf8')).toMatch(/redis-server --port 6379/);
    expect(readFileSync(join(resultsDir, 'dest/payload.out'), 'utf8')).toMatch(/Ready to accept connections/);
  }, 60_000);

  it('ml_training: steps go on, the frozen parameters are the restored ones, the loss keeps falling', async () => {
    const { metrics } = await migrate('ml_training', { model_size: 'small', dataset_size: 2000 });
    expect(failedChecks(metrics)).toEqual([]);
    expect(metrics.outcome).toBe('ok');
    expect(checkNames(metrics)).toEqual([
      'alive on destination',
      'progress continues',
      'same process',
      'parameters intact',
      'loss decreasing on average',
      'exits after checkpoint_flag removal',
    ]);
  }, 90_000);

  it('video (live): the parent and ffmpeg come back, segments keep coming, all moved intact and valid', async () => {
    const { metrics, resultsDir } = await migrate('video', { resolution: '160x120', fps: 10 });
    expect(failedChecks(metrics)).toEqual([]);
    expect(metrics.outcome).toBe('ok');
    expect(checkNames(metrics)).toEqual([
      'alive on destination',
      'progress continues',
      'process tree restored',
      'output keeps growing',
      'output intact',
      'output files valid',
      'exits after checkpoint_flag removal',
    ]);
    expect(readFileSync(join(resultsDir, 'source/workload_status_pre_dump.txt'), 'utf8')).toMatch(/ffmpeg .*testsrc2/);
  }, 60_000);

  it('video (file): the one MP4 ffmpeg holds open keeps growing and stays valid', async () => {
    const { metrics } = await migrate('video', { resolution: '160x120', fps: 10, video_mode: 'file', duration: 60 });
    expect(failedChecks(metrics)).toEqual([]);
    expect(detailOf(metrics, 'output files valid')).toMatch(/ffprobe reads all 1 file/);
  }, 60_000);

  it('a seed-style script registered by YAML only: alive, going on, and its log outside the work dir moved', async () => {
    const log = `/tmp/myworkload-${Date.now()}.log`;
    const { metrics } = await migrate('myworkload', { work_units: 2000, log_file: log });
    expect(failedChecks(metrics)).toEqual([]);
    expect(metrics.outcome).toBe('ok');
    expect(checkNames(metrics)).toEqual(['alive on destination', 'progress continues', 'same process tree', 'exits after checkpoint_flag removal']);
    expect(metrics.phases.map((p) => p.name)).toEqual(
      expect.arrayContaining(['transfer.stage open files', 'transfer.images+workdir+open-files', 'transfer.place open files']),
    );
    // The restored script went on writing to the moved file, through the fd CRIU reopened.
    expect(readFileSync(nodeDir('n2', log), 'utf8')).toMatch(/restore complete after \d+ rounds/);
  }, 60_000);

  it('leaves no process and no run directory on either node', async () => {
    expect(await runLeftovers(lab.info, NODES)).toEqual([]);
  });
});

describe('a migration that must not pass', () => {
  it('fails verify and ends _failed when a page of the image is corrupted before restore', async () => {
    // A transfer that flips one byte inside the memory workload's first block once it is on the destination.
    const block0 = execFileSync('/usr/bin/python3', ['-c', 'import random, sys; sys.stdout.buffer.write(random.Random(0).randbytes(64))']);
    const rsync = transfers.get('rsync');
    const corrupting: Transfer = {
      ...rsync,
      name: 'rsync_corrupting',
      open: (ctx, options) => {
        const session = rsync.open(ctx, options);
        return {
          ...session,
          move: async (items) => {
            const moved = await session.move(items);
            const images = nodeDir('n2', ctx.paths.destImageDir);
            const flipped = readdirSync(images)
              .filter((f) => f.startsWith('pages-'))
              .some((file) => {
                const data = readFileSync(join(images, file));
                const at = data.indexOf(block0);
                if (at < 0) return false;
                data[at + 4096] = data[at + 4096]! ^ 0xff;
                writeFileSync(join(images, file), data);
                return true;
              });
            if (!flipped) throw new Error('the first block was not found in the page images');
            return moved;
          },
        };
      },
    };
    transfers.register(corrupting);
    const { metrics, resultsDir } = await migrate('memory', { mb_size: 16, max_memory: 32, interval: 0.1 }, { 'transfer.method': 'rsync_corrupting' });
    expect(metrics.outcome).toBe('failed');
    expect(metrics.verify?.ok).toBe(false);
    expect(failedChecks(metrics)).toEqual([expect.stringMatching(/^blocks intact: 2 blocks \(32 MiB\) frozen/)]);
    expect(resultsDir).toMatch(/memory_\d{8}_\d{6}(_\d+)?_failed$/);
  }, 60_000);

  it('exits non-zero with _failed results when the restored process is killed during verify', async () => {
    const results = join(work, 'results-killed');
    const experiment = join(work, 'short-verify.yaml');
    writeFileSync(experiment, 'timeouts:\n  verify_s: 6\n');
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin/criu-lab.js'),
        'run',
        '--servers',
        servers,
        '-c',
        experiment,
        '--results-dir',
        results,
        '--workload',
        'dataproc',
        '--num-rows',
        '20000',
        '--num-cols',
        '5',
        '--interval',
        '0.1',
      ],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let killed = '';
    child.stderr.on('data', async (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!killed && stderr.includes('→ verify')) {
        killed = 'pending';
        for (const pid of await netnsPids(`${LAB}-n2`)) {
          // A process of the netns may be gone by now (an ssh session ending): not the one looked for.
          const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (cmdline.includes('payload.py') && cmdline.includes('dataproc_')) {
            process.kill(pid, 'SIGKILL');
            killed = String(pid);
          }
        }
      }
    });
    const exitCode = await new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    expect(killed).toMatch(/^\d+$/);
    expect(exitCode).toBe(1);
    const [dir] = readdirSync(results);
    expect(dir).toMatch(/^dataproc_\d{8}_\d{6}_failed$/);
    expect((readJson(join(results, dir!, 'metrics.json')) as unknown as RunMetrics).outcome).toBe('failed');
    expect(stderr).toMatch(/results \(logs from both nodes\)/);
  }, 90_000);

  it('stops in preflight, naming the package, when a node lacks what the workload needs', async () => {
    const needy: Workload<Record<string, unknown>> = Object.assign(Object.create(workloads.get('memory')) as Workload<Record<string, unknown>>, {
      name: 'needs_absent_module',
      requires: [pythonModule('criu_lab_absent_module', 'python3-criu-lab-absent')],
    });
    workloads.register(needy);
    const failure = await migrate('needs_absent_module', {}).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(UsageError);
    expect((failure as UsageError).message).toMatch(/nothing was started/);
    expect((failure as UsageError).problems).toEqual(
      expect.arrayContaining(
        ['n1', 'n2'].map((node) =>
          expect.stringMatching(
            new RegExp(
              `^${node}: .*needs the python module criu_lab_absent_module \\(Debian package python3-criu-lab-absent\\).*apt-get install python3-criu-lab-absent`,
            ),
          ),
        ),
      ),
    );
  }, 60_000);

  it('leaves no process and no run directory on either node', async () => {
    expect(await runLeftovers(lab.info, NODES)).toEqual([]);
  });
});
