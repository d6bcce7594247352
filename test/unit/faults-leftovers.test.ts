// The leftovers record a run keeps for `criu-lab cleanup`, without a lab: what it says as effects
// happen, a cleanup that finds nothing to do, and a record that was tampered with, refused
// before any connection is attempted.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { UsageError } from '../../core/errors.js';
import { cleanNodes, killSessionArgv } from '../../experiments/cleanup.js';
import { cleanLeftovers, LEFTOVERS_FILE, LeftoversLog, type LeftoversRecord } from '../../experiments/leftovers.js';
import { FakeWorld } from './strategies-fakes.js';

const RUN = 'memory_20261205_101500';
const node = (name: string, ip: string) => ({ name, ip });
const connection = {
  nodes: {
    sshUser: 'root',
    sshKey: '/nonexistent/key',
    sshPort: 22,
    knownHosts: '/nonexistent/known_hosts',
    trustUnknownHostKeys: false,
    bastion: undefined,
    source: node('n1', '192.0.2.1'),
    destination: node('n2', '192.0.2.2'),
  },
  timeouts: { connectS: 1, commandS: 1, readyS: 1, dumpS: 1, transferS: 1, restoreS: 1, verifyS: 1 },
};
const paths = {
  workDir: `/srv/criu-lab/work/${RUN}`,
  sourceImageDir: `/srv/criu-lab/img/${RUN}`,
  destImageDir: `/srv/criu-lab/img/${RUN}`,
  sourceControlDir: `/srv/criu-lab/img/${RUN}.ctl`,
  scriptDir: `/srv/criu-lab/work/${RUN}`,
  dataDir: `/srv/criu-lab/work/${RUN}`,
};

const resultsDir = () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'faults-')), RUN);
  mkdirSync(dir);
  return dir;
};
const read = (dir: string) => JSON.parse(readFileSync(join(dir, LEFTOVERS_FILE), 'utf8')) as LeftoversRecord;

describe('the leftovers record', () => {
  it('is on disk before anything happens, and follows the run: touched nodes, the workload pid, each node cleaned', async () => {
    const dir = resultsDir();
    const log = await LeftoversLog.create(dir, { runId: RUN, connection, paths, transfer: 'rsync' });
    expect(read(dir)).toMatchObject({ runId: RUN, touched: [], cleaned: [], paths });
    await log.update({ touched: ['source', 'destination'] });
    await log.update({ workloadPid: 42 });
    await Promise.all([log.markCleaned('source'), log.markCleaned('destination'), log.markCleaned('source')]);
    expect(read(dir)).toMatchObject({ touched: ['source', 'destination'], workloadPid: 42, cleaned: ['source', 'destination'] });
  });
});

describe('criu-lab cleanup', () => {
  it('does not connect when every touched node was cleaned, and marks a run without metrics _failed', async () => {
    const dir = resultsDir();
    const log = await LeftoversLog.create(dir, { runId: RUN, connection, paths, transfer: 'rsync' });
    await log.update({ touched: ['source'] });
    await log.markCleaned('source');
    const notes: string[] = [];
    const report = await cleanLeftovers(dir, (m) => notes.push(m));
    expect(notes[0]).toBe(`${RUN}: nothing left on the nodes`);
    expect(report).toEqual({ resultsDir: `${dir}_failed`, cleaned: [], failures: [] });
    expect(existsSync(join(`${dir}_failed`, LEFTOVERS_FILE))).toBe(true);
  });

  it('keeps the name of a run that finished, and reports a node it cannot reach as a failure, leaving it pending', async () => {
    const dir = resultsDir();
    writeFileSync(join(dir, 'metrics.json'), '{}');
    const log = await LeftoversLog.create(dir, { runId: RUN, connection, paths, transfer: 'rsync' });
    await log.update({ touched: ['source', 'destination'] });
    await log.markCleaned('destination');
    const report = await cleanLeftovers(dir, () => undefined);
    expect(report.resultsDir).toBe(dir);
    expect(report.failures).toEqual([expect.stringMatching(/^n1 \(source\): /)]);
    expect(read(dir).cleaned).toEqual(['destination']);
  });

  it('refuses a directory without a record, as a usage error', async () => {
    await expect(cleanLeftovers(resultsDir(), () => undefined)).rejects.toBeInstanceOf(UsageError);
  });
});

