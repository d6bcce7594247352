// servers.yaml has one schema (core/servers.ts): what `lab up` and `infra deploy` write parses
// with it key for key, and the config reads every key it holds.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { serversSchema } from '../../core/servers.js';
import { configSchema } from '../../experiments/config/load.js';
import { findUnknownKeys, knownKeysOf, type KnownKeys } from '../../experiments/config/unknown-keys.js';
import { renderServersYaml as renderLabServers } from '../../infra/local/servers.js';
import { buildServersDocument, renderServersYaml as renderAwsServers } from '../../infra/aws/servers.js';
import { readStackOutputs } from '../../infra/aws/outputs.js';
import { MOCKED_APPLY_OUTPUTS } from '../infra/helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'criu-lab-servers-schema-'));
const node = (i: number) => ({ name: `n${i}`, ip: `10.77.9.${10 + i}`, netns: `b1-n${i}`, veth: `vb1-n${i}`, hostPid: 1, dir: '/tmp' });
const written = {
  lab: renderLabServers({
    name: 'b1',
    backend: 'namespaces',
    subnet: '10.77.9',
    bridge: 'br-b1',
    stateDir: '/var/lib/criu-lab/b1',
    sshKeyPath: join(dir, 'id'),
    knownHostsPath: join(dir, 'known_hosts'),
    serversPath: join(dir, 'servers.yaml'),
    createdAt: '2026-01-01T00:00:00Z',
    bastion: 'n1',
    nodes: [node(1), node(2), node(3)],
    storage: {
      ip: '10.77.9.2',
      s3: { endpointUrl: 'http://10.77.9.2:9000', bucket: 'criu-lab', profile: 'criu-lab-s3' },
      efsMount: '/mnt/efs',
      ebs: { device: '/dev/loop7', mount: '/mnt/ebs' },
    },
  }),
  // A VM lab's storage node serves S3 only: no efs or ebs keys.
  'VM lab': renderLabServers({
    name: 'v1',
    backend: 'vm',
    subnet: '10.77.8',
    bridge: 'br-v1',
    stateDir: '/var/lib/criu-lab/v1',
    sshKeyPath: join(dir, 'id'),
    knownHostsPath: join(dir, 'known_hosts'),
    serversPath: join(dir, 'servers-vm.yaml'),
    createdAt: '2026-01-01T00:00:00Z',
    nodes: [node(1), node(2)],
    storage: { ip: '10.77.8.2', s3: { endpointUrl: 'http://10.77.8.2:9000', bucket: 'criu-lab-v1', profile: 'criu-lab-v1' } },
  }),
  aws: renderAwsServers(
    buildServersDocument(readStackOutputs(MOCKED_APPLY_OUTPUTS, 'criu-lab'), {
      privateKeyPath: '~/.ssh/id',
      knownHostsPath: 'config/servers.known_hosts',
    }),
  ),
};

describe('the servers.yaml schema', () => {
  for (const [writer, text] of Object.entries(written)) {
    it(`parses what the ${writer} writes, with no key it does not know`, () => {
      const document: unknown = parse(text);
      expect(serversSchema.safeParse(document).error).toBeUndefined();
      expect(findUnknownKeys(document, knownKeysOf(serversSchema) as KnownKeys)).toEqual([]);
    });
  }

  it('names only the storage a VM lab has: S3, no efs mount or ebs volume', () => {
    const transfer = (parse(written['VM lab']) as { transfer: Record<string, unknown> }).transfer;
    expect(transfer).toEqual({ s3_bucket: 'criu-lab-v1', s3: { endpoint_url: 'http://10.77.8.2:9000', profile: 'criu-lab-v1' } });
  });

  it('is part of the config schema: every key servers.yaml may hold is a config key', () => {
    const bastion = { ip: '10.0.0.1', name: 'b', ssh_user: 'u' };
    const sample = { nodes: { ssh_user: 'u', ssh_key: 'k', known_hosts: 'h', bastion, source: { ip: '10.0.0.2' }, destination: { ip: '10.0.0.3' } } };
    const everyKey = { ...sample, ...parse(written.aws), ...parse(written.lab) };
    expect(findUnknownKeys(everyKey, knownKeysOf(configSchema) as KnownKeys)).toEqual([]);
  });
});
