// The rsync transfer's fast settings on a real lab (lab name tf): a full migration with N streams
// over SSH and one through the run's rsync daemon in the clear both restore the memory workload
// intact, metrics.json records the settings, and neither leaves a process, a directory, a daemon
// file or a key line behind; nor does a run whose daemon cannot start (its port taken). The dry
// run of the daemon with streams lists the commands the real run issues.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ConfigOverride } from '../../experiments/config/load.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { setting, useLab } from '../support/lab.js';
import { runLeftovers } from '../support/lab-leftovers.js';
import { compareWithDryRun } from './dry-run-compare.js';

const LAB = 'tf';
const PORT = 28873;
const lab = useLab({ name: LAB, nodes: 2, upTimeoutMs: 90_000, workload: { mb_size: 32, interval: 0.2, max_memory: 128 } });

function migrate(name: string, overrides: ConfigOverride[]) {
  return lab.migrate([setting('checkpoint.strategy.mode', 'full', '--strategy'), ...overrides], { resultsDir: join(lab.work, 'results', name) });
}

/** The run key lines left in the destination's authorized_keys (the lab's root user). */
const runKeyLines = () => {
  const file = lab.nodeDir('n2', 'root/.ssh/authorized_keys');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => / criu-lab-\w+_\d{8}_\d{6}/.test(line))
    : [];
};

describe.each([
  [
    'streams',
    [setting('transfer.streams', 2, '--streams'), setting('transfer.rsync.cipher', 'chacha20-poly1305@openssh.com', '--cipher')],
    { streams: 2, encrypt: true, channel: 'ssh', cipher: 'chacha20-poly1305@openssh.com' },
  ],
  [
    'daemon',
    [setting('transfer.encrypt', false, '--no-encrypt'), setting('transfer.streams', 2, '--streams')],
    { streams: 2, encrypt: false, channel: 'daemon', daemonPort: PORT },
  ],
] as const)('a full migration with rsync %s', (name, overrides, recorded) => {
  let metrics: RunMetrics;
  let resultsDir: string;

  beforeAll(async () => {
    ({ metrics, resultsDir } = await migrate(name, [...overrides]));
  }, 180_000);

  it('restores the memory workload with its checksum intact', () => {
    expect(metrics.outcome).toBe('ok');
    expect(metrics.verify?.ok).toBe(true);
  });

  it("records the rsync settings it ran with in metrics.json's transfer block", () => {
    const written = JSON.parse(readFileSync(join(resultsDir, 'metrics.json'), 'utf8')) as RunMetrics;
    expect(written.transfer?.rsync).toMatchObject({ ...recorded, compress: false });
    expect(written.transfer?.bytes).toBeGreaterThan(128 * 1024 * 1024);
  });

  it('leaves no process, run directory, daemon or key line behind', async () => {
    expect(await runLeftovers(lab.info, ['n1', 'n2'])).toEqual([]);
    expect(runKeyLines()).toEqual([]);
  });
});

describe('an unencrypted run whose daemon port is taken on the destination', () => {
  let blocker: ChildProcess;
  let error: Error & { metrics?: RunMetrics };

  beforeAll(async () => {
    const destination = lab.plan().nodes.destination.ip;
    // SO_REUSEADDR: the run before leaves connections of the daemon's port in TIME_WAIT, which a
    // plain bind() refuses; a second listener (the daemon) is refused all the same.
    const listen =
      `import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ` +
      `s.bind(('${destination}', ${PORT})); s.listen(); print('up', flush=True); time.sleep(600)`;
    blocker = spawn('ip', ['netns', 'exec', `${LAB}-n2`, '/usr/bin/python3', '-c', listen], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((resolve, reject) => {
      blocker.stdout!.once('data', resolve);
      blocker.once('exit', (code) => reject(new Error(`the port blocker exited (${code}) before it listened on ${PORT}`)));
    });
    error = await migrate('taken', [setting('transfer.encrypt', false, '--no-encrypt')]).then(
      () => new Error('the run succeeded'),
      (caught: unknown) => caught as Error,
    );
  }, 180_000);

  afterAll(() => {
    blocker.kill();
  });

  it('fails before the freeze with an error that names the setting and carries the daemon log', () => {
    expect(error.message).toMatch(
      /^transfer\.rsync\.daemon_port: the rsync daemon did not listen on [\d.]+:28873 within 5 s; .*bind\(\) failed: Address already in use.*; free port 28873 on n2/,
    );
    expect(error.metrics?.outcome).toBe('failed');
    expect(error.metrics!.phases.map((p) => p.name)).not.toContain('dump');
  });

  it('leaves no process, run directory, daemon file or password behind', async () => {
    expect(await runLeftovers(lab.info, ['n1', 'n2'])).toEqual([]);
  });
});

describe('a dry run of rsync through the daemon in 2 streams', () => {
  it('lists the commands the real run issues on the lab', async () => {
    const plan = lab.plan([setting('transfer.encrypt', false, '--no-encrypt'), setting('transfer.streams', 2, '--streams')], {
      resultsDir: join(lab.work, 'results', 'dry-run'),
    });
    const { outcome, differences } = await compareWithDryRun(plan);
    expect(outcome).toBe('ok');
    expect(differences).toEqual({ missing: [], unplanned: [] });
    expect(await runLeftovers(lab.info, ['n1', 'n2'])).toEqual([]);
  }, 180_000);
});
