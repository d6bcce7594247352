// Faults on a real lab (lab f1): the destination's sshd killed mid-transfer, its link cut during
// the page stream, its disk full, a failing restore, the workload dying before the dump, the
// controller signalled in each phase, and dropped SSH connections. Each run must end with the
// workload resumed (or, when it died, with the reason), nothing left on either node, and a
// `_failed` results dir holding what both nodes had. Small sizes: the machine is shared.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import type { ConfigOverride } from '../../experiments/config/load.js';
import { ExternalError } from '../../core/errors.js';
import { LEFTOVERS_FILE, type LeftoversRecord } from '../../experiments/leftovers.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress, type Progress } from '../../experiments/progress.js';
import { connectPlanNode } from '../../experiments/remote/connect.js';
import { transfers } from '../../experiments/transfers/registry.js';
import { rsyncTransfer } from '../../experiments/transfers/rsync.js';
import type { Transfer } from '../../experiments/transfers/transfer.js';
import { runCli } from '../support/cli.js';
import { netnsPids } from '../../infra/local/network.js';
import { projectRoot as root, useLab } from '../support/lab.js';

const execFileAsync = promisify(execFile);
const LAB = 'f1';
const SMALL = { mb_size: 16, interval: 0.2, max_memory: 64 };
const lab = useLab({ name: LAB, nodes: 2, workload: SMALL, upTimeoutMs: 90_000, downTimeoutMs: 90_000 });
const { work, servers, nodeDir } = lab;
const labNode = (name: string) => lab.info.nodes.find((n) => n.name === name)!;

async function cmdlines(node: string): Promise<{ pid: number; cmdline: string }[]> {
  const found: { pid: number; cmdline: string }[] = [];
  for (const pid of await netnsPids(labNode(node).netns)) {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim();
    if (cmdline) found.push({ pid, cmdline });
  }
  return found;
}

/** What a run may leave on the nodes: processes carrying a run id (or CRIU's), per-run directories, transfer keys. */
async function leftBehind(): Promise<string[]> {
  const found: string[] = [];
  for (const node of lab.info.nodes) {
    for (const sub of ['srv/criu-lab/work', 'srv/criu-lab/img'])
      if (existsSync(nodeDir(node.name, sub))) found.push(...readdirSync(nodeDir(node.name, sub)).map((entry) => `${node.name}:${sub}/${entry}`));
    for (const { cmdline } of await cmdlines(node.name)) if (/memory_\d{8}|^criu |rsync|payload\.py/.test(cmdline)) found.push(`${node.name}: ${cmdline}`);
    const keys = nodeDir(node.name, 'root/.ssh/authorized_keys');
    if (existsSync(keys) && readFileSync(keys, 'utf8').includes('criu-lab-memory_')) found.push(`${node.name}: a run's key in authorized_keys`);
  }
  return found;
}

/**
 * leftBehind, given a few seconds: a preflight command interrupted by the signal (`criu check`)
 * carries no run id for the cleanup to find, and ends by itself within a second or two.
 */
async function nothingLeftSoon(): Promise<string[]> {
  let found = await leftBehind();
  for (let i = 0; i < 25 && found.length > 0 && found.every((f) => / criu check/.test(f)); i++) {
    await sleep(200);
    found = await leftBehind();
  }
  return found;
}

/** Kills the sshd processes that serve connections on a node (not the listener: it is tini's only child, the node would go with it). */
async function killSshSessions(node: string): Promise<number> {
  const sessions = (await cmdlines(node)).filter((p) => p.cmdline.startsWith('sshd: ') && !p.cmdline.includes('[listener]'));
  for (const { pid } of sessions) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return sessions.length;
}

/** Runs a command in a node's mount namespace (as `ip netns exec` does for the network). */
async function inNode(node: string, argv: string[]): Promise<string> {
  const [pid] = await netnsPids(labNode(node).netns);
  return (await execFileAsync('nsenter', ['-t', String(pid), '-m', '--', ...argv])).stdout;
}

const planFor = (overrides: readonly ConfigOverride[]) => lab.plan(overrides);

/** Progress that runs a fault when a labelled phase starts (and an undo when it ends, however it ends). */
function faultAt(label: string, fault: () => Promise<void>, undo: () => Promise<void> = async () => undefined): Progress {
  const quiet = createProgress(process.stderr, true);
  return {
    note: quiet.note,
    async track(name, step, probe) {
      if (name !== label) return quiet.track(name, step, probe);
      await fault();
      try {
        return await quiet.track(name, step, probe);
      } finally {
        await undo();
      }
    },
  };
}

