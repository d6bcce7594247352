// `criu-lab watch --fis` without AWS: the FIS SDK mocked at its edge (moto 5.2.1 serves FIS
// templates but not StartExperiment), the source node a fake whose IMDS serves the notice once the
// experiment has started, and the migration a fake that takes a known time. The watch starts the
// experiment, its IMDS poll sees the notice, and watch.json times notice → done and the margin.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { FisClient, StartExperimentCommand } from '@aws-sdk/client-fis';
import { mockClient } from 'aws-sdk-client-mock';
import { ExternalError, UsageError } from '../../core/errors.js';
import { createProgress } from '../../experiments/progress.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { fisTarget, startSpotInterruption } from '../../experiments/watch/fis.js';
import type { WatchRecord } from '../../experiments/watch/record.js';
import { watchAndMigrate, type WatchEdges } from '../../experiments/watch/watcher.js';
import { FakeWorld, flag, planWith, type Answer } from './strategies-fakes.js';

// @aws-sdk/client-fis 3.523.0 (the newest the registry carries) is typed against an older
// @smithy/types than aws-sdk-client-mock resolves; at run time the mock intercepts its send() alike.
const fis = mockClient(FisClient as unknown as Parameters<typeof mockClient>[0]);
const START = StartExperimentCommand as unknown as Parameters<typeof fis.on>[0];
const TEMPLATE = 'EXT3a9Rk2mQwXy7Z';
const EXPERIMENT = 'EXPb7VqP4dLm2Nc9';

beforeEach(() => {
  fis.reset();
});
afterEach(() => {
  fis.reset();
});