describe('criu-lab cleanup, given a leftovers.json that was tampered with', () => {
  // A TCP listener stands in for both nodes' sshd: it counts every connection cleanup attempts.
  let server: Server;
  let attempts = 0;
  let keyDir: string;
  let reachable: LeftoversRecord['connection'];

  beforeAll(async () => {
    server = createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    keyDir = mkdtempSync(join(tmpdir(), 'faults-key-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id_ed25519')]);
    writeFileSync(join(keyDir, 'known_hosts'), '127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmDT06hXJ/jUshmGg76UrygN4tXgVSICAPntu5orJil\n');
    const local = node('n1', '127.0.0.1');
    reachable = {
      ...connection,
      nodes: {
        ...connection.nodes,
        sshKey: join(keyDir, 'id_ed25519'),
        knownHosts: join(keyDir, 'known_hosts'),
        sshPort: (server.address() as AddressInfo).port,
        source: local,
        destination: { ...local, name: 'n2' },
      },
    };
  });

  afterAll(async () => {
    await new Promise((closed) => server.close(closed));
  });

  /** A record as a run writes it, both nodes pending, with `change` applied to its JSON. */
  function recordWith(change: (record: Record<string, unknown>) => void): string {
    const dir = resultsDir();
    const record: Record<string, unknown> = {
      runId: RUN,
      connection: reachable,
      paths,
      transfer: 'rsync',
      workloadPid: 4242,
      touched: ['source', 'destination'],
      cleaned: [],
    };
    change(record);
    writeFileSync(join(dir, LEFTOVERS_FILE), JSON.stringify(record));
    return dir;
  }

  async function refusal(dir: string): Promise<UsageError> {
    const before = attempts;
    const error = await cleanLeftovers(dir, () => undefined).then(
      () => new Error('cleanup ran'),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UsageError);
    // Give a connection that was started time to arrive before counting.
    await new Promise((settle) => setTimeout(settle, 200));
    expect(attempts).toBe(before);
    return error as UsageError;
  }

  it('connects to the nodes when the record is as a run wrote it (the listener sees cleanup try)', async () => {
    const before = attempts;
    const report = await cleanLeftovers(
      recordWith(() => undefined),
      () => undefined,
    );
    expect(report.failures).toHaveLength(2);
    expect(attempts).toBeGreaterThan(before);
  });

  it('refuses a run id carrying a sed command, and connects to no node', async () => {
    const error = await refusal(recordWith((r) => (r['runId'] = `${RUN}$/d;1e touch /tmp/pwned;#`)));
    expect(error.message).toMatch(/is not a run's leftovers record; nothing was run on the nodes/);
    expect(error.problems[0]).toMatch(/^runId: ".*" is not a run id \(<workload>_<yyyymmdd>_<hhmmss>\)/);
  });

  it('refuses a pattern as the run id (pkill -f .* would end every process), and connects to no node', async () => {
    for (const runId of ['.*', '[a-z]*', '']) expect((await refusal(recordWith((r) => (r['runId'] = runId)))).problems[0]).toMatch(/^runId: /);
  });

  it('refuses paths outside the run, naming each, and connects to no node', async () => {
    const error = await refusal(
      recordWith(
        (r) =>
          (r['paths'] = {
            workDir: '/',
            sourceImageDir: `/srv/criu-lab/img/${RUN}/../../..`,
            destImageDir: `/etc/${RUN}x`,
            sourceControlDir: `/srv/criu-lab/img/${RUN}`,
            scriptDir: `/srv/criu-lab/work/${RUN}`,
            dataDir: `/srv/criu-lab/work/${RUN}`,
          }),
      ),
    );
    expect(error.problems).toEqual([
      `paths.workDir: "/" is not a directory of run ${RUN} (an absolute path ending in /${RUN})`,
      `paths.sourceImageDir: "/srv/criu-lab/img/${RUN}/../../.." is not a directory of run ${RUN} (an absolute path ending in /${RUN})`,
      `paths.destImageDir: "/etc/${RUN}x" is not a directory of run ${RUN} (an absolute path ending in /${RUN})`,
      `paths.sourceControlDir: "/srv/criu-lab/img/${RUN}" is not a directory of run ${RUN} (an absolute path ending in /${RUN}.ctl)`,
      expect.stringMatching(/^fix: pass the results directory of a run/),
    ]);
  });

  it('refuses a record without pinned host keys, or with mistyped connection fields, and connects to no node', async () => {
    const withNodes = (change: Record<string, unknown>) => (r: Record<string, unknown>) =>
      (r['connection'] = { ...reachable, nodes: { ...reachable.nodes, ...change } });
    expect((await refusal(recordWith(withNodes({ knownHosts: undefined })))).problems[0]).toMatch(/^connection\.nodes\.knownHosts: /);
    expect((await refusal(recordWith(withNodes({ sshPort: '22; id' })))).problems[0]).toMatch(/^connection\.nodes\.sshPort: /);
    expect((await refusal(recordWith(withNodes({ sshUser: 'root -oProxyCommand=id' })))).problems[0]).toMatch(
      /^connection\.nodes\.sshUser: must be a user name/,
    );
    expect((await refusal(recordWith((r) => (r['workloadPid'] = -1)))).problems[0]).toMatch(/^workloadPid: /);
    expect((await refusal(recordWith((r) => (r['transfer'] = 'scp')))).problems[0]).toMatch(/^transfer: must be a transfer method/);
    expect((await refusal(recordWith((r) => (r['touched'] = ['everywhere'])))).problems[0]).toMatch(/^touched\.0: /);
  });

  it('refuses a file that is not JSON', async () => {
    const dir = resultsDir();
    writeFileSync(join(dir, LEFTOVERS_FILE), '{"runId": ');
    expect((await refusal(dir)).message).toMatch(/leftovers\.json is not JSON$/);
  });
});

