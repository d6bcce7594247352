// Workloads by name. Adding one is a folder under workloads/ and one line here.
import type { Workload } from './workload.js';
import { memoryWorkload } from './memory/memory.js';

const workloads = new Map<string, Workload<never>>();

function register(workload: Workload<never>): void {
  if (workloads.has(workload.name)) throw new Error(`workload ${workload.name} is registered twice`);
  workloads.set(workload.name, workload);
}

register(memoryWorkload);

export function workloadNames(): string[] {
  return [...workloads.keys()];
}

export function getWorkload(name: string): Workload<Record<string, unknown>> | undefined {
  return workloads.get(name) as Workload<Record<string, unknown>> | undefined;
}

export function allWorkloads(): Workload<Record<string, unknown>>[] {
  return [...workloads.values()] as Workload<Record<string, unknown>>[];
}