/** The source node's world: IMDS answers 404 until the experiment starts, then a notice naming now + 120 s. */
function spotWorld() {
  let noticeAtMs: number | undefined;
  const world: FakeWorld = new FakeWorld((_node, argv): Answer | undefined => {
    if (argv[0] !== 'sh' || !String(argv[2]).includes('spot/instance-action')) return undefined;
    if (noticeAtMs === undefined) return { stdout: `${world.nowMs}\nnone\n` };
    const time = new Date(noticeAtMs + 120_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { stdout: `${world.nowMs}\nimds\n${JSON.stringify({ action: 'terminate', time })}\n` };
  });
  return { world, interruptAt: (ms: number) => (noticeAtMs = ms) };
}

/** A migration of `migrationMs` on the node's clock, starting 2 s after the notice was seen. */
function fakeMigration(world: FakeWorld, resultsDir: string, migrationMs: number): WatchEdges['migrate'] {
  return async (plan, options) => {
    await options.beforeMigration?.();
    const startedAt = new Date(world.nowMs + 2000).toISOString();
    const metrics = {
      runId: 'memory_20261206_000000',
      experiment: plan.experiment.name,
      workload: 'memory',
      workloadParams: {},
      strategy: 'full',
      source: { name: 'az-a-node-0', ip: '10.9.0.11' },
      destination: { name: 'az-a-node-1', ip: '10.9.0.12' },
      startedAt,
      phases: [{ name: 'dump', startedAt, durationMs: 4000, measuredOn: 'az-a-node-0' }],
      migrationMs,
      totalDurationMs: migrationMs + 5000,
      versions: {},
      outcome: 'ok',
    } as unknown as RunMetrics;
    return { metrics, resultsDir };
  };
}

/** The watch's options as on an AWS node, polling fast; each test adds how the experiment starts and its edges. */
const WATCH_ON_AWS = {
  signal: new AbortController().signal,
  progress: createProgress(process.stderr),
  pollIntervalS: 0.01,
  simulateAfterS: undefined,
  imdsUrl: 'http://169.254.169.254',
  noticeFile: '/srv/criu-lab/spot/instance-action',
};

describe('watch --fis', () => {
  it('starts the FIS experiment, sees the notice through IMDS and times the migration against it', async () => {
    const { world, interruptAt } = spotWorld();
    const sent: unknown[] = [];
    fis.on(START).callsFake((input: unknown) => {
      sent.push(input);
      // FIS sends the interruption; AWS serves the notice on the node about 3 s later.
      interruptAt(world.nowMs + 3000);
      world.nowMs += 3000;
      return { experiment: { id: EXPERIMENT, experimentTemplateId: TEMPLATE, state: { status: 'initiating' } } };
    });
    const resultsDir = mkdtempSync(join(tmpdir(), 'criu-lab-watch-fis-'));
    const plan = planWith([flag('experiment.save_metrics', false)]);
    const started = Date.now();
    const { record } = await watchAndMigrate(plan, {
      ...WATCH_ON_AWS,
      startFisExperiment: () => startSpotInterruption(new FisClient({ region: 'us-west-2' }), TEMPLATE, () => started),
      edges: {
        connect: async (_plan, role) => world.node(role === 'source' ? 'az-a-node-0' : 'az-a-node-1', '10.9.0.11'),
        migrate: fakeMigration(world, resultsDir, 30_000),
      },
    });
    expect(sent).toEqual([{ experimentTemplateId: TEMPLATE, tags: { 'criu-lab:purpose': 'watch --fis spot notice' } }]);
    expect(record).toMatchObject({ via: 'imds', notice: { action: 'terminate' }, met: true, deadlineS: 120 });
    // Seen at the first probe after the start; the migration starts 2 s later (plus the fake node's 0.1 s per command) and takes 30 s.
    const [seenMs, doneMs, terminationMs] = [record.noticeSeenAt, record.migrationDoneAt!, record.notice.time].map((t) => Date.parse(t));
    expect(record.noticeToDoneMs).toBe(doneMs! - seenMs!);
    expect(record.noticeToDoneMs).toBeGreaterThanOrEqual(32_000);
    expect(record.noticeToDoneMs).toBeLessThan(33_000);
    expect(record.marginMs).toBe(terminationMs! - doneMs!);
    expect(record.marginMs).toBeGreaterThan(120_000 - 33_000);
    expect(record.fis).toMatchObject({ templateId: TEMPLATE, experimentId: EXPERIMENT, status: 'initiating', startedAt: new Date(started).toISOString() });
    expect(record.fis?.startToNoticeMs).toBe(Date.parse(record.noticeSeenAt) - started);
    const written = JSON.parse(readFileSync(join(resultsDir, 'watch.json'), 'utf8')) as WatchRecord;
    expect(written.fis?.experimentId).toBe(EXPERIMENT);
    // The experiment starts once the watch has cleared the notice file, before the first probe; the probe's notice comes from it.
    const cleared = world.calls.find((c) => c.argv[0] === 'rm')!;
    const firstProbe = world.calls.find((c) => c.argv[0] === 'sh')!;
    expect(firstProbe.atMs - cleared.atMs).toBeGreaterThanOrEqual(3000);
  });

  it('records a miss when the migration outlasts the notice', async () => {
    const { world, interruptAt } = spotWorld();
    fis.on(START).callsFake(() => {
      interruptAt(world.nowMs);
      return { experiment: { id: EXPERIMENT, state: { status: 'running' } } };
    });
    const plan = planWith([flag('experiment.save_metrics', false)]);
    const { record } = await watchAndMigrate(plan, {
      ...WATCH_ON_AWS,
      startFisExperiment: () => startSpotInterruption(new FisClient({ region: 'us-west-2' }), TEMPLATE),
      edges: {
        connect: async () => world.node('az-a-node-0', '10.9.0.11'),
        migrate: fakeMigration(world, mkdtempSync(join(tmpdir(), 'criu-lab-watch-fis-')), 150_000),
      },
    });
    expect(record.met).toBe(false);
    expect(record.marginMs).toBeLessThan(0);
  });

  it('turns a refused start into an external error that says what to check', async () => {
    fis.on(START).rejects(Object.assign(new Error('Experiment template not found'), { name: 'ResourceNotFoundException' }));
    const start = startSpotInterruption(new FisClient({ region: 'us-west-2' }), TEMPLATE);
    await expect(start).rejects.toThrow(ExternalError);
    await expect(start).rejects.toThrow(/FIS could not start experiment template EXT3a9Rk2mQwXy7Z: ResourceNotFoundException/);
    await expect(start).rejects.toMatchObject({ hint: expect.stringMatching(/infra deploy` writes the current id/) });
  });

  it('takes the template from servers.yaml and refuses, naming the key, a servers.yaml without one', () => {
    const lab = planWith([]);
    expect(() => fisTarget(lab, undefined)).toThrow(UsageError);
    try {
      fisTarget(lab, undefined);
    } catch (error) {
      expect((error as UsageError).problems).toEqual([
        expect.stringMatching(/^aws\.fis_template_id: servers\.yaml names no FIS experiment template; fix: deploy with `market: spot`/),
        expect.stringMatching(/^aws\.region: servers\.yaml is not an AWS stack's/),
      ]);
    }
    const onAws = { ...lab, aws: { region: 'us-west-2', stack: 'criu-lab', ebsVolumes: {}, fisTemplateId: TEMPLATE } } as typeof lab;
    expect(fisTarget(onAws, undefined)).toEqual({ templateId: TEMPLATE, region: 'us-west-2' });
    expect(fisTarget(onAws, 'EXTother')).toEqual({ templateId: 'EXTother', region: 'us-west-2' });
  });
});
