// Where one run's directories are on the nodes. Apart from run-context.ts because the transfer
// decides where images live, and the transfers themselves import the run context.
import type { Plan } from './config/plan.js';
import type { RunPaths } from './run-context.js';
import { transfers } from './transfers/registry.js';

export function runPaths(plan: Plan, runId: string): RunPaths {
  // The transfer decides where images live (node-local, a shared mount, a volume); see transfers/transfer.ts.
  const images = transfers.get(plan.transfer.method).imageDirs(plan, runId);
  return {
    workDir: `${plan.checkpoint.workingDir}/${runId}`,
    sourceImageDir: images.source,
    destImageDir: images.destination,
    sourceControlDir: `${plan.checkpoint.checkpointDir}/${runId}.ctl`,
    scriptDir: plan.checkpoint.scriptsDir ? `${plan.checkpoint.scriptsDir}/${runId}` : `${plan.checkpoint.workingDir}/${runId}`,
    dataDir: plan.checkpoint.dataDir ? `${plan.checkpoint.dataDir}/${runId}` : `${plan.checkpoint.workingDir}/${runId}`,
  };
}