describe("ending the workload's session on a node", () => {
  /** Starts `sh` (argv ending in `tag`) in a session of its own, with a child whose argv lacks the tag; returns the session id. */
  function session(tag: string, marker: string): number {
    execFileSync('setsid', ['-f', 'sh', '-c', `sleep ${marker} & wait`, tag], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const pid = spawnSync('pgrep', ['-f', `^sleep ${marker}$`], { encoding: 'utf8' }).stdout.trim();
      if (pid) return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[3]);
      execFileSync('sleep', ['0.05']);
    }
    throw new Error(`sleep ${marker} did not start`);
  }
  const alive = (marker: string) => spawnSync('pgrep', ['-f', `^sleep ${marker}$`]).status === 0;
  const run = (argv: string[]) => spawnSync(argv[0]!, argv.slice(1));

  it('ends a session holding a process of the run, children included, and leaves another session with the same number alone', () => {
    const marker = (n: number) => `${3000 + n}.${process.pid}`;
    const ours = session(`criu-lab-test ${RUN}`, marker(1));
    const theirs = session('someone-else', marker(2));
    try {
      // The destination before its restore: the source's PID names a session that is not the run's.
      run(killSessionArgv(RUN, theirs));
      expect([alive(marker(1)), alive(marker(2))]).toEqual([true, true]);
      run(killSessionArgv(RUN, ours));
      for (let i = 0; i < 50 && alive(marker(1)); i++) execFileSync('sleep', ['0.05']);
      expect([alive(marker(1)), alive(marker(2))]).toEqual([false, true]);
    } finally {
      run(['pkill', '-KILL', '-s', String(ours)]);
      run(['pkill', '-KILL', '-s', String(theirs)]);
    }
  });
});

describe('cleaning both nodes of a run', () => {
  it('stops processes on both, removes directories one node after the other (shared storage races), and goes on past a failing node', async () => {
    // n1's rm fails; n2 must still be stopped and cleaned, and the failure says why, with rm's own words.
    const world = new FakeWorld((name, argv) =>
      name === 'n1' && argv[0] === 'rm' ? { exitCode: 1, stderr: 'rm: cannot remove dir: Directory not empty' } : undefined,
    );
    const [n1, n2] = [world.node('n1', '192.0.2.1'), world.node('n2', '192.0.2.2')];
    const cleaned: string[] = [];
    const failure = await cleanNodes([n1, n2], RUN, paths, 42, async (node) => void cleaned.push(node.name)).catch((error: unknown) => error as Error);
    expect(failure).toBeInstanceOf(Error);
    expect(cleaned).toEqual(['n2']);
    const order = world.calls.map((call) => `${call.node} ${call.argv[0]}`);
    // A failing removal is tried five times (network filesystems hide files still being released for a moment).
    expect(order.filter((call) => call.endsWith(' rm'))).toEqual(['n1 rm', 'n1 rm', 'n1 rm', 'n1 rm', 'n1 rm', 'n2 rm']);
    expect((failure as Error).message).toMatch(/rm failed on n1/);
    // Every kill on both nodes comes before the first removal.
    expect(order.lastIndexOf('n2 pkill')).toBeLessThan(order.indexOf('n1 rm'));
    expect(order.lastIndexOf('n1 pkill')).toBeLessThan(order.indexOf('n1 rm'));
  }, 20_000);
});
