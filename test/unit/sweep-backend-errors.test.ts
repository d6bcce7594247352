// A sweep whose infrastructure fails to come up records the infrastructure's own error, rendered
// by the one renderer of core/errors.ts, never "internal error" (issue 16).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { ExternalError } from '../../core/errors.js';
import { Registry } from '../../core/registry.js';
import { labUp } from '../../infra/local/lab.js';
import type { BackendFactory } from '../../experiments/sweep/backends/backend.js';
import { createSweepProgress } from '../../experiments/sweep/progress.js';
import { runSweep } from '../../experiments/sweep/runner.js';
import { loadSweepSpec } from '../../experiments/sweep/spec.js';

/** A lab backend whose `up` fails the way the given action does; nothing else is reached. */
function failingLab(up: () => Promise<unknown>): Registry<BackendFactory> {
  const factory: BackendFactory = {
    name: 'lab',
    create: (spec) => ({
      name: 'lab',
      serversPath: join(spec.dir, 'servers.yaml'),
      up: async () => void (await up()),
      down: async () => undefined,
      prepareRun: async () => undefined,
      describe: () => '',
    }),
  };
  return new Registry<BackendFactory>('sweep backend').register(factory);
}

async function recordedError(up: () => Promise<unknown>): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'criu-lab-sweep-errors-'));
  const file = join(dir, 'sweep.yaml');
  const sweep = ['name: failing', 'settings: { workload.type: memory }', 'repetitions: 1', 'fresh: never', 'infra: { backend: lab, lab: { name: swerr } }'];
  writeFileSync(file, `${sweep.join('\n')}\n`);
  const spec = loadSweepSpec(file, { resultsDir: join(dir, 'results') }, dir);
  const progress = createSweepProgress(dir, process.stderr, true);
  const outcome = await runSweep(spec, { projectRoot: dir, backends: failingLab(up), signal: new AbortController().signal, progress });
  expect(outcome.state.runs.map((r) => r.status)).toEqual(['failed']);
  return outcome.state.runs[0]?.error;
}

describe('a sweep whose lab up fails', () => {
  it("records the lab's usage error with the flag it names, not an internal error", async () => {
    const error = await recordedError(() => labUp({ name: 'Bad!' }));
    expect(error).toMatch(/^error: invalid lab options\n {2}- --name .*1 to 8 characters/);
    expect(error).not.toMatch(/internal error/);
  });

  it("records the lab's external error with its hint", async () => {
    const error = await recordedError(async () => {
      throw new ExternalError('node n1 (10.77.0.11) exited while starting', { hint: 'fix the cause shown in the log' });
    });
    expect(error).toBe('error: node n1 (10.77.0.11) exited while starting\nhint: fix the cause shown in the log');
  });
});
