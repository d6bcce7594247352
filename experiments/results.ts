// The results directory of one run: results/<workload>_<timestamp>[_failed|_exception]/
// with source/ and dest/ (CRIU logs, workload status and output), metrics.json, samples.jsonl.
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunMetrics } from './metrics.js';
import { samplesOf } from './metrics.js';

const pad = (n: number) => String(n).padStart(2, '0');

/** Run ids this process handed out: runs on parallel pairs (a sweep) start in the same second, and share EFS and S3 paths named after the id. */
const issued = new Set<string>();

/** `memory_20261126_021530`, unique among the runs already in resultsRoot and those this process started. */
export function makeRunId(workload: string, resultsRoot: string, now = new Date()): string {
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}_${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const base = `${workload}_${stamp}`;
  const taken = (id: string) => issued.has(id) || ['', '_failed', '_exception'].some((suffix) => existsSync(join(resultsRoot, `${id}${suffix}`)));
  let id = base;
  for (let n = 2; taken(id); n++) id = `${base}_${n}`;
  issued.add(id);
  return id;
}

export interface ResultsDir {
  readonly path: string;
  readonly source: string;
  readonly dest: string;
}

export async function createResultsDir(resultsRoot: string, runId: string): Promise<ResultsDir> {
  const path = join(resultsRoot, runId);
  const dir = { path, source: join(path, 'source'), dest: join(path, 'dest') };
  await mkdir(dir.source, { recursive: true });
  await mkdir(dir.dest, { recursive: true });
  return dir;
}

/** Writes metrics.json and samples.jsonl, then marks a failed run's directory; returns its final path. */
export async function finishResults(dir: ResultsDir, metrics: RunMetrics, save: boolean): Promise<string> {
  if (save) {
    await writeFile(join(dir.path, 'metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
    await writeFile(
      join(dir.path, 'samples.jsonl'),
      samplesOf(metrics)
        .map((s) => JSON.stringify(s))
        .join('\n') + '\n',
    );
  }
  if (metrics.outcome === 'ok') return dir.path;
  const marked = `${dir.path}_${metrics.outcome}`;
  await rename(dir.path, marked);
  return marked;
}
