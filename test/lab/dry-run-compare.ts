// A real run's commands against its dry run's, for the lab and VM-lab tests: the real run is made
// with every command it issues recorded, then the dry run of the same plan, and both lists are
// made alike where they differ by nature (run id, workload pid, mktemp names, the run key).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan } from '../../experiments/config/plan.js';
import { ExternalError } from '../../core/errors.js';
import { LEFTOVERS_FILE } from '../../experiments/leftovers.js';
import type { RunMetrics } from '../../experiments/metrics.js';
import { dryRun, runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';

/**
 * A command as both lists show it: each argument with the run's id (also as the `[m]emory_…` pgrep
 * pattern), the workload's pid, mktemp's names and the run key's public half made alike, then
 * joined with spaces (unquoted: the dry run's `<timestamp>` placeholder needs quotes a real id does not).
 */
export function normalise(argv: readonly string[], runId: string, pid: string): string {
  return argv
    .map((arg) =>
      arg
        .replaceAll(`[${runId[0]}]${runId.slice(1)}`, '[<run>]')
        .replaceAll('[m]emory_<timestamp>', '[<run>]')
        .replaceAll(runId, '<run>')
        .replaceAll('memory_<timestamp>', '<run>')
        .replace(new RegExp(`(?<![0-9])${pid}(?![0-9])`, 'g'), '<pid>')
        .replace(/\/tmp\/criu-lab-cpuinfo\.[A-Za-z0-9]{6}/g, '/tmp/criu-lab-cpuinfo.<scratch>')
        .replace(/ssh-ed25519 [A-Za-z0-9+/=]+ criu-lab-<run>/g, '<public key>')
        .replaceAll('<public key from the source>', '<public key>'),
    )
    .join(' ');
}

/**
 * Commands of the stages the dry run does not replay, as `[node] command`: warm up and the
 * pre-dump capture (ps of the tree, pgrep), verify on the destination (the flag's removal, ps, the
 * restored tree read from /proc, the wait for the old pid to go), and the logs collected at the end.
 */
export const REAL_ONLY: readonly RegExp[] = [
  /^\[\S+\] ps -o pid,ppid,stat,rss,vsz,etime,args /,
  /^\[\S+\] pgrep -f /,
  /^\[\S+\] sh -c echo "# processes of the run"/,
  /^\[n2\] rm -f \S*checkpoint_flag$/,
  /^\[n2\] ps -e -o pid=,ppid=,comm=$/,
  /^\[n2\] cat \/proc\/<pid>\/stat \/proc\/<pid>\/status$/,
  /^\[n2\] kill -0 <pid>$/,
  // Log collection: predump lists its round directories to name each pre-dump's log.
  /^\[n1\] ls -1 \S+\/<run>$/,
];

export interface Comparison {
  readonly outcome: RunMetrics['outcome'];
  readonly differences: { readonly missing: string[]; readonly unplanned: string[] };
}

/**
 * Runs the plan for real and dry. `missing`: what the dry run lists that the real run never
 * issued; `unplanned`: what the real run issued that the dry run does not list (REAL_ONLY aside).
 * Compared as sets of `[node] command`: waits poll and probes run in parallel. Files go by SFTP,
 * not as commands, so the dry run's puts are left out.
 */
export async function compareWithDryRun(plan: Plan): Promise<Comparison> {
  const issued: { node: string; argv: readonly string[] }[] = [];
  const { metrics, resultsDir } = await runMigration(plan, {
    signal: new AbortController().signal,
    progress: createProgress(process.stderr, true),
    onCommand: (r) => issued.push({ node: r.node, argv: r.argv }),
  }).catch((error: unknown) => {
    // A failed CRIU call's log lives on the node, gone with the lab: the failure carries its tail.
    const logTail = error instanceof ExternalError ? error.details.logTail : undefined;
    throw logTail ? new Error(`${(error as Error).message}\nlog tail:\n${logTail}`) : error;
  });
  const pid = String((JSON.parse(readFileSync(join(resultsDir, LEFTOVERS_FILE), 'utf8')) as { workloadPid: number }).workloadPid);
  const real = new Set(issued.map((c) => `[${c.node}] ${normalise(c.argv, metrics.runId, pid)}`));
  const planned = new Set(
    (await dryRun(plan)).steps.filter((s) => !/^(sftp|sudo-cat)-put$/.test(s.argv[0] ?? '')).map((s) => `[${s.node}] ${normalise(s.argv, metrics.runId, pid)}`),
  );
  return {
    outcome: metrics.outcome,
    differences: {
      missing: [...planned].filter((c) => !real.has(c)),
      unplanned: [...real].filter((c) => !planned.has(c) && !REAL_ONLY.some((pattern) => pattern.test(c))),
    },
  };
}
