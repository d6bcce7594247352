// Real migrations on a real lab (namespaces, sshd, CRIU 4.2.1): the Foundation's promise.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { netnsPids } from '../../infra/local/network.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { projectRoot as root, useLab } from '../support/lab.js';

const LAB = 'mig';
const lab = useLab({ name: LAB, nodes: 2 });
const { work, servers } = lab;

/** Everything a run may leave on a node: processes carrying a run id, and per-run directories. */
function leftovers(): string[] {
  const found: string[] = [];
  for (const node of ['n1', 'n2']) {
    for (const sub of ['srv/criu-lab/work', 'srv/criu-lab/img']) {
      const dir = lab.nodeDir(node, sub);
      if (existsSync(dir)) found.push(...readdirSync(dir).map((entry) => `${node}:${sub}/${entry}`));
    }
  }
  return found;
}

async function runProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const node of ['n1', 'n2']) {
    for (const pid of await netnsPids(`${LAB}-${node}`)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (/memory_\d{8}|criu |rsync/.test(cmdline.replace(/\0/g, ' '))) found.push(`${node}: ${cmdline.replace(/\0/g, ' ')}`);
    }
  }
  return found;
}

describe('a full + rsync migration on the lab', () => {
  let metrics: RunMetrics;
  let resultsDir: string;

  beforeAll(async () => {
    ({ metrics, resultsDir } = await lab.migrate([], { workload: { mb_size: 128, interval: 0.3, max_memory: 512 } }));
  }, 180_000);

  it('restores the 512 MiB memory workload with its checksum intact and its counter moving', () => {
    expect(metrics.outcome).toBe('ok');
    expect(metrics.verify?.ok).toBe(true);
    expect(metrics.verify?.checks.map((c) => c.name)).toEqual([
      'alive on destination',
      'progress continues',
      'same process',
      'blocks intact',
      'exits after checkpoint_flag removal',
    ]);
    expect(metrics.dump!.imageBytes).toBeGreaterThan(512 * 1024 * 1024);
  });

  it('runs the restored process in the destination node PID namespace, under its init', () => {
    const ps = readFileSync(join(resultsDir, 'dest/workload_status_post_restore.txt'), 'utf8').trim().split('\n');
    const [pid, ppid] = ps[1]!.trim().split(/\s+/);
    expect(Number(ppid)).toBe(1); // reparented to tini, PID 1 of n2's namespace
    expect(Number(pid)).toBe(metrics.verify && JSON.parse(readFileSync(join(resultsDir, 'source/workload_status_pre_dump.json'), 'utf8')).pid);
  });

  it('writes metrics.json with every phase timed and CRIU statistics present', async () => {
    const written = JSON.parse(await readFile(join(resultsDir, 'metrics.json'), 'utf8')) as RunMetrics & { transfer: { method: string } };
    expect(written.workload).toBe('memory');
    expect(written.strategy).toBe('full');
    expect(written.transfer.method).toBe('rsync');
    for (const value of [
      written.transfer.bytes,
      written.transfer.durationMs,
      written.transfer.throughputMBps,
      written.dump!.durationMs,
      written.restore!.durationMs,
      written.downtimeMs!,
      written.totalDurationMs,
    ])
      expect(value).toBeGreaterThan(0);
    expect(written.phases.map((p) => p.name)).toEqual(['connect', 'dump', 'transfer.images+workdir', 'restore', 'verify']);
    expect(written.phases.find((p) => p.name === 'dump')?.measuredOn).toBe('n1');
    expect(written.phases.find((p) => p.name === 'restore')?.measuredOn).toBe('n2');
    for (const key of ['freezing_time', 'frozen_time', 'memdump_time', 'memwrite_time', 'pages_scanned', 'pages_written'])
      expect(written.dump!.criuStats[key]).toBeGreaterThan(0);
    expect(written.restore!.criuStats['restore_time']).toBeGreaterThan(0);
    expect(written.downtimeMs!).toBeGreaterThanOrEqual(written.dump!.durationMs + written.restore!.durationMs);
    expect(written.deadlines).toEqual({ aws: { deadlineS: 120, met: true }, gcp: { deadlineS: 30, met: true } });
    expect(written.versions['criu']).toBe('4.2.1');
    const samples = (await readFile(join(resultsDir, 'samples.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(samples).toEqual(
      expect.arrayContaining([expect.objectContaining({ metric: 'downtime', unit: 'ms', metadata: expect.objectContaining({ workload: 'memory' }) })]),
    );
  });

  it('collects the CRIU logs and workload output from both nodes', () => {
    for (const file of [
      'source/criu-dump.log',
      'source/workload_status_pre_dump.txt',
      'source/workload_stdout_pre_dump.log',
      'dest/criu-restore.log',
      'dest/workload_stdout_post_restore.log',
      'dest/workload_final.json',
    ])
      expect(existsSync(join(resultsDir, file))).toBe(true);
  });

  it('leaves no process and no run directory on either node', async () => {
    expect(await runProcesses()).toEqual([]);
    expect(leftovers()).toEqual([]);
  });
});

describe('Ctrl-C during the transfer', () => {
  it('stops, cleans both nodes, and marks the results _failed', async () => {
    const results = join(work, 'results-interrupted');
    const child = spawn(
      process.execPath,
      [join(root, 'bin/criu-lab.js'), 'run', '--servers', servers, '--results-dir', results, '--mb-size', '128', '--max-memory', '512', '--interval', '0.3'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const interrupted = new Promise<void>((resolveSent) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('→ transfer images+workdir') && !child.killed) {
          setTimeout(() => {
            child.kill('SIGINT');
            resolveSent();
          }, 300);
        }
      });
    });
    const exitCode = await new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    await interrupted;
    expect(stderr).toContain('SIGINT: stopping the run and cleaning up both nodes');
    expect(exitCode).toBe(130);
    const dirs = readdirSync(results);
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).toMatch(/^memory_\d{8}_\d{6}_failed$/);
    const metrics = JSON.parse(readFileSync(join(results, dirs[0]!, 'metrics.json'), 'utf8')) as RunMetrics;
    expect(metrics.outcome).toBe('failed');
    expect(metrics.error).toBe('interrupted');
    expect(existsSync(join(results, dirs[0]!, 'source/criu-dump.log'))).toBe(true);
    expect(await runProcesses()).toEqual([]);
    expect(leftovers()).toEqual([]);
  }, 180_000);
});
