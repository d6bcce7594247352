// Workloads by name. Adding one is a folder under workloads/ and one line here, or, for a
// payload without TypeScript, one YAML file in config/workloads/custom/ (see custom/custom.ts),
// in the package or in the user's working directory.
import { resolve } from 'node:path';
import { assetPath } from '../core/package-root.js';
import { Registry } from '../core/registry.js';
import type { Workload } from './workload.js';
import { loadCustomWorkloads, type CustomWorkloads } from './custom/custom.js';
import { dataprocWorkload } from './dataproc/dataproc.js';
import { jupyterWorkload } from './jupyter/jupyter.js';
import { matmulWorkload } from './matmul/matmul.js';
import { memoryWorkload } from './memory/memory.js';
import { mlTrainingWorkload } from './ml_training/ml-training.js';
import { redisWorkload } from './redis/redis.js';
import { videoWorkload } from './video/video.js';

export const workloads = new Registry<Workload<Record<string, unknown>>>('workload')
  .register(memoryWorkload)
  .register(matmulWorkload)
  .register(redisWorkload)
  .register(mlTrainingWorkload)
  .register(videoWorkload)
  .register(dataprocWorkload)
  .register(jupyterWorkload);

/**
 * Where bring-your-own workloads are read from: the package's config/workloads/custom/, then the
 * user's in the working directory (beside their config/default.yaml), when that is another one.
 */
export const CUSTOM_WORKLOADS_DIRS = [...new Set([assetPath('config/workloads/custom'), resolve('config/workloads/custom')])];

function loadAll(dirs: readonly string[]): CustomWorkloads {
  const all: CustomWorkloads = { workloads: [], definedIn: new Map(), problems: [] };
  for (const dir of dirs) {
    const loaded = loadCustomWorkloads(dir, workloads.all());
    for (const workload of loaded.workloads) workloads.register(workload);
    all.workloads.push(...loaded.workloads);
    for (const [name, file] of loaded.definedIn) all.definedIn.set(name, file);
    all.problems.push(...loaded.problems);
  }
  return all;
}

/** The YAML-registered workloads; a file that cannot be used (or takes a name already taken) is reported here and skipped. */
export const customWorkloads = loadAll(CUSTOM_WORKLOADS_DIRS);
for (const problem of customWorkloads.problems) process.stderr.write(`warning: skipped custom workload ${problem}\n`);
