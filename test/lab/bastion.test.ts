// A lab shaped like the AWS stack: n1 is a bastion, n2 and n3 accept SSH only from inside the
// lab, and a migration goes through the bastion (ssh2 forwardOut), as it does on AWS.
import { connect } from 'node:net';
import { describe, expect, it } from '@jest/globals';
import { useLab } from '../support/lab.js';

const lab = useLab({ name: 'bas', nodes: 3, bastion: true });

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

describe('a lab behind a bastion', () => {
  it('lets the host reach only the bastion', async () => {
    const [bastion, n2, n3] = lab.info.nodes;
    expect(await sshPortOpenFromHost(bastion!.ip)).toBe(true);
    expect(await sshPortOpenFromHost(n2!.ip)).toBe(false);
    expect(await sshPortOpenFromHost(n3!.ip)).toBe(false);
  });

  it('migrates the memory workload through the bastion', async () => {
    const plan = lab.plan([], { workload: { mb_size: 64, interval: 0.2, max_memory: 128 } });
    expect(plan.nodes.bastion?.name).toBe('n1');
    expect([plan.nodes.source.name, plan.nodes.destination.name, plan.experiment.placement]).toEqual(['n2', 'n3', 'cross-az']);
    const { metrics } = await lab.migrate([], { workload: { mb_size: 64, interval: 0.2, max_memory: 128 } });
    expect(metrics.verify?.ok).toBe(true);
    expect(metrics.placement).toBe('cross-az');
  }, 120_000);
});
