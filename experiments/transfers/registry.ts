// Transfer methods by name. Adding one is a file in this folder and one line here. The one place
// a run's transfer is looked up: transferOf(plan), and runPaths, which asks it where images live.
import type { Plan } from '../config/plan.js';
import { Registry } from '../../core/registry.js';
import type { RunPaths } from '../run-context.js';
import type { Transfer } from './transfer.js';
import { rsyncTransfer } from './rsync.js';
import { s3Transfer } from './s3.js';
import { efsTransfer } from './efs.js';
import { ebsTransfer } from './ebs.js';

export const transfers = new Registry<Transfer>('transfer method').register(rsyncTransfer).register(s3Transfer).register(efsTransfer).register(ebsTransfer);

/** The plan's transfer method. */
export const transferOf = (plan: Plan): Transfer => transfers.get(plan.transfer.method);

/** Per-run directories on the nodes; each ends in the run id, so cleanup can find all of it. The transfer decides where images live (node-local, a shared mount, a volume). */
export function runPaths(plan: Plan, runId: string): RunPaths {
  const images = transferOf(plan).imageDirs(plan, runId);
  return {
    workDir: `${plan.checkpoint.workingDir}/${runId}`,
    sourceImageDir: images.source,
    destImageDir: images.destination,
    sourceControlDir: `${plan.checkpoint.checkpointDir}/${runId}.ctl`,
    scriptDir: plan.checkpoint.scriptsDir ? `${plan.checkpoint.scriptsDir}/${runId}` : `${plan.checkpoint.workingDir}/${runId}`,
    dataDir: plan.checkpoint.dataDir ? `${plan.checkpoint.dataDir}/${runId}` : `${plan.checkpoint.workingDir}/${runId}`,
  };
}
