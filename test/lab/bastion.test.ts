// A lab shaped like the AWS stack: n1 is a bastion, n2 and n3 accept SSH only from inside the
// lab, and a migration goes through the bastion (ssh2 forwardOut), as it does on AWS.
import { connect } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan } from '../../experiments/config/load.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';
import { labDown, labUp, type LabInfo } from '../../infra/local/lab.js';

const root = resolve(import.meta.dirname, '../..');
const LAB = 'bas';
let work: string;
let servers: string;
let info: LabInfo;

/** Whether a TCP connection from this host to ip:22 opens within a second. */
function sshPortOpenFromHost(ip: string): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: ip, port: 22 });
    const finish = (open: boolean) => {
      socket.destroy();
      done(open);
    };
    socket.setTimeout(1000, () => finish(false));
    socket.on('connect', () => finish(true));
    socket.on('error', () => finish(false));
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'criu-lab-bastion-'));
  servers = join(work, 'servers.yaml');
  ({ info } = await labUp({ name: LAB, nodes: 3, bastion: true, serversPath: servers }));
}, 60_000);

afterAll(async () => {
  await labDown({ name: LAB, serversPath: servers });
}, 60_000);

describe('a lab behind a bastion', () => {
  it('lets the host reach only the bastion', async () => {
    const [bastion, n2, n3] = info.nodes;
    expect(await sshPortOpenFromHost(bastion!.ip)).toBe(true);
    expect(await sshPortOpenFromHost(n2!.ip)).toBe(false);
    expect(await sshPortOpenFromHost(n3!.ip)).toBe(false);
  });

  it('migrates the memory workload through the bastion', async () => {
    const { plan } = loadPlan({
      projectRoot: root,
      serversFile: servers,
      overrides: [
        { path: 'workload.mb_size', value: 64, flag: '--mb-size' },
        { path: 'workload.interval', value: 0.2, flag: '--interval' },
        { path: 'workload.max_memory', value: 128, flag: '--max-memory' },
        { path: 'experiment.results_dir', value: join(work, 'results'), flag: '--results-dir' },
      ],
    });
    expect(plan.nodes.bastion?.name).toBe('n1');
    expect([plan.nodes.source.name, plan.nodes.destination.name, plan.experiment.placement]).toEqual(['n2', 'n3', 'cross-az']);
    const { metrics } = await runMigration(plan, { signal: new AbortController().signal, progress: createProgress(process.stderr, true) });
    expect(metrics.verify?.ok).toBe(true);
    expect(metrics.placement).toBe('cross-az');
  }, 120_000);
});
