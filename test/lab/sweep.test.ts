// A small sweep on a real lab (3 namespace nodes, CRIU 4.2.1, tc tbf profiles): killed half
// way with SIGKILL and resumed by the same command, it skips what finished and redoes what
// was cut off; each placement's runs carry its profile and the report groups them. Also `lab up
// --profile` (tc shows the profile's rate on every link). How fast the shaped links and the
// transfers over them are is the bench's to measure (bench/run.ts, section 2), not a pass/fail here.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { RunMetrics } from '../../experiments/metrics.js';
import { writeReport } from '../../experiments/report/cli.js';
import type { SweepState } from '../../experiments/sweep/state.js';
import { labDown, labUp } from '../../infra/local/lab.js';
import { netnsPids } from '../../infra/local/network.js';
import { appliedProfile, appliedRateMbit } from '../../infra/local/profiles.js';

const root = resolve(import.meta.dirname, '../..');
const LAB = 'swsweep';
let work: string;
let sweepFile: string;
let sweepDir: string;
const servers = () => join(sweepDir, 'servers.yaml');

const readState = (): SweepState | undefined => {
  try {
    return JSON.parse(readFileSync(join(sweepDir, 'sweep.json'), 'utf8')) as SweepState;
  } catch {
    return undefined;
  }
};

function runSweep(
  onProgress?: (child: ReturnType<typeof spawn>) => void,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/criu-lab.js'), 'sweep', sweepFile, '--results-dir', work], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    onProgress?.(child);
  });
  return new Promise((done) => child.on('exit', (code, signal) => done({ code, signal, stdout, stderr })));
}

/** Processes of any migration run left in the lab's nodes. */
async function runProcesses(): Promise<string[]> {
  const found: string[] = [];
  for (const node of ['n1', 'n2', 'n3'])
    for (const pid of await netnsPids(`${LAB}-${node}`)) {
      const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
      if (/memory_\d{8}|criu |rsync/.test(cmdline)) found.push(`${node}: ${cmdline}`);
    }
  return found;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'criu-lab-sweep-'));
  sweepFile = join(work, 'lab-sweep.yaml');
  sweepDir = join(work, 'lab-sweep');
  writeFileSync(
    sweepFile,
    `name: lab-sweep
settings: { workload.mb_size: 64, workload.interval: 0.2, workload.max_memory: 64 }
zip:
  experiment.placement: [same-az, cross-az]
  experiment.profile: [same-az, cross-az]
repetitions: 2
fresh: never
infra: { backend: lab, lab: { name: ${LAB}, nodes: 3 } }
`,
  );
});

afterAll(async () => {
  await labDown({ name: LAB, serversPath: servers() });
}, 60_000);

