// Security properties checked without a lab, by running the code: AWS credentials reach cdktf and
// the aws CLI of a deploy only through the environment and land in no file it writes, the
// controller's private key is read only to connect and planned into no node command, and the
// secret scanner the lab test relies on finds what it must.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { awsConsoleReader } from '../../infra/aws/boot-report.js';
import { deployLab } from '../../infra/aws/deploy.js';
import { runProcess, type ProcessRunner } from '../../core/process.js';
import { loadPlan } from '../../experiments/config/load.js';
import { UsageError } from '../../core/errors.js';
import { dryRun } from '../../experiments/pipeline.js';
import { connectPlanNode } from '../../experiments/remote/connect.js';
import { TEST_PUBLIC_KEY } from '../infra/helpers.js';
import { awsArgv, awsCliConfig } from '../../experiments/transfers/s3.js';
import type { Plan } from '../../experiments/config/plan.js';
import { filesHolding, privateKeyLines, secretPatterns } from '../support/secrets.js';
import { renderKnownHosts } from '../../infra/aws/known-hosts.js';
import { KnownHosts } from '../../experiments/remote/known-hosts.js';

const root = resolve(import.meta.dirname, '../..');
const FAKE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const FAKE_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const FAKE_TOKEN = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN0123456789';

describe('AWS credentials', () => {
  it('reach cdktf and the aws CLI of a whole `infra deploy` through their environment, never their argv, and no file the deploy writes holds them', async () => {
    // The two programs that would talk to AWS are fakes at that edge: they record what they were
    // given, and answer as cdktf (the outputs file) and the EC2 console (recorded boot reports) do.
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-creds-'));
    const record = join(dir, 'seen.log');
    const fake = (name: string, answer: string) => {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\nprintf 'argv %s\\n' "$*" >>${record}\nenv | grep '^AWS_' | sed 's/^/env /' >>${record}\n${answer}\n`, { mode: 0o755 });
      return path;
    };
    const fixtures = join(root, 'test/infra/fixtures');
    const cdktf = fake('cdktf', `while [ $# -gt 0 ]; do [ "$1" = --outputs-file ] && cp ${fixtures}/mocked-apply-outputs.json "$2"; shift; done`);
    const aws = fake('aws', `for a; do case $a in i-*) cat ${fixtures}/console/$a.txt;; esac; done`);
    const run: ProcessRunner = (command, options) => {
      const [program = '', ...args] = command;
      const swapped = program.endsWith('/cdktf') ? cdktf : program === 'aws' ? aws : program;
      return runProcess([swapped, ...args], options);
    };
    const configPath = join(dir, 'infra.yaml');
    writeFileSync(configPath, `operator_cidr: 198.51.100.7/32\npublic_key: ${TEST_PUBLIC_KEY}\nprivate_key_path: ${join(dir, 'id_test')}\n`);
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: FAKE_KEY_ID, AWS_SECRET_ACCESS_KEY: FAKE_SECRET, AWS_SESSION_TOKEN: FAKE_TOKEN });
    try {
      await deployLab(
        {
          configPath,
          serversPath: join(dir, 'config/servers.yaml'),
          outputsPath: join(dir, 'infra.outputs.json'),
          destroyAfter: true,
          waitForBoot: true,
          bootTimeoutMs: 60_000,
        },
        { run, consoleReader: (region) => awsConsoleReader(region, run), log: () => undefined, bootPollMs: 0 },
      );
    } finally {
      process.env = saved;
    }
    const seen = readFileSync(record, 'utf8').split('\n');
    const argvLines = seen.filter((l) => l.startsWith('argv '));
    expect(argvLines.some((l) => l.startsWith('argv deploy '))).toBe(true);
    expect(argvLines.some((l) => l.startsWith('argv destroy '))).toBe(true);
    expect(argvLines.some((l) => l.startsWith('argv ec2 get-console-output '))).toBe(true);
    expect(seen.filter((l) => l === `env AWS_SECRET_ACCESS_KEY=${FAKE_SECRET}`)).toHaveLength(seen.filter((l) => l.startsWith('argv ')).length);
    for (const line of argvLines) for (const secret of [FAKE_SECRET, FAKE_KEY_ID, FAKE_TOKEN]) expect(line).not.toContain(secret);
    const written = filesHolding(dir, [...secretPatterns, new RegExp(FAKE_TOKEN)]).map((p) => relative(dir, p));
    expect(written).toEqual(['seen.log']);
    expect(readFileSync(join(dir, 'config/servers.yaml'), 'utf8')).toContain('known_hosts');
  });

  it('stay out of the AWS CLI config and argv a run sends to the nodes, even when the controller has them', () => {
    const saved = { ...process.env };
    process.env['AWS_ACCESS_KEY_ID'] = FAKE_KEY_ID;
    process.env['AWS_SECRET_ACCESS_KEY'] = FAKE_SECRET;
    try {
      const plan = {
        transfer: {
          s3Prefix: 'criu-checkpoints',
          s3Bucket: 'bucket',
          s3: { profile: 'lab', region: 'us-west-2', endpointUrl: 'http://10.77.0.5:9000', partSizeMb: 16, maxConcurrency: 10 },
        },
        aws: undefined,
      } as unknown as Plan;
      const ctx = { plan, runId: 'memory_20260101_000000', paths: { sourceControlDir: '/srv/criu-lab/img/x.ctl' } } as Parameters<typeof awsCliConfig>[0];
      const sent = `${awsCliConfig(ctx)}\n${awsArgv(ctx, 's3', 'ls').join(' ')}`;
      for (const pattern of secretPatterns) expect(sent).not.toMatch(pattern);
      expect(sent).not.toContain(FAKE_SECRET);
      expect(sent).not.toContain(FAKE_KEY_ID);
    } finally {
      process.env = saved;
    }
  });
});

