// The raw link between the two nodes of a plan, measured once per sweep and profile with
// iperf3 (one TCP flow, like rsync's one SSH connection), node to node over SSH.
import type { Plan } from '../config/plan.js';
import { ExternalError } from '../../core/errors.js';
import { connectPlanNode } from '../remote/connect.js';

/** The iperf3 port; the AWS security groups open 5201 between nodes for this. */
export const IPERF_PORT = 5201;
const SECONDS = 3;

export function iperfServerArgv(): string[] {
  return ['iperf3', '--server', '--one-off', '--daemon', '--port', String(IPERF_PORT)];
}

export function iperfClientArgv(destinationIp: string): string[] {
  return ['iperf3', '--client', destinationIp, '--port', String(IPERF_PORT), '--time', String(SECONDS), '--json'];
}

/** Mbit/s received, from `iperf3 --json`. */
export function receivedMbitPerS(json: string): number {
  const report = JSON.parse(json) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
  const bits = report.end?.sum_received?.bits_per_second;
  if (bits === undefined) throw new Error(report.error ?? 'iperf3 printed no sum_received');
  return bits / 1e6;
}

export async function measureRawLink(plan: Plan, signal: AbortSignal): Promise<number> {
  const [source, destination] = await Promise.all([connectPlanNode(plan, 'source'), connectPlanNode(plan, 'destination')]);
  try {
    await destination.run(iperfServerArgv(), { step: 'raw link', timeoutMs: 10_000, signal });
    let result = await source.run(iperfClientArgv(plan.nodes.destination.ip), { check: false, step: 'raw link', timeoutMs: (SECONDS + 15) * 1000, signal });
    // The daemon may not listen yet on a loaded machine: one retry after a pause.
    if (result.exitCode !== 0 && /connect/i.test(result.stdout + result.stderr)) {
      await new Promise((done) => setTimeout(done, 500));
      result = await source.run(iperfClientArgv(plan.nodes.destination.ip), { check: false, step: 'raw link', timeoutMs: (SECONDS + 15) * 1000, signal });
    }
    if (result.exitCode !== 0)
      throw new ExternalError(`iperf3 from ${source.name} to ${destination.name} failed`, {
        node: source.name,
        step: 'raw link',
        command: iperfClientArgv(plan.nodes.destination.ip).join(' '),
        exitCode: result.exitCode,
        logTail: (result.stdout + result.stderr).slice(-800),
      });
    return receivedMbitPerS(result.stdout);
  } finally {
    await destination.run(['pkill', '-f', `[i]perf3 --server --one-off --daemon --port ${IPERF_PORT}`], { check: false }).catch(() => undefined);
    await Promise.all([source.close(), destination.close()]);
  }
}
