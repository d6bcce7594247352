// Trust boundaries on a real lab (lab name htt, subnet 10.77.215): the page-server and lazy-pages
// streams run over CRIU's TLS with the run's certificates and the workload verifies; a node
// without pinned host keys is reached only with --trust-unknown-host-keys, which metrics.json
// records; and an encrypted controller key works through a real ssh-agent. Small sizes: the
// machine is shared.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from '@jest/globals';
import type { ConfigOverride } from '../../experiments/config/load.js';
import { connectPlanNode } from '../../experiments/remote/connect.js';
import { setting, useLab } from '../support/lab.js';

const LAB = 'htt';
const SMALL = { mb_size: 32, interval: 0.2, max_memory: 128 };
const lab = useLab({ name: LAB, subnet: '10.77.215', nodes: 2, workload: SMALL });
const { work, servers } = lab;

const flag = setting;
const planFor = (overrides: readonly ConfigOverride[], serversFile = servers) => lab.plan(overrides, { serversFile });
const migrate = (overrides: readonly ConfigOverride[], serversFile = servers) => lab.migrate(overrides, { serversFile });

/** What the nodes still hold of past runs under their checkpoint dirs (images, control and TLS dirs). */
const leftInImageDirs = () =>
  lab.info.nodes.flatMap((node) => {
    const dir = join(lab.info.stateDir, 'nodes', node.name, 'srv/criu-lab/img');
    return existsSync(dir) ? readdirSync(dir).map((entry) => `${node.name}:${entry}`) : [];
  });

describe('the page stream over TLS', () => {
  for (const [strategy, logs] of [
    ['pageserver', ['source/criu-dump.log', 'dest/criu-page-server.log']],
    ['lazy', ['source/criu-dump.log', 'dest/criu-lazy-pages.log']],
  ] as const) {
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
    copyFileSync(lab.info.sshKeyPath, key);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'lab passphrase', '-f', key]);
    const socket = join(work, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    const saved = process.env['SSH_AUTH_SOCK'];
    try {
      for (let i = 0; i < 50 && !existsSync(socket); i++) await sleep(100);
      const askpass = join(work, 'askpass');
      writeFileSync(askpass, '#!/bin/sh\necho "lab passphrase"\n', { mode: 0o700 });
      execFileSync('ssh-add', [key], {
        env: { ...process.env, SSH_AUTH_SOCK: socket, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
        stdio: 'ignore',
      });
      process.env['SSH_AUTH_SOCK'] = socket;
      const node = await connectPlanNode(planFor([flag('nodes.ssh_key', key)]), 'source');
      try {
        expect((await node.run(['hostname'])).stdout.trim()).toBe(lab.info.nodes[0]!.name);
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
