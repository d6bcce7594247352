// Workloads by name. Adding one is a folder under workloads/ and one line here.
import { Registry } from '../experiments/registry.js';
import type { Workload } from './workload.js';
import { memoryWorkload } from './memory/memory.js';

export const workloads = new Registry<Workload<Record<string, unknown>>>('workload').register(memoryWorkload);
