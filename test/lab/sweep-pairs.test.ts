// A sweep on parallel node pairs on a real lab: 8 small runs (memory, 16 MiB, full dump) with
// `parallel: 2`, so the sweep brings up 4 namespace nodes and runs on n1->n2 and n3->n4 at once.
// Killed with SIGKILL while both pairs have a run in flight and resumed by the same command, it
// redoes exactly those two; runs that overlapped on this host are marked in sweep.json and the
// report. (The scheduler's logic without a lab: test/unit/sweep-pairs.test.ts.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { writeReport } from '../../experiments/report/cli.js';
import type { SweepState } from '../../experiments/sweep/state.js';
import { labDown } from '../../infra/local/lab.js';
import { netnsPids } from '../../infra/local/network.js';

const root = resolve(import.meta.dirname, '../..');
const LAB = 'swpairs';
let work: string;
let sweepFile: string;
let sweepDir: string;

const readState = (): SweepState | undefined => {
  try {
    return JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8')) as SweepState;
  } catch {
    return undefined;
  }
};

function runSweep(onProgress?: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/criu-lab.js'), 'sweep', sweepFile, '--results-dir', work], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', () => onProgress?.(child));
  return new Promise((done) => child.on('exit', (code, signal) => done({ code, signal, stdout })));
}

async function runProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const node of ['n1', 'n2', 'n3', 'n4'])
    for (const pid of await netnsPids(`${LAB}-${node}`)) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
      if (/memory_\d{8}|criu |rsync/.test(cmdline)) found.push(`${node}: ${cmdline}`);
    }
  return found;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'criu-lab-pairs-'));
  sweepFile = join(work, 'pairs.yaml');
  sweepDir = join(work, 'pairs');
  // nodes: 2 on purpose: parallel 2 same-az needs 4, and the sweep brings up 4.
  writeFileSync(
    sweepFile,
    `name: pairs
settings: { workload.mb_size: 16, workload.interval: 0.2, checkpoint.strategy.mode: full, experiment.placement: same-az }
matrix: { workload.max_memory: [16, 32] }
repetitions: 4
parallel: 2
measure_link: false
fresh: never
infra: { backend: lab, lab: { name: ${LAB}, nodes: 2 } }
`,
  );
});

afterAll(async () => {
  await labDown({ name: LAB, serversPath: join(sweepDir, 'servers.yaml') });
}, 60_000);

describe('a sweep on two parallel pairs of the lab', () => {
  let cut: string[] = [];
  let finishedBefore = 0;
  let resumed: Awaited<ReturnType<typeof runSweep>>;

  beforeAll(async () => {
    // First session: SIGKILL once two runs are done and both pairs have one in flight.
    const first = await runSweep((child) => {
      const state = readState();
      const running = state?.runs.filter((r) => r.status === 'running') ?? [];
      const ok = state?.runs.filter((r) => r.status === 'ok') ?? [];
      if (!child.killed && running.length === 2 && ok.length >= 2 && new Set(running.map((r) => r.pair?.id)).size === 2) {
        cut = running.map((r) => r.key);
        finishedBefore = ok.length;
        child.kill('SIGKILL');
      }
    });
    expect(first.signal).toBe('SIGKILL');
    resumed = await runSweep();
  }, 240_000);

  it('brings up 4 nodes for 2 same-az pairs and says so in sweep.json', () => {
    const state = readState()!;
    expect(state.pairs).toMatchObject({ parallel: 2, nodes: 4, hostShared: true, nodesReason: '4 nodes give 2 disjoint same-az pairs' });
  });

  it('finishes every run ok; a rerun after kill -9 redoes only the runs cut off on either pair', () => {
    expect(resumed.code).toBe(0);
    const state = readState()!;
    expect(state.status).toBe('done');
    expect(state.runs).toHaveLength(8);
    expect(state.runs.every((r) => r.status === 'ok')).toBe(true);
    expect(cut).toHaveLength(2);
    expect(state.sessions[1]!.skipped).toBe(finishedBefore);
    expect([...state.sessions[1]!.redone].sort()).toEqual([...cut].sort());
    for (const key of cut) {
      const run = state.runs.find((r) => r.key === key)!;
      expect(run.attempts).toBe(2);
      expect(run.cutOff?.[0]?.pair).toMatch(/^n[13]->n[24]$/);
    }
    // Runs finished before the kill were not run again.
    expect(state.runs.filter((r) => !cut.includes(r.key)).every((r) => r.attempts === 1)).toBe(true);
    expect(resumed.stdout).toContain(`skipped ${finishedBefore} finished, redid`);
  });

  it('ran on two distinct pairs at once, and marks the overlapping runs', () => {
    const state = readState()!;
    expect(new Set(state.runs.map((r) => r.pair?.id))).toEqual(new Set(['n1->n2', 'n3->n4']));
    const overlapping = state.runs.filter((r) => r.overlap);
    expect(overlapping.length).toBeGreaterThanOrEqual(2);
    for (const run of overlapping) {
      const other = state.runs.find((r) => r.key === run.overlapsWith![0])!;
      expect(other.pair!.id).not.toBe(run.pair!.id);
      expect(Date.parse(run.startedAt!)).toBeLessThan(Date.parse(other.finishedAt!));
      expect(Date.parse(other.startedAt!)).toBeLessThan(Date.parse(run.finishedAt!));
    }
  });

  it('tags every run’s samples with its pair, each run once', () => {
    const samples = readFileSync(join(sweepDir, 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { metric: string; metadata: Record<string, unknown> });
    const downtimes = samples.filter((s) => s.metric === 'downtime');
    expect(downtimes).toHaveLength(8);
    const state = readState()!;
    for (const s of downtimes) expect(s.metadata['pair']).toBe(state.runs.find((r) => r.key === s.metadata['sweep_run'])!.pair!.id);
  });

  it('leaves nothing of the killed runs on the nodes', async () => {
    expect(await runProcesses()).toEqual([]);
  });

  it('reports the spread per pair and the overlap flag', async () => {
    const files = await writeReport(sweepDir);
    const html = readFileSync(files.html, 'utf8');
    expect(html).toContain('<h2>Node pairs</h2>');
    expect(html).toMatch(/⚠ overlap: \d+ of 8 runs overlapped/);
    expect(html).toContain('n1-&#62;n2');
    expect(html).toContain('n3-&#62;n4');
  });
});
