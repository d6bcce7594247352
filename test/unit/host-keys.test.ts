// Who the controller trusts and how it proves itself, without a lab: no pinned host key means no
// connection (a run exits 2 before it writes or connects anything) unless --trust-unknown-host-keys
// says otherwise; `cleanup` never takes that choice from a results dir; an encrypted key is used
// through the ssh-agent. Addresses are loopback with a closed port: nothing leaves this machine.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Plan } from '../../experiments/config/plan.js';
import { UsageError } from '../../core/errors.js';
import { cleanLeftovers, LeftoversLog } from '../../experiments/leftovers.js';
import { clientCredentials, hostKeysFor } from '../../experiments/remote/connect.js';
import { KnownHosts } from '../../experiments/remote/known-hosts.js';
import { runCli } from '../support/cli.js';

let dir: string;
let key: string;
let encrypted: string;
const node = (name: string, ip: string) => ({ name, ip });

/** The UsageError `work` throws, for its problems. */
function usageErrorOf(work: () => unknown): UsageError {
  try {
    work();
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-host-keys-'));
  key = join(dir, 'id_ed25519');
  encrypted = join(dir, 'id_encrypted');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', encrypted]);
});

const nodes = (more: Partial<Plan['nodes']> = {}): Plan['nodes'] => ({
  sshUser: 'root',
  sshKey: key,
  sshPort: 9,
  knownHosts: undefined,
  trustUnknownHostKeys: false,
  bastion: undefined,
  source: node('n1', '127.0.0.1'),
  destination: node('n2', '127.0.0.2'),
  ...more,
});

describe('host keys', () => {
  it('refuse to connect without known_hosts, naming where the keys come from and the flag that skips them', () => {
    const text = usageErrorOf(() => hostKeysFor(nodes())).problems.join('\n');
    for (const fix of [
      'nodes.known_hosts: not set',
      'criu-lab lab up',
      'criu-lab infra deploy',
      'ssh-keyscan',
      '--trust-unknown-host-keys',
      'nodes.trust_unknown_host_keys',
    ])
      expect(text).toContain(fix);
  });

  it('accept any key only when told to, and otherwise the pinned ones even when told to', () => {
    expect(hostKeysFor(nodes({ trustUnknownHostKeys: true }))).toBe('trust-unknown');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '127.0.0.1 ssh-ed25519 AAAA\n');
    expect(hostKeysFor(nodes({ knownHosts, trustUnknownHostKeys: true }))).toBeInstanceOf(KnownHosts);
  });
});

describe('criu-lab run without known_hosts', () => {
  let servers: string;
  beforeAll(() => {
    servers = join(dir, 'servers.yaml');
    writeFileSync(servers, `nodes:\n  ssh_key: ${key}\n  ssh_port: 9\n  source: { ip: 127.0.0.1, name: n1 }\n  destination: { ip: 127.0.0.2, name: n2 }\n`);
  });

  it('exits 2 before it writes results or connects, saying how to pin the keys', async () => {
    const results = join(dir, 'results');
    const { code, stderr } = await runCli(['run', '--servers', servers, '--results-dir', results]);
    expect(code).toBe(2);
    expect(stderr).toContain('no pinned host keys for the nodes; nothing was started');
    expect(stderr).toContain('ssh-keyscan');
    expect(existsSync(results)).toBe(false);
  }, 60_000);

  it('still prints a dry run, which connects to nothing', async () => {
    const { code } = await runCli(['run', '--servers', servers, '--dry-run']);
    expect(code).toBe(0);
  }, 60_000);
});

describe('criu-lab cleanup', () => {
  it('does not take "trust unknown host keys" from a results dir: a record that says so is still refused', async () => {
    const run = 'memory_20261205_101500';
    const results = join(dir, run);
    mkdirSync(results);
    writeFileSync(join(results, 'metrics.json'), '{}');
    const timeouts = { connectS: 1, commandS: 1, readyS: 1, dumpS: 1, transferS: 1, restoreS: 1, verifyS: 1 };
    const work = `/srv/criu-lab/work/${run}`;
    const paths = {
      workDir: work,
      sourceImageDir: `/srv/criu-lab/img/${run}`,
      destImageDir: `/srv/criu-lab/img/${run}`,
      sourceControlDir: `/srv/criu-lab/img/${run}.ctl`,
      scriptDir: work,
      dataDir: work,
    };
    const log = await LeftoversLog.create(results, {
      runId: run,
      connection: { nodes: nodes({ trustUnknownHostKeys: true }), timeouts },
      paths,
      transfer: 'rsync',
    });
    await log.update({ touched: ['source'] });
    await expect(cleanLeftovers(results, () => undefined)).rejects.toMatchObject({
      problems: expect.arrayContaining([expect.stringMatching(/^connection\.nodes\.knownHosts: /)]),
    });
  });
});

describe('the controller key', () => {
  it('is used as it is when unencrypted', () => {
    const file = readFileSync(key);
    expect(clientCredentials(key, file, {})).toEqual({ privateKey: file });
  });

  it('goes through the ssh-agent when encrypted and SSH_AUTH_SOCK is set', () => {
    expect(clientCredentials(encrypted, readFileSync(encrypted), { SSH_AUTH_SOCK: '/run/agent.sock' })).toEqual({ agent: '/run/agent.sock' });
  });

  it('is refused when encrypted and no agent is set, with the ssh-add that fixes it', () => {
    expect(usageErrorOf(() => clientCredentials(encrypted, readFileSync(encrypted), {})).problems[0]).toContain(`ssh-add ${encrypted}`);
  });
});
