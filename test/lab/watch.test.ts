// `criu-lab watch` on a real lab: the simulated spot notice is a file on the source node that
// the same probe reads as it reads IMDS, so the migration starts from the notice path a real
// instance would take; the margin against the notice's termination time is recorded. And the
// real IMDSv2 path, against a small IMDS on a lab node (--imds-url): token, 404s, then the notice.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RunMetrics } from '../../experiments/metrics.js';
import { parseProbe, probeArgv, simulatedNotice } from '../../experiments/watch/notice.js';
import type { WatchRecord } from '../../experiments/watch/record.js';
import { projectRoot as root, useLab } from '../support/lab.js';

const LAB = 'swwatch';
const lab = useLab({ name: LAB, nodes: 2 });
const { work, servers } = lab;

describe('the notice probe', () => {
  it('reads a notice from the notice file or from IMDS, and nothing else as one', () => {
    expect(parseProbe('1795660000000\nnotice-file\n{"action":"terminate","time":"2026-11-26T03:02:00Z"}\n')).toEqual({
      nodeTimeMs: 1795660000000,
      via: 'notice-file',
      notice: { action: 'terminate', time: '2026-11-26T03:02:00Z' },
    });
    expect(parseProbe('1795660000000\nimds\n{"action":"stop","time":"2026-11-26T03:02:00Z"}\n').via).toBe('imds');
    expect(parseProbe('1795660000000\nimds\n<html>404</html>\n')).toMatchObject({ via: 'none', notice: undefined });
    expect(parseProbe('1795660000000\nimds-unreachable\n').via).toBe('imds-unreachable');
    expect(parseProbe('1795660000000\nnone\n').notice).toBeUndefined();
  });

  it('asks IMDSv2 for a token first, then spot/instance-action, with the values as arguments', () => {
    const argv = probeArgv('/srv/x/instance-action', 'http://169.254.169.254');
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).toMatch(/-X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "\$2\/latest\/api\/token"/);
    expect(argv[2]).toMatch(/X-aws-ec2-metadata-token: \$token" "\$2\/latest\/meta-data\/spot\/instance-action"/);
    expect(argv.slice(3)).toEqual(['sh', '/srv/x/instance-action', 'http://169.254.169.254']);
    expect(simulatedNotice(Date.parse('2026-11-26T03:00:00.400Z'))).toEqual({ action: 'terminate', time: '2026-11-26T03:02:00Z' });
  });
});

describe('criu-lab watch --simulate-after', () => {
  let stdout = '';
  let exitCode: number | null;
  let record: WatchRecord;
  let metrics: RunMetrics;

  beforeAll(async () => {
    const results = join(work, 'results');
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin/criu-lab.js'),
        'watch',
        '--servers',
        servers,
        '--results-dir',
        results,
        '--mb-size',
        '64',
        '--max-memory',
        '128',
        '--interval',
        '0.2',
        '--simulate-after',
        '3',
        '--poll-interval',
        '1',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', () => undefined);
    exitCode = await new Promise((done) => child.on('exit', (code) => done(code)));
    const [dir] = readdirSync(results);
    record = JSON.parse(readFileSync(join(results, dir!, 'watch.json'), 'utf8')) as WatchRecord;
    metrics = JSON.parse(readFileSync(join(results, dir!, 'metrics.json'), 'utf8')) as RunMetrics;
  }, 120_000);

  it('migrates when the notice appears and reports the margin against 120 s', () => {
    expect(exitCode).toBe(0);
    expect(metrics.verify?.ok).toBe(true);
    expect(record.via).toBe('notice-file');
    expect(record.notice.action).toBe('terminate');
    expect(record.deadlineS).toBe(120);
    expect(record.noticeToDoneMs!).toBeGreaterThan(0);
    expect(record.noticeToDoneMs!).toBeLessThan(60_000);
    expect(record.marginMs!).toBeGreaterThan(60_000);
    expect(record.met).toBe(true);
    expect(stdout).toMatch(/Notice → migration done: [\d.]+ s; margin before the termination time: [\d.]+ s of 120 s, met/);
  });

  it('starts the dump only after the notice was seen', () => {
    const dump = metrics.phases.find((p) => p.name === 'dump')!;
    expect(Date.parse(dump.startedAt)).toBeGreaterThanOrEqual(Date.parse(record.noticeSeenAt));
  });

  it('leaves no notice file behind on the source', () => {
    expect(existsSync(join(lab.info.nodes[0]!.dir, 'srv/criu-lab/spot/instance-action'))).toBe(false);
  });
});

describe('criu-lab watch against an IMDSv2 on a lab node (--imds-url)', () => {
  const PORT = 8169;
  let imds: ChildProcess;
  let log: string;
  let exitCode: number | null;
  let record: WatchRecord;
  let metrics: RunMetrics;

  beforeAll(async () => {
    // On n2's network, where the source reaches it as it would reach 169.254.169.254; the notice comes 3 s after the first poll.
    const n2 = lab.info.nodes[1]!;
    log = join(work, 'imds.log');
    imds = spawn(
      'ip',
      ['netns', 'exec', n2.netns, 'python3', join(root, 'test/lab/fixtures/imds.py'), '--bind', n2.ip, '--port', String(PORT), '--after', '3', '--log', log],
      { stdio: 'ignore' },
    );
    const results = join(work, 'results-imds');
    const child = spawn(
      process.execPath,
      [
        join(root, 'bin/criu-lab.js'),
        'watch',
        '--servers',
        servers,
        '--results-dir',
        results,
        '--mb-size',
        '16',
        '--max-memory',
        '48',
        '--interval',
        '0.2',
        '--poll-interval',
        '1',
        '--imds-url',
        `http://${n2.ip}:${PORT}`,
      ],
      { cwd: root, stdio: ['ignore', 'ignore', 'ignore'] },
    );
    exitCode = await new Promise((done) => child.on('exit', (code) => done(code)));
    const [dir] = readdirSync(results);
    record = JSON.parse(readFileSync(join(results, dir!, 'watch.json'), 'utf8')) as WatchRecord;
    metrics = JSON.parse(readFileSync(join(results, dir!, 'metrics.json'), 'utf8')) as RunMetrics;
  }, 120_000);

  afterAll(() => {
    imds.kill();
  });

  it('takes a token, reads 404 while there is no notice, then migrates on the notice JSON', () => {
    expect(exitCode).toBe(0);
    expect(metrics.verify?.ok).toBe(true);
    expect(record.via).toBe('imds');
    expect(record.notice.action).toBe('terminate');
    expect(record.met).toBe(true);
    const requests = readFileSync(log, 'utf8').trim().split('\n');
    expect(requests).toContain('PUT /latest/api/token 200');
    expect(requests.filter((r) => r === 'GET /latest/meta-data/spot/instance-action 404').length).toBeGreaterThan(0);
    expect(requests).not.toContain('GET /latest/meta-data/spot/instance-action 401');
    // The first 200 ends the polling: every 404 came before it.
    const served = requests.indexOf('GET /latest/meta-data/spot/instance-action 200');
    expect(served).toBeGreaterThan(requests.lastIndexOf('GET /latest/meta-data/spot/instance-action 404'));
  });
});