describe('the controller private key', () => {
  it('is not read to load a plan or to print a dry run, and is read (and refused) only when connecting', async () => {
    // A key file that is no key: anything parsing it before the connection would fail.
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-key-'));
    writeFileSync(join(dir, 'id_ed25519'), 'not a key');
    writeFileSync(join(dir, 'known_hosts'), '');
    const servers = join(dir, 'servers.yaml');
    writeFileSync(
      servers,
      `nodes: { ssh_key: ${join(dir, 'id_ed25519')}, known_hosts: ${join(dir, 'known_hosts')}, source: { ip: 127.0.0.1, name: n1 }, destination: { ip: 127.0.0.2, name: n2 } }\n`,
    );
    const { plan } = loadPlan({ projectRoot: root, serversFile: servers, env: {} });
    expect((await dryRun(plan)).steps.length).toBeGreaterThan(3);
    const error = await connectPlanNode(plan, 'source').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).problems).toEqual([expect.stringMatching(/^nodes\.ssh_key: \S+id_ed25519 is not a usable private key/)]);
  });

  it('appears in no command, file or upload a dry run plans for the nodes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-key-'));
    const key = join(dir, 'id_ed25519');
    writeFileSync(key, 'PRIVATE KEY BODY');
    const servers = join(dir, 'servers.yaml');
    writeFileSync(servers, `nodes: { ssh_key: ${key}, source: { ip: 127.0.0.1, name: n1 }, destination: { ip: 127.0.0.2, name: n2 } }\n`);
    for (const method of ['rsync', 's3', 'efs', 'ebs']) {
      const { plan } = loadPlan({
        projectRoot: root,
        serversFile: servers,
        env: {},
        overrides: [
          { path: 'transfer.method', value: method, flag: '--transfer' },
          { path: 'transfer.s3_bucket', value: 'bucket', flag: '--s3-bucket' },
          { path: 'transfer.ebs.volume', value: '/dev/loop7', flag: '--ebs-volume' },
        ],
      });
      const planned = JSON.stringify(await dryRun(plan));
      expect({ method, key: planned.includes(key) || planned.includes('PRIVATE KEY BODY') }).toEqual({ method, key: false });
    }
  });
});

describe('host keys pinned at the AWS deploy', () => {
  it('trust a node only with the key its boot report gave, at its own address', () => {
    const pinned = KnownHosts.parse(
      renderKnownHosts([{ address: '10.0.1.10', hostKeys: [{ type: 'ssh-ed25519', key: 'AAAAC3NzaC1lZDI1NTE5AAAAIreported' }] }]),
    );
    expect(pinned.matches('10.0.1.10', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreported')).toBe(true);
    expect(pinned.matches('10.0.1.10', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIchanged')).toBe(false);
    expect(pinned.matches('10.0.1.11', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreported')).toBe(false);
  });
});

describe('the secret scan used on results dirs', () => {
  it('finds private keys, AWS key ids and secret keys, and a given key by any line of its body', () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-scan-'));
    const key = [
      '-----BEGIN OPENSSH PRIVATE KEY-----',
      'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
      'QyNTUxOQAAACBxbTq0f4yKz1hD1S5nN4x0n8W6Yc2jS3p1q2n3r4s5tAAAAJgkXh1lJF4d',
      '-----END OPENSSH PRIVATE KEY-----',
    ].join('\n');
    writeFileSync(join(dir, 'clean.json'), '{"downtimeMs": 1200, "transfer": {"method": "s3"}}');
    writeFileSync(join(dir, 'key.log'), `...\n${key}\n`);
    writeFileSync(join(dir, 'key-line.log'), 'leaked: QyNTUxOQAAACBxbTq0f4yKz1hD1S5nN4x0n8W6Yc2jS3p1q2n3r4s5tAAAAJgkXh1lJF4d');
    writeFileSync(join(dir, 'id.txt'), `key ${FAKE_KEY_ID}`);
    writeFileSync(join(dir, 'secret.env'), `secret_access_key=${FAKE_SECRET}`);
    const found = filesHolding(dir, [...secretPatterns, ...privateKeyLines(key)])
      .map((p) => relative(dir, p))
      .sort();
    expect(found).toEqual(['id.txt', 'key-line.log', 'key.log', 'secret.env']);
  });
});
