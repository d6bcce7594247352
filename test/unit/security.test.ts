// Security properties checked without a lab: AWS credentials reach cdktf and the aws CLI only
// through the environment, no code path writes them to a file, the controller's private key is
// read in one place only (to authenticate), and the secret scanner the lab test relies on finds
// what it must.
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runCommand } from '../../infra/aws/process.js';
import { awsArgv, awsCliConfig } from '../../experiments/transfers/s3.js';
import type { Plan } from '../../experiments/config/plan.js';
import { filesHolding, privateKeyLines, secretPatterns } from '../support/secrets.js';
import { renderKnownHosts } from '../../infra/aws/known-hosts.js';
import { KnownHosts } from '../../experiments/remote/known-hosts.js';

const root = resolve(import.meta.dirname, '../..');
const FAKE_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const FAKE_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';

/** Every TypeScript source criu-lab ships (not tests, not node_modules). */
function sources(): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (path.endsWith('.ts')) found.push(path);
    }
  };
  for (const dir of ['experiments', 'infra', 'workloads', 'bin']) walk(join(root, dir));
  return found;
}

describe('AWS credentials', () => {
  it('reach a child process (cdktf, aws) through its environment, and nothing is written to its working dir', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'criu-lab-creds-'));
    const result = await runCommand(['sh', '-c', 'printf "%s %s" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"'], {
      cwd,
      env: { AWS_ACCESS_KEY_ID: FAKE_KEY_ID, AWS_SECRET_ACCESS_KEY: FAKE_SECRET },
    });
    expect(result.output).toBe(`${FAKE_KEY_ID} ${FAKE_SECRET}`);
    expect(readdirSync(cwd)).toEqual([]);
    // The result carries the argv, never the environment.
    expect(JSON.stringify(result.command)).not.toContain(FAKE_SECRET);
  });

  it('are named in no file-writing code path, except the made-up keys of the lab S3 stand-in', () => {
    // storage.ts writes keys it generated for the lab's own S3 stand-in onto lab nodes: not AWS credentials.
    const allowed = new Set(['infra/local/storage.ts']);
    const offenders = sources()
      .map((path) => ({ path: relative(root, path), text: readFileSync(path, 'utf8') }))
      .filter(({ text }) => /\b(writeFile|writeFileSync|appendFile|appendFileSync|createWriteStream)\b|\.writeFile\(/.test(text))
      .filter(({ text }) => /aws_secret_access_key|AWS_SECRET_ACCESS_KEY|aws_session_token|AWS_SESSION_TOKEN|aws_access_key_id/.test(text))
      .map(({ path }) => path)
      .filter((path) => !allowed.has(path));
    expect(offenders).toEqual([]);
  });

  it('stay out of the AWS CLI config and argv a run sends to the nodes, even when the controller has them', () => {
    const saved = { ...process.env };
    process.env['AWS_ACCESS_KEY_ID'] = FAKE_KEY_ID;
    process.env['AWS_SECRET_ACCESS_KEY'] = FAKE_SECRET;
    try {
      const plan = {
        transfer: { s3Prefix: 'criu-checkpoints', s3Bucket: 'bucket', s3: { profile: 'lab', region: 'us-west-2', endpointUrl: 'http://10.77.0.5:9000', partSizeMb: 16, maxConcurrency: 10 } },
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
  it('is read only to authenticate the controller SSH connections (remote/connect.ts)', () => {
    const readers = sources()
      .filter((path) => /read(File|FileSync|PrivateKey)\([^)]*sshKey/.test(readFileSync(path, 'utf8')))
      .map((path) => relative(root, path));
    expect(readers).toEqual(['experiments/remote/connect.ts']);
  });

  it('is never uploaded: no upload or writeFile to a node takes the configured key path or its content', () => {
    const offenders = sources().filter((path) => /\.(upload|writeFile)\([^)]*sshKey/.test(readFileSync(path, 'utf8')));
    expect(offenders).toEqual([]);
  });
});

describe('host keys pinned at the AWS deploy', () => {
  it('trust a node only with the key its boot report gave, at its own address', () => {
    const pinned = KnownHosts.parse(renderKnownHosts([{ address: '10.0.1.10', hostKeys: [{ type: 'ssh-ed25519', key: 'AAAAC3NzaC1lZDI1NTE5AAAAIreported' }] }]));
    expect(pinned.matches('10.0.1.10', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreported')).toBe(true);
    expect(pinned.matches('10.0.1.10', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIchanged')).toBe(false);
    expect(pinned.matches('10.0.1.11', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIreported')).toBe(false);
  });
});

describe('the secret scan used on results dirs', () => {
  it('finds private keys, AWS key ids and secret keys, and a given key by any line of its body', () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-scan-'));
    const key = ['-----BEGIN OPENSSH PRIVATE KEY-----', 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW', 'QyNTUxOQAAACBxbTq0f4yKz1hD1S5nN4x0n8W6Yc2jS3p1q2n3r4s5tAAAAJgkXh1lJF4d', '-----END OPENSSH PRIVATE KEY-----'].join('\n');
    writeFileSync(join(dir, 'clean.json'), '{"downtimeMs": 1200, "transfer": {"method": "s3"}}');
    writeFileSync(join(dir, 'key.log'), `...\n${key}\n`);
    writeFileSync(join(dir, 'key-line.log'), 'leaked: QyNTUxOQAAACBxbTq0f4yKz1hD1S5nN4x0n8W6Yc2jS3p1q2n3r4s5tAAAAJgkXh1lJF4d');
    writeFileSync(join(dir, 'id.txt'), `key ${FAKE_KEY_ID}`);
    writeFileSync(join(dir, 'secret.env'), `secret_access_key=${FAKE_SECRET}`);
    const found = filesHolding(dir, [...secretPatterns, ...privateKeyLines(key)]).map((p) => relative(dir, p)).sort();
    expect(found).toEqual(['id.txt', 'key-line.log', 'key.log', 'secret.env']);
  });
});
