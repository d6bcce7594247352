// The rsync transfer's unencrypted path and its streams on this machine, with a real rsync daemon
// on loopback: the run's daemon takes a move split between several streams (every file arrives
// once, links and odd names too), refuses a client without the run's password, and its stop
// leaves no process and no file behind.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Plan } from '../../experiments/config/plan.js';
import type { RunPaths } from '../../experiments/run-context.js';
import { moveArgv, receivingDirs, rsyncTransfer, transferredBytes } from '../../experiments/transfers/rsync.js';
import { daemonConfig, daemonDir, passwordPath, secretsLine, startDaemonArgv, stopDaemonArgv } from '../../experiments/transfers/rsync-daemon.js';

const RUN = 'memory_20261205_101500';
const PASSWORD = '0123456789abcdef0123456789abcdef';
let root: string;
let paths: RunPaths;
let port: number;

const planFor = (streams: number) =>
  ({
    transfer: { streams, encrypt: false, rsync: { cipher: 'aes128-gcm@openssh.com', compress: false, daemonPort: port } },
    nodes: { sshUser: 'root', sshPort: 22, destination: { ip: '127.0.0.1' } },
  }) as unknown as Plan;

const daemonProcesses = () =>
  spawnSync('pgrep', ['-f', `[r]sync --daemon --config=${daemonDir(paths)}`], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter(Boolean);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'criu-lab-rsyncd-'));
  paths = {
    workDir: join(root, 'work', RUN),
    sourceImageDir: join(root, 'img', RUN),
    destImageDir: join(root, 'dest', RUN),
    sourceControlDir: join(root, 'img', `${RUN}.ctl`),
    scriptDir: join(root, 'work', RUN),
    dataDir: join(root, 'work', RUN),
  };
  port = 30_000 + Math.floor(Math.random() * 20_000);
  mkdirSync(daemonDir(paths), { recursive: true, mode: 0o700 });
  writeFileSync(join(daemonDir(paths), 'rsyncd.conf'), daemonConfig(paths, RUN, receivingDirs(paths), ['127.0.0.1']), { mode: 0o600 });
  writeFileSync(join(daemonDir(paths), 'rsyncd.secrets'), secretsLine(PASSWORD), { mode: 0o600 });
  writeFileSync(passwordPath(paths), `${PASSWORD}\n`, { mode: 0o600 });
  const start = startDaemonArgv(paths, '127.0.0.1', port, receivingDirs(paths));
  execFileSync(start[0]!, start.slice(1));
  mkdirSync(join(paths.sourceImageDir, 'sub'), { recursive: true });
  for (const [name, size] of [
    ['pages-1.img', 300_000],
    ['pages-2.img', 200_000],
    ['pages-3.img', 100_000],
    ['mm-1.img', 5_000],
    ['odd *name[1].img', 7_000],
    ['sub/inner.img', 9_000],
  ] as const)
    writeFileSync(join(paths.sourceImageDir, name), Buffer.alloc(size, name));
  symlinkSync('pages-1.img', join(paths.sourceImageDir, 'link'));
});

afterEach(() => {
  const stop = stopDaemonArgv(paths);
  execFileSync(stop[0]!, stop.slice(1));
});

describe('the run rsync daemon on loopback', () => {
  it.each([1, 3])('takes a move in %i stream(s): every file arrives once, links and odd names too', (streams) => {
    const argv = moveArgv({ plan: planFor(streams), runId: RUN, paths }, [{ label: 'images', from: paths.sourceImageDir, to: paths.destImageDir }]);
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(transferredBytes(result.stdout)).toBe(300_000 + 200_000 + 100_000 + 5_000 + 7_000 + 9_000);
    // One rsync per stream, and with several streams one more first that makes the directory tree.
    expect([...result.stdout.matchAll(/Total transferred file size/g)]).toHaveLength(streams === 1 ? 1 : streams + 1);
    expect(execFileSync('diff', ['-r', '--no-dereference', paths.sourceImageDir, paths.destImageDir], { encoding: 'utf8' })).toBe('');
    expect(existsSync(`${paths.sourceControlDir}/mux.lists`)).toBe(false);
  });

  it("refuses a client without the run's password", () => {
    writeFileSync(passwordPath(paths), 'wrong\n', { mode: 0o600 });
    const argv = moveArgv({ plan: planFor(1), runId: RUN, paths }, [{ label: 'images', from: paths.sourceImageDir, to: paths.destImageDir }]);
    const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/auth failed/);
    expect(readFileSync(join(daemonDir(paths), 'rsyncd.log'), 'utf8')).toMatch(/auth failed/);
  });

  it('stops with its connections and leaves no file of its own', () => {
    expect(daemonProcesses()).not.toEqual([]);
    const stop = stopDaemonArgv(paths);
    execFileSync(stop[0]!, stop.slice(1));
    expect(daemonProcesses()).toEqual([]);
    expect(existsSync(daemonDir(paths))).toBe(false);
  });

  it('does not start when another program holds its port, and says so with its log', () => {
    // The run's own daemon (started for every test) goes first, so the port is free for the holder.
    const stop = stopDaemonArgv(paths);
    execFileSync(stop[0]!, stop.slice(1));
    mkdirSync(daemonDir(paths), { recursive: true, mode: 0o700 });
    writeFileSync(join(daemonDir(paths), 'rsyncd.conf'), daemonConfig(paths, RUN, receivingDirs(paths), ['127.0.0.1']), { mode: 0o600 });
    const holder = spawn('/usr/bin/python3', [
      '-c',
      // SO_REUSEADDR: the tests before leave the port's connections in TIME_WAIT, which a plain bind() refuses.
      `import socket,time; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', ${port})); s.listen(); print('up', flush=True); time.sleep(30)`,
    ]);
    try {
      execFileSync('sh', ['-c', `until ss -H -l -t -n "sport = :${port}" | grep -q .; do sleep 0.05; done`], { timeout: 10_000 });
      const start = startDaemonArgv(paths, '127.0.0.1', port, receivingDirs(paths));
      const result = spawnSync(start[0]!, start.slice(1), { encoding: 'utf8' });
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(
        new RegExp(`the rsync daemon did not listen on 127\\.0\\.0\\.1:${port} within 5 s\\n.*bind\\(\\) failed: Address already in use`, 's'),
      );
    } finally {
      holder.kill();
    }
  }, 20_000);

  it('takes a leftovers record that says a daemon may run, and refuses anything else in it', () => {
    expect(rsyncTransfer.checkLeftovers({ daemon: true })).toEqual([]);
    expect(rsyncTransfer.checkLeftovers({})).toEqual([]);
    expect(rsyncTransfer.checkLeftovers({ daemon: true, dir: '/etc' })).not.toEqual([]);
  });
});
