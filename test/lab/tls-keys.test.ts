// Trust boundaries on a real lab (lab name htt, subnet 10.77.215): the page-server and lazy-pages
// streams run over CRIU's TLS with the run's certificates and the workload verifies; a node
// without pinned host keys is reached only with --trust-unknown-host-keys, which metrics.json
// records; and an encrypted controller key works through a real ssh-agent. Small sizes: the
// machine is shared.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan, type ConfigOverride } from '../../experiments/config/load.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress } from '../../experiments/progress.js';
import { connectPlanNode } from '../../experiments/remote/connect.js';
import { labDown, labUp, type LabInfo } from '../../infra/local/lab.js';

const root = resolve(import.meta.dirname, '../..');
const LAB = 'htt';
const SMALL = { mb_size: 32, interval: 0.2, max_memory: 128 };
let work: string;
let servers: string;
let info: LabInfo;

const flag = (path: string, value: unknown): ConfigOverride => ({ path, value, flag: path });

function planFor(overrides: readonly ConfigOverride[], serversFile = servers) {
  const sized = Object.entries(SMALL).map(([key, value]) => flag(`workload.${key}`, value));
  return loadPlan({ projectRoot: root, serversFile, overrides: [...sized, flag('experiment.results_dir', join(work, 'results')), ...overrides] }).plan;
}

const migrate = (overrides: readonly ConfigOverride[], serversFile?: string) =>
  runMigration(planFor(overrides, serversFile), { signal: new AbortController().signal, progress: createProgress(process.stderr, true) });

/** What the nodes still hold of past runs under their checkpoint dirs (images, control and TLS dirs). */
const leftInImageDirs = () => info.nodes.flatMap((node) => {
  const dir = join(info.stateDir, 'nodes', node.name, 'srv/criu-lab/img');
  return existsSync(dir) ? readdirSync(dir).map((entry) => `${node.name}:${entry}`) : [];
});

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'criu-lab-htt-'));
  servers = join(work, 'servers.yaml');
  info = (await labUp({ name: LAB, subnet: '10.77.215', nodes: 2, serversPath: servers })).info;
}, 60_000);

afterAll(async () => {
  await labDown({ name: LAB, serversPath: servers });
}, 60_000);

describe('the page stream over TLS', () => {
  for (const [strategy, logs] of [['pageserver', ['source/criu-dump.log', 'dest/criu-page-server.log']], ['lazy', ['source/criu-dump.log', 'dest/criu-lazy-pages.log']]] as const) {
    it(`${strategy}: both ends complete a TLS handshake with the run's certificates, and the workload verifies`, async () => {
      const { metrics, resultsDir } = await migrate([flag('checkpoint.strategy.mode', strategy)]);
      expect(metrics.verify?.ok).toBe(true);
      expect((strategy === 'pageserver' ? metrics.pageStream : metrics.lazy)?.tls).toBe(true);
      for (const log of logs) expect(readFileSync(join(resultsDir, log), 'utf8')).toContain('tls: TLS handshake completed');
      // The certificates went with the run's directories.
      expect(leftInImageDirs()).toEqual([]);
    }, 180_000);
  }
});

describe('host keys', () => {
  it('without known_hosts, a run goes ahead only with --trust-unknown-host-keys, and metrics.json records it', async () => {
    const unpinned = join(work, 'servers-unpinned.yaml');
    writeFileSync(unpinned, readFileSync(servers, 'utf8').replace(/^\s*known_hosts:.*\n/m, ''));
    await expect(migrate([], unpinned)).rejects.toThrow(/no pinned host keys/);
    const { metrics, resultsDir } = await migrate([flag('nodes.trust_unknown_host_keys', true)], unpinned);
    expect(metrics.verify?.ok).toBe(true);
    expect(JSON.parse(readFileSync(join(resultsDir, 'metrics.json'), 'utf8'))).toMatchObject({ hostKeyCheck: 'trust-unknown' });
  }, 180_000);
});

describe('an encrypted controller key', () => {
  it('authenticates through a real ssh-agent', async () => {
    const key = join(work, 'id_encrypted');
    copyFileSync(info.sshKeyPath, key);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'lab passphrase', '-f', key]);
    const socket = join(work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    const saved = process.env['SSH_AUTH_SOCK'];
    try {
      for (let i = 0; i < 50 && !existsSync(socket); i++) await sleep(100);
      const askpass = join(work, 'askpass');
      writeFileSync(askpass, '#!/bin/sh\necho "lab passphrase"\n', { mode: 0o700 });
      execFileSync('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' }, stdio: 'ignore' });
      process.env['SSH_AUTH_SOCK'] = socket;
      const node = await connectPlanNode(planFor([flag('nodes.ssh_key', key)]), 'source');
      try {
        expect((await node.run(['hostname'])).stdout.trim()).toBe(info.nodes[0]!.name);
      } finally {
        await node.close();
      }
    } finally {
      if (saved === undefined) delete process.env['SSH_AUTH_SOCK'];
      else process.env['SSH_AUTH_SOCK'] = saved;
      agent.kill();
    }
  }, 60_000);
});