type Failure = Error & { metrics: RunMetrics; resultsDir: string };

async function failingRun(overrides: readonly ConfigOverride[], progress: Progress): Promise<Failure> {
  const outcome = await runMigration(planFor(overrides), { signal: new AbortController().signal, progress }).then(
    () => new Error('the run succeeded'),
    (error: unknown) => error as Failure,
  );
  expect(outcome).toHaveProperty('metrics');
  return outcome as Failure;
}

/** The common end of every fault: `_failed`, rolled back, what both nodes had collected, nothing left, and the record says both nodes are clean. */
async function expectCleanFailure(failure: Failure, rollback: 'ok' | 'failed' = 'ok'): Promise<void> {
  const { metrics, resultsDir } = failure;
  expect(resultsDir).toMatch(/_failed$/);
  expect(metrics.outcome).toBe('failed');
  expect(metrics.rollback?.status).toBe(rollback);
  for (const file of ['source/node-state.txt', 'dest/node-state.txt', 'metrics.json']) expect(existsSync(join(resultsDir, file))).toBe(true);
  const record = JSON.parse(readFileSync(join(resultsDir, LEFTOVERS_FILE), 'utf8')) as LeftoversRecord;
  expect([...record.cleaned].sort()).toEqual(['destination', 'source']);
  expect(await leftBehind()).toEqual([]);
}

const cli = (...args: string[]) => runCli(args);

describe('the destination fails during the migration', () => {
  it("rolls back when the destination's sshd sessions are killed mid-transfer, and cleans the destination over a new connection", async () => {
    let killing = true;
    let killed = 0;
    const killer = async () => {
      while (killing) {
        killed += await killSshSessions('n2');
        await sleep(30);
      }
    };
    let loop: Promise<void> = Promise.resolve();
    const failure = await failingRun(
      [],
      faultAt(
        'transfer images+workdir',
        async () => {
          loop = killer();
        },
        async () => {
          killing = false;
          await loop;
        },
      ),
    );
    expect(killed).toBeGreaterThan(0);
    expect(failure.message).toMatch(/transfer images\+workdir failed on n1/);
    expect(failure.metrics.error).toMatch(/rsync|connection|closed/i);
    await expectCleanFailure(failure);
  }, 120_000);

  it('fails the dump at its timeout when the destination link is down during the page stream, with the CRIU log tail, and rolls back', async () => {
    const veth = labNode('n2').veth;
    const failure = await failingRun(
      [
        { path: 'checkpoint.strategy.mode', value: 'pageserver', flag: '--strategy' },
        { path: 'timeouts.dump_s', value: 8, flag: '--dump-timeout' },
      ],
      faultAt(
        'dump',
        () => execFileAsync('ip', ['link', 'set', veth, 'down']).then(() => undefined),
        () => execFileAsync('ip', ['link', 'set', veth, 'up']).then(() => undefined),
      ),
    );
    expect(failure).toBeInstanceOf(ExternalError);
    expect(failure.message).toMatch(/dump on n1 did not finish within 8 s; see \/srv\/criu-lab\/img\/memory_\S+\/dump\.log on n1/);
    expect((failure as unknown as ExternalError).details).toMatchObject({ node: 'n1', step: 'dump', logTail: expect.stringMatching(/\(\d+\.\d+\)/) });
    expect(failure.metrics.error).toContain('log tail:');
    expect(existsSync(join(failure.resultsDir, 'source/criu-dump.log'))).toBe(true);
    expect(existsSync(join(failure.resultsDir, 'dest/criu-page-server.log'))).toBe(true);
    await expectCleanFailure(failure);
  }, 150_000);

  it("fails the transfer with 'No space left on device' when the destination's image disk fills up, and rolls back", async () => {
    const imageRoot = '/srv/criu-lab/img';
    const failure = await failingRun(
      [],
      faultAt('dump', async () => {
        // Mounted once the pre-freeze space check has passed, so the disk fills during the transfer.
        await inNode('n2', ['mkdir', '-p', imageRoot]);
        await inNode('n2', ['mount', '-t', 'tmpfs', '-o', 'size=8m', 'criu-lab-full', imageRoot]);
      }),
    );
    try {
      expect(failure.message).toMatch(/transfer images\+workdir failed on n1/);
      expect(failure.metrics.error).toMatch(/No space left on device/);
      expect((await inNode('n2', ['ls', '-A', imageRoot])).trim()).toBe('');
    } finally {
      await inNode('n2', ['umount', imageRoot]);
    }
    await expectCleanFailure(failure);
  }, 120_000);

  it('names n2, the restore and the tail of restore.log when criu restore fails, and resumes the source', async () => {
    const corrupting: Transfer = {
      ...rsyncTransfer,
      name: 'rsync-truncating',
      open(ctx, options) {
        const session = rsyncTransfer.open(ctx, options);
        return {
          ...session,
          async move(items) {
            const moved = await session.move(items);
            await ctx.destination.run(['sh', '-c', 'for f in "$1"/pagemap-*.img; do truncate -s 10 "$f"; done', 'sh', ctx.paths.destImageDir]);
            return moved;
          },
        };
      },
    };
    transfers.register(corrupting);
    const failure = await failingRun([{ path: 'transfer.method', value: 'rsync-truncating', flag: '--transfer' }], createProgress(process.stderr, true));
    expect(failure.message).toMatch(/restore failed on n2 \(exit 1\); see \S+\/restore\.log on n2/);
    expect((failure as unknown as ExternalError).details).toMatchObject({ node: 'n2', step: 'restore', logTail: expect.stringMatching(/Error/) });
    expect(failure.metrics.rollback!.detail).toMatch(/resumed on n1: counter \d+ at freeze, \d+ after SIGCONT/);
    expect(existsSync(join(failure.resultsDir, 'dest/criu-restore.log'))).toBe(true);
    await expectCleanFailure(failure);
  }, 120_000);
});

