import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { Testing } from 'cdktf';
import { loadInfraProps, parseInfraProps, readInfraYaml, readOperatorPublicKey, ValidationError, type InfraConfig } from '../../infra/aws/props.js';
import { CriuLabStack } from '../../infra/aws/stack.js';
import { TEST_CONFIG, TEST_PUBLIC_KEY } from './helpers.js';

/** The problems a config is rejected with, keyed by their dotted key. */
function problemsOf(config: unknown): Record<string, string> {
  try {
    parseInfraProps(config);
  } catch (error) {
    if (error instanceof ValidationError) return Object.fromEntries(error.configProblems.map((p) => [p.key, p.problem]));
    throw error;
  }
  throw new Error('the config was accepted');
}

describe('infra props', () => {
  it('applies every default when only the operator CIDR and key are given', () => {
    const props = parseInfraProps(TEST_CONFIG);
    expect(props).toMatchObject({
      prefix: 'criu-lab',
      region: 'us-west-2',
      nodeInstanceType: 'm5.4xlarge',
      bastionInstanceType: 't3.medium',
      market: 'on-demand',
      machineImage: { kind: 'ssm-parameter', ssmParameter: '/aws/service/debian/release/12/latest/amd64', sshUser: 'admin' },
      ebs: { enabled: true, sizeGib: 100, volumeType: 'gp3', mountPath: '/mnt/ebs' },
      efs: { enabled: true, mountPath: '/mnt/efs' },
      s3: { enabled: true, expireDays: 7, objectPrefix: 'images/' },
      publicKeyPath: '~/.ssh/id_ed25519.pub',
      privateKeyPath: '~/.ssh/id_ed25519',
      generatedKey: false,
      nodePorts: [
        { fromPort: 27000, toPort: 27099 },
        { fromPort: 5201, toPort: 5201 },
      ],
    });
    expect(props.zones.map((z) => [z.availabilityZone, z.serversKey, z.nodeCount])).toEqual([
      ['us-west-2a', 'az_a', 2],
      ['us-west-2c', 'az_c', 1],
    ]);
    expect(Object.isFrozen(props.zones[0])).toBe(true);
  });

  it('fails without an operator CIDR, naming the key and how to fix it', () => {
    const { operator_cidr: _omitted, ...config } = TEST_CONFIG;
    expect(problemsOf(config)).toEqual({ operator_cidr: expect.stringMatching(/is required.*\/32/) });
  });

  it('fails when the operator CIDR is 0.0.0.0/0', () => {
    expect(problemsOf({ ...TEST_CONFIG, operator_cidr: '0.0.0.0/0' })).toEqual({
      operator_cidr: expect.stringContaining('whole internet'),
    });
  });

  it('fails when the operator CIDR is far too wide or has host bits set', () => {
    expect(problemsOf({ ...TEST_CONFIG, operator_cidr: '64.0.0.0/2' }).operator_cidr).toMatch(/addresses/);
    expect(problemsOf({ ...TEST_CONFIG, operator_cidr: '198.51.100.7/24' }).operator_cidr).toMatch(/198\.51\.100\.0\/24/);
    expect(problemsOf({ ...TEST_CONFIG, operator_cidr: 'my laptop' }).operator_cidr).toMatch(/not an IPv4 CIDR/);
  });

  it('fails when both zones are the same', () => {
    const config: InfraConfig = {
      ...TEST_CONFIG,
      zones: [
        { az: 'a', nodes: 2 },
        { az: 'a', nodes: 1 },
      ],
    };
    expect(problemsOf(config)).toEqual({ 'zones.1.az': expect.stringContaining('repeats zone "a"') });
  });

  it('fails with one zone: a cross-AZ pair needs two', () => {
    expect(problemsOf({ ...TEST_CONFIG, zones: [{ az: 'a', nodes: 2 }] })).toEqual({
      zones: expect.stringContaining('exactly two'),
    });
  });

  it('fails when a zone has no nodes', () => {
    const config: InfraConfig = {
      ...TEST_CONFIG,
      zones: [
        { az: 'a', nodes: 2 },
        { az: 'c', nodes: 0 },
      ],
    };
    expect(problemsOf(config)).toEqual({ 'zones.1.nodes': expect.stringContaining('at least 1') });
  });

  it('reports every problem at once, unknown keys included', () => {
    const problems = problemsOf({
      prefix: 'Bad_Prefix',
      zones: [
        { az: 'a', nodes: 0 },
        { az: 'c', nodes: 1 },
      ],
      ebs: { size_gib: 100, typo: true },
      ami: { id: 'ami-0123456789abcdef0' },
    });
    expect(Object.keys(problems).sort()).toEqual(['ami.ssh_user', 'ebs.typo', 'operator_cidr', 'prefix', 'zones.0.nodes'].sort());
  });

  it('throws the ValidationError from the stack constructor, before anything is synthesised', () => {
    const app = Testing.app();
    expect(() => new CriuLabStack(app, { ...TEST_CONFIG, operator_cidr: '0.0.0.0/0' })).toThrow(ValidationError);
    expect(app.node.children).toHaveLength(0);
  });

  it('names the file and every key in the message of a YAML config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-props-'));
    const path = join(dir, 'infra.yaml');
    writeFileSync(path, 'region: us-west-2\nzones:\n  - { az: a, nodes: 2 }\n  - { az: a, nodes: 1 }\n');
    expect(() => loadInfraProps(path)).toThrow(/infra\.yaml is invalid \(2 problems\):\n {2}zones\.1\.az: .*\n {2}operator_cidr: /);
  });

  it('tells the operator to copy the example when config/infra.yaml is missing', () => {
    expect(() => loadInfraProps('/nonexistent/infra.yaml')).toThrow(/cp config\/infra\.example\.yaml/);
  });

  it('accepts the documented example once operator_cidr is set', () => {
    const example = readInfraYaml(fileURLToPath(new URL('../../config/infra.example.yaml', import.meta.url)));
    expect(example).toEqual(expect.not.objectContaining({ operator_cidr: expect.anything() }));
    expect(typeof example).toBe('object');
    expect(() => parseInfraProps({ ...(example as object), operator_cidr: '198.51.100.7/32' })).not.toThrow();
  });
});

describe('the operator key', () => {
  it('refuses a private key: it must never reach AWS', () => {
    const props = parseInfraProps({
      ...TEST_CONFIG,
      public_key: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
    });
    expect(() => readOperatorPublicKey(props)).toThrow(/public_key: holds a private key/);
  });

  it('names public_key_path and the ssh-keygen fix when the file is missing', () => {
    const { public_key: _inline, private_key_path: _private, ...config } = TEST_CONFIG;
    const props = parseInfraProps({ ...config, public_key_path: '/nonexistent/id_ed25519.pub' });
    expect(() => readOperatorPublicKey(props)).toThrow(/public_key_path: .*ssh-keygen -t ed25519 -f \/nonexistent\/id_ed25519/);
  });

  it('reads one OpenSSH public key line from the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-key-'));
    const path = join(dir, 'lab.pub');
    writeFileSync(path, `${TEST_PUBLIC_KEY}\n`);
    const { public_key: _inline, private_key_path: _private, ...config } = TEST_CONFIG;
    const props = parseInfraProps({ ...config, public_key_path: path });
    expect(readOperatorPublicKey(props)).toBe(TEST_PUBLIC_KEY);
    expect(props.privateKeyPath).toBe(join(dir, 'lab'));
  });
});