describe('a sweep on the lab', () => {
  let killed: { finishedBefore: number; cutKey: string };
  let resumed: Awaited<ReturnType<typeof runSweep>>;

  beforeAll(async () => {
    // First session: SIGKILL while the second run moves its images.
    let cutKey = '';
    let finishedBefore = 0;
    const first = await runSweep((child) => {
      const state = readState();
      const running = state?.runs.find((r) => r.status === 'running');
      const progress = existsSync(join(sweepDir, 'progress.json'))
        ? (JSON.parse(readFileSync(join(sweepDir, 'progress.json'), 'utf8')) as { phase: string })
        : undefined;
      if (!child.killed && state && running && state.runs.some((r) => r.status === 'ok') && progress?.phase.startsWith('transfer')) {
        cutKey = running.key;
        finishedBefore = state.runs.filter((r) => r.status === 'ok').length;
        child.kill('SIGKILL');
      }
    });
    expect(first.signal).toBe('SIGKILL');
    killed = { finishedBefore, cutKey };
    resumed = await runSweep();
  }, 240_000);

  it('resumes with the same command: skips the finished runs and redoes the one cut off', () => {
    expect(resumed.code).toBe(0);
    const state = readState()!;
    expect(state.status).toBe('done');
    expect(state.runs.map((r) => [r.key, r.status])).toEqual([
      ['same-az-r1', 'ok'],
      ['same-az-r2', 'ok'],
      ['cross-az-r1', 'ok'],
      ['cross-az-r2', 'ok'],
    ]);
    expect(state.sessions[1]).toMatchObject({ skipped: killed.finishedBefore, redone: [killed.cutKey] });
    const cut = state.runs.find((r) => r.key === killed.cutKey)!;
    expect(cut.attempts).toBe(2);
    expect(cut.cutOff?.[0]?.resultsDir).toBeDefined();
    expect(resumed.stdout).toContain(`redid ${killed.cutKey}`);
  });

  it('appends every finished run to one samples.jsonl exactly once', () => {
    const samples = readFileSync(join(sweepDir, 'samples.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { metric: string; metadata: Record<string, unknown> });
    const downtimes = samples.filter((s) => s.metric === 'downtime').map((s) => s.metadata['sweep_run']);
    expect(downtimes.sort()).toEqual(['cross-az-r1', 'cross-az-r2', 'same-az-r1', 'same-az-r2']);
    expect(samples.every((s) => s.metadata['sweep'] === 'lab-sweep' && s.metadata['profile'] === s.metadata['placement'])).toBe(true);
  });

  it('leaves nothing of the killed run on the nodes', async () => {
    expect(await runProcesses()).toEqual([]);
  });

  it('records the profile in every run and measures each raw link once', () => {
    const state = readState()!;
    for (const run of state.runs) {
      const metrics = JSON.parse(readFileSync(join(run.resultsDir!, 'metrics.json'), 'utf8')) as RunMetrics;
      expect(metrics.profile).toBe(metrics.placement);
    }
    expect(state.links.map((l) => [l.profile, l.source, l.destination])).toEqual([
      ['same-az', 'n1', 'n2'],
      ['cross-az', 'n1', 'n3'],
    ]);
    for (const measured of state.links) expect(measured.mbitPerS).toBeGreaterThan(0);
  });

  it('reports the runs of both placements, each with its transfer rate', async () => {
    const state = readState()!;
    for (const run of state.runs) expect(run.summary!.transferMBps!).toBeGreaterThan(0);
    const files = await writeReport(sweepDir);
    expect(files.groups).toBe(2);
    expect(readFileSync(files.csv, 'utf8')).toContain('placement=cross-az');
  });
});

describe('a failing run in a sweep', () => {
  it('is recorded with its reason, and the sweep goes on to the next run', async () => {
    const file = join(work, 'failing.yaml');
    // A readiness timeout no workload can meet fails the first run the same way on any kernel.
    writeFileSync(
      file,
      `name: failing
settings: { workload.mb_size: 64, workload.interval: 0.2, workload.max_memory: 64 }
matrix: { timeouts.ready_s: [0.001, 600] }
measure_link: false
infra: { backend: lab, lab: { name: ${LAB}, nodes: 3 } }
`,
    );
    const child = spawn(process.execPath, [join(root, 'bin/criu-lab.js'), 'sweep', file, '--results-dir', work], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise((done) => child.on('exit', done));
    const state = JSON.parse(readFileSync(join(work, 'failing', 'sweep.json'), 'utf8')) as SweepState;
    expect(code).toBe(1);
    expect(state.runs.map((r) => [r.key, r.status])).toEqual([
      ['0.001-r1', 'failed'],
      ['600-r1', 'ok'],
    ]);
    expect(state.runs[0]!.error).toMatch(/did not write \S*checkpoint_ready within 0.001 s/);
    expect(state.runs[0]!.resultsDir).toMatch(/_failed$/);
    expect(stdout).toContain('1 ok, 1 failed, 0 pending of 2');
  }, 120_000);
});

describe('lab up --profile', () => {
  it('shapes every node link to the profile and says so', async () => {
    const result = await labUp({ name: LAB, nodes: 3, serversPath: servers(), profile: 'same-az' });
    expect(result.profile?.rateMbit).toBe(500);
    for (const node of result.info.nodes) expect(await appliedRateMbit(node)).toBe(500);
    expect(await appliedProfile(result.info.nodes)).toBe('same-az');
  }, 60_000);
});