describe('the workload dies before the dump', () => {
  it('stops before any CRIU call, says the workload is gone, and records that there was nothing to resume', async () => {
    const failure = await failingRun(
      [],
      faultAt('rsync prepare', async () => {
        for (const { pid, cmdline } of await cmdlines('n1')) if (cmdline.includes('payload.py')) process.kill(pid, 'SIGKILL');
      }),
    );
    expect(failure.message).toMatch(/the memory workload \(pid \d+\) is gone on n1 before the dump/);
    expect(failure.metrics.phases.map((p) => p.name)).not.toContain('dump');
    expect(failure.metrics.rollback!.detail).toMatch(/is gone on n1; there is nothing to resume/);
    expect(existsSync(join(failure.resultsDir, 'source/payload.out'))).toBe(true);
    await expectCleanFailure(failure, 'failed');
  }, 120_000);
});

describe('the controller is signalled', () => {
  const PHASES = [
    'connect',
    'preflight',
    'deploy workload',
    'start workload',
    'warm up',
    'rsync prepare',
    'dump',
    'transfer images+workdir',
    'restore',
    'verify',
  ];

  /** One run of the CLI, signalled as soon as `label` starts (`times` signals, 20 ms apart: a second one lands before the cleanup is done); resolves with its exit and stderr. */
  async function signalledRun(
    results: string,
    label: string,
    signal: NodeJS.Signals,
    times = 1,
  ): Promise<{ code: number | null; stderr: string; dir: string }> {
    const sized = ['--mb-size', String(SMALL.mb_size), '--max-memory', String(SMALL.max_memory), '--interval', String(SMALL.interval)];
    const child = spawn(process.execPath, [join(root, 'bin/criu-lab.js'), 'run', '--servers', servers, '--results-dir', results, ...sized], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!sent && stderr.includes(`→ ${label}\n`)) {
        sent = true;
        void (async () => {
          for (let i = 0; i < times; i++) {
            child.kill(signal);
            await sleep(20);
          }
        })();
      }
    });
    child.stdout.resume();
    const code = await new Promise<number | null>((done) => child.on('exit', (c) => done(c)));
    const [dir] = readdirSync(results);
    return { code, stderr, dir: join(results, dir!) };
  }

  it.each(PHASES.map((phase, i) => [phase, i % 2 === 0 ? 'SIGINT' : 'SIGTERM'] as const))(
    'in %s, %s stops the run, resumes the source, cleans both nodes, and `criu-lab cleanup` then finds nothing',
    async (phase, signal) => {
      const results = join(work, `signal-${phase.replace(/\W+/g, '-')}`);
      const { code, stderr, dir } = await signalledRun(results, phase, signal);
      expect({ phase, code }).toEqual({ phase, code: 130 });
      expect(stderr).toContain(`${signal}: stopping the run and cleaning up both nodes`);
      expect(dir).toMatch(/_failed$/);
      const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8')) as RunMetrics;
      expect(metrics.error).toBe('interrupted');
      // From the dump on, the source was frozen (or about to be): it must have been resumed before the cleanup.
      if (PHASES.indexOf(phase) >= PHASES.indexOf('dump')) expect(metrics.rollback?.status).toBe('ok');
      else if (metrics.rollback) expect(metrics.rollback.status).toBe('ok');
      expect(await nothingLeftSoon()).toEqual([]);
      const cleanup = await cli('cleanup', dir);
      expect(cleanup.code).toBe(0);
      expect(cleanup.stderr).toMatch(/nothing left on the nodes/);
    },
    90_000,
  );

  it('after a second SIGINT (exit without cleanup), `criu-lab cleanup` removes what the run left, collects its logs, marks it _failed, and is harmless to repeat', async () => {
    const results = join(work, 'signal-forced');
    const { code, stderr, dir } = await signalledRun(results, 'warm up', 'SIGINT', 2);
    expect(code).toBe(130);
    expect(stderr).toContain('exiting without cleanup; run `criu-lab cleanup <results dir>`');
    expect(dir).not.toMatch(/_failed$/);
    expect((await leftBehind()).join('\n')).toMatch(/^n1:/m);
    const first = await cli('cleanup', dir);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/n1 \(source\) cleaned/);
    expect(first.stdout.trim()).toBe(`${dir}_failed`);
    expect(existsSync(join(`${dir}_failed`, 'source/payload.out'))).toBe(true);
    expect(await leftBehind()).toEqual([]);
    const again = await cli('cleanup', `${dir}_failed`);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/nothing left on the nodes/);
  }, 90_000);
});

