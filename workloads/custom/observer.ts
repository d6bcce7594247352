// How the controller watches a script written for the seed's framework, which writes only
// checkpoint_ready and watches checkpoint_flag: from outside, through /proc. Progress is output
// that grows (stdout, logs it holds open; these files move, so sizes carry across the migration)
// or, for a silent script, CPU time and context switches that grow after restore (they restart
// at restore, so they are compared with the first reading on the destination).
import { OUTPUT_FILE, READY_FILE } from '../payload-files.js';
import { fileBytes, openRegularFiles, processTree, treeActivity } from '../proc.js';
import { check, type StatusObserver, type VerifyResult, type WorkloadStatus } from '../workload.js';

/** What the observer reports, in the shape of a status file. */
export interface ObservedStatus extends WorkloadStatus {
  /** `pid:comm` of every process in the tree, root first. */
  readonly tree: readonly string[];
  readonly output_bytes: number;
  readonly cpu_ticks: number;
  readonly context_switches: number;
}

const observed = (status: WorkloadStatus | undefined) => status as ObservedStatus | undefined;

export const seedObserver: StatusObserver = {
  async status(node, workDir, readyFile = `${workDir}/${READY_FILE}`) {
    const ready = await node.readFile(readyFile).then(
      (b) => b.toString('utf8'),
      () => '',
    );
    const pid = Number(/^ready:(\d+)/.exec(ready)?.[1]);
    if (!pid) return undefined;
    const tree = await processTree(node, pid);
    if (tree.length === 0) return undefined;
    const pids = tree.map((p) => p.pid);
    const [activity, open] = await Promise.all([treeActivity(node, pids), openRegularFiles(node, pids)]);
    const outputBytes = await fileBytes(node, [...new Set([`${workDir}/${OUTPUT_FILE}`, ...open])]);
    const status: ObservedStatus = {
      pid,
      counter: outputBytes,
      checksum: '',
      phase: activity.states.join(''),
      tree: tree.map((p) => `${p.pid}:${p.comm}`),
      output_bytes: outputBytes,
      cpu_ticks: activity.cpuTicks,
      context_switches: activity.contextSwitches,
    };
    return status;
  },

  progressed(frozen, restored, current) {
    const [before, first, now] = [observed(frozen)!, observed(restored), observed(current)!];
    return (
      now.output_bytes > before.output_bytes || (first !== undefined && (now.cpu_ticks > first.cpu_ticks || now.context_switches > first.context_switches))
    );
  },
};

/** The generic checks for an observed script: it goes on, and it is the same process tree. */
export function observedChecks(frozen: WorkloadStatus, restored: WorkloadStatus | undefined, resumed: WorkloadStatus): VerifyResult['checks'] {
  const [before, first, now] = [observed(frozen)!, observed(restored), observed(resumed)!];
  const since = first
    ? `; since restore: +${now.cpu_ticks - first.cpu_ticks} CPU ticks, +${now.context_switches - first.context_switches} context switches`
    : '';
  return [
    check(
      'progress continues',
      seedObserver.progressed(frozen, restored, resumed),
      `output ${before.output_bytes} bytes at freeze, ${now.output_bytes} after restore${since}`,
    ),
    check('same process tree', before.tree.join(' ') === now.tree.join(' '), `${before.tree.join(' ')} at freeze; ${now.tree.join(' ')} after restore`),
  ];
}
