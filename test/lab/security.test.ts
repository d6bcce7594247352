// Security on a real lab: the run's node-to-node key is gone afterwards from both nodes, a
// changed host key is refused, an address nobody answers on is a usage error before anything
// starts, and what a run and its report write holds no secret.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Plan } from '../../experiments/config/plan.js';
import { ExternalError, UsageError } from '../../core/errors.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';
import { connectPlanNode } from '../../experiments/remote/connect.js';
import { labLayout } from '../../infra/local/layout.js';
import { resolveLabOptions } from '../../infra/local/options.js';
import { projectRoot as root, setting, useLab } from '../support/lab.js';
import { filesHolding, privateKeyLines, secretPatterns } from '../support/secrets.js';

const LAB = 'b10';
const lab = useLab({ name: LAB, nodes: 2, upTimeoutMs: 90_000, workload: { mb_size: 16, interval: 0.3, max_memory: 48 } });
const { work, servers } = lab;
const layout = labLayout(resolveLabOptions({ name: LAB, serversPath: servers }));
let plan: Plan;

beforeAll(() => {
  plan = lab.plan([setting('timeouts.connect_s', 3)]);
});

describe('after a full + rsync migration on the lab', () => {
  let resultsDir: string;

  beforeAll(async () => {
    const outcome = await runMigration(plan, { signal: new AbortController().signal, progress: createProgress(process.stderr, true) });
    expect(outcome.metrics.outcome).toBe('ok');
    // The checks below are about the rsync transfer's per-run key and a results dir with CRIU's logs in it.
    expect(outcome.metrics.transfer?.method).toBe('rsync');
    resultsDir = outcome.resultsDir;
    expect(readFileSync(join(resultsDir, 'source/criu-dump.log'), 'utf8')).toMatch(/Dumping finished successfully/);
  }, 180_000);

  it('leaves only the lab key in the destination authorized_keys: the per-run key line is gone', () => {
    const authorized = readFileSync(join(layout.nodes[1]!.rootDir, '.ssh/authorized_keys'), 'utf8').trim().split('\n');
    const labPublicKey = readFileSync(`${layout.sshKeyPath}.pub`, 'utf8').trim();
    expect(authorized).toEqual([labPublicKey]);
  });

  it('leaves no private key on the source or destination node outside its own host key', () => {
    for (const node of layout.nodes) {
      const found = filesHolding(node.dir, [/-----BEGIN [A-Z ]*PRIVATE KEY-----/]).filter((f) => f !== node.hostKeyPath);
      expect({ node: node.name, found }).toEqual({ node: node.name, found: [] });
    }
  });

  it('writes no secret into the results dir, nor into the report made from it', () => {
    const report = cli(['report', resultsDir]);
    expect(report.status).toBe(0);
    expect(filesHolding(resultsDir, secrets())).toEqual([]);
  });

  it('writes no secret into a sweep folder and its report', () => {
    const spec = join(work, 'sweep.yaml');
    writeFileSync(
      spec,
      'name: b10secrets\nsettings:\n  workload.type: memory\n  workload.mb_size: 16\n  workload.max_memory: 32\n  workload.interval: 0.3\nrepetitions: 1\ninfra:\n  backend: none\n',
    );
    const sweep = cli(['sweep', spec, '--servers', servers, '--results-dir', join(work, 'sweeps')]);
    expect(sweep.status).toBe(0);
    const sweepDir = join(work, 'sweeps', 'b10secrets');
    expect(cli(['report', sweepDir]).status).toBe(0);
    expect(filesHolding(sweepDir, secrets())).toEqual([]);
  }, 180_000);
});

function cli(args: readonly string[]) {
  return spawnSync(process.execPath, [join(root, 'bin/criu-lab.js'), ...args], { encoding: 'utf8', timeout: 170_000 });
}

/** Generic secret patterns plus every line of the lab's private key and of each node's host key. */
function secrets(): RegExp[] {
  return [
    ...secretPatterns,
    ...privateKeyLines(readFileSync(layout.sshKeyPath, 'utf8')),
    ...layout.nodes.flatMap((n) => privateKeyLines(readFileSync(n.hostKeyPath, 'utf8'))),
  ];
}

describe('connecting to the lab nodes', () => {
  it('refuses a node whose host key is not the one pinned at lab up, and says what to do', async () => {
    // Pin n2's key for n1's address: to the controller n1 now presents a changed key.
    const [first, second] = readFileSync(layout.knownHostsPath, 'utf8').trim().split('\n');
    const swapped = join(work, 'known_hosts.changed');
    writeFileSync(swapped, `${first!.split(' ')[0]} ${second!.split(' ').slice(1).join(' ')}\n${second}\n`);
    const changed: Plan = { ...plan, nodes: { ...plan.nodes, knownHosts: swapped } };
    const refused = connectPlanNode(changed, 'source');
    await expect(refused).rejects.toBeInstanceOf(ExternalError);
    await expect(refused).rejects.toThrow(
      new RegExp(
        `host key ssh-ed25519 .* is not the one pinned for ${plan.nodes.source.ip.replace(/\./g, '\\.')}; if the node was recreated, run \`criu-lab lab up\``,
      ),
    );
  });

  it('turns an address in the lab subnet that nobody uses into a usage error naming nodes.source.ip', async () => {
    const unused = `${layout.subnet}.99`;
    const nowhere: Plan = { ...plan, nodes: { ...plan.nodes, source: { ip: unused, name: 'n1' } } };
    const error = await connectPlanNode(nowhere, 'source').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).problems).toEqual([
      expect.stringMatching(new RegExp(`^nodes\\.source\\.ip: no SSH server answers at ${unused.replace(/\./g, '\\.')}:22 .*fix: check the address`)),
    ]);
  }, 20_000);

  it('exits 2 before anything starts when the destination is 127.0.0.2 on a closed port', () => {
    const config = join(work, 'closed-port.yaml');
    writeFileSync(config, 'nodes: { ssh_port: 1, destination: { ip: 127.0.0.2 } }\ntimeouts: { connect_s: 3 }\n');
    const result = cli(['run', '--servers', servers, '-c', config, '--results-dir', join(work, 'closed')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/nodes\.(source|destination)\.ip: no SSH server answers at [0-9.]+:1 \(connect ECONNREFUSED/);
  }, 60_000);
});