describe('a dropped SSH connection', () => {
  it('is re-made with backoff and an idempotent step retried on it; a step that is not idempotent fails, naming node and step', async () => {
    const plan = planFor([]);
    const node = await connectPlanNode(plan, 'source');
    try {
      expect((await node.run(['true'], { idempotent: true })).exitCode).toBe(0);
      expect(await killSshSessions('n1')).toBeGreaterThan(0);
      const retried = await node.run(['sh', '-c', 'sleep 1; echo done'], { idempotent: true, step: 'probe' });
      expect(retried.stdout.trim()).toBe('done');
      expect(node.reconnects.join('\n')).toMatch(/reconnected to n1/);

      const running = node.run(['sleep', '5'], { step: 'dump' }).catch((error: unknown) => error);
      await sleep(500);
      await killSshSessions('n1');
      const error = (await running) as ExternalError;
      expect(error).toBeInstanceOf(ExternalError);
      expect(error.message).toMatch(/connection to n1 dropped during dump; not retried, since dump is not idempotent/);
      expect(error.details).toMatchObject({ node: 'n1', step: 'dump' });

      expect((await node.run(['true'], { idempotent: true })).exitCode).toBe(0);
      const dropDuring = node.run(['sh', '-c', 'sleep 2; echo again'], { idempotent: true, step: 'probe' });
      await sleep(500);
      await killSshSessions('n1');
      expect((await dropDuring).stdout.trim()).toBe('again');
    } finally {
      await node.close();
    }
  }, 60_000);

  it('once closed by the controller, fails the next step at once instead of retrying it forever', async () => {
    const node = await connectPlanNode(planFor([]), 'source');
    expect((await node.run(['true'], { idempotent: true })).exitCode).toBe(0);
    await node.close();
    // A cleanup step of one node still running when another node's failure closed every connection looped here before.
    await expect(node.run(['true'], { idempotent: true, step: 'cleanup' })).rejects.toThrow(/connection to n1 was closed before cleanup finished/);
    expect(node.reconnects).toEqual([]);
  }, 30_000);

  it('during the warm-up does not fail the run: the polling reconnects and the migration verifies', async () => {
    const { metrics } = await runMigration(planFor([]), {
      signal: new AbortController().signal,
      progress: faultAt('warm up', async () => {
        void sleep(300).then(() => killSshSessions('n1'));
      }),
    });
    expect(metrics.outcome).toBe('ok');
    expect(metrics.verify?.ok).toBe(true);
    expect(await leftBehind()).toEqual([]);
  }, 120_000);
});
