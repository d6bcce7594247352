// Workloads by name. Adding one is a folder under workloads/ and one line here, or, for a
// payload without TypeScript, one YAML file in config/workloads/custom/ (see custom/custom.ts).
import { assetPath } from '../core/package-root.js';
import { Registry } from '../core/registry.js';
import type { Workload } from './workload.js';
import { loadCustomWorkloads } from './custom/custom.js';
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

export const CUSTOM_WORKLOADS_DIR = `${assetPath('config/workloads/custom')}/`;

/** The YAML-registered workloads; a file that cannot be used is reported here and skipped. */
export const customWorkloads = loadCustomWorkloads(CUSTOM_WORKLOADS_DIR, workloads.all());
for (const workload of customWorkloads.workloads) workloads.register(workload);
for (const problem of customWorkloads.problems) process.stderr.write(`warning: skipped custom workload ${problem}\n`);
