// The transfer seam without a lab: where each method puts the images, the commands it would
// run (--dry-run), and the settings it needs, checked at the config edge.
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan, type ConfigOverride } from '../../experiments/config/load.js';
import { UsageError } from '../../core/errors.js';
import { dryRun } from '../../experiments/pipeline.js';
import { awsCliConfig, runPrefix } from '../../experiments/transfers/s3.js';
import { splitItems } from '../../experiments/transfers/shared-storage.js';
import { runPaths, transfers } from '../../experiments/transfers/registry.js';

const repoRoot = resolve(import.meta.dirname, '../..');
let projectRoot: string;
let serversFile: string;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-lab-transfers-'));
  projectRoot = join(dir, 'project');
  cpSync(join(repoRoot, 'config/default.yaml'), join(projectRoot, 'config/default.yaml'));
  cpSync(join(repoRoot, 'config/workloads'), join(projectRoot, 'config/workloads'), { recursive: true });
  const key = join(dir, 'id_ed25519');
  writeFileSync(key, 'not a real key');
  serversFile = join(dir, 'servers.yaml');
  writeFileSync(
    serversFile,
    [
      'nodes: { ssh_user: root, ssh_key: ' + key + ', source: { ip: 10.9.0.11, name: n1 }, destination: { ip: 10.9.0.12, name: n2 } }',
      'transfer: { s3_bucket: criu-lab-t7, s3: { endpoint_url: "http://10.9.0.2:9000", profile: criu-lab-t7 }, ebs: { volume: /dev/loop7 } }',
    ].join('\n'),
  );
});

function plan(method: string, extra: ConfigOverride[] = []) {
  return loadPlan({ projectRoot, serversFile, env: {}, overrides: [{ path: 'transfer.method', value: method, flag: '--transfer' }, ...extra] }).plan;
}

describe('where each transfer puts the images', () => {
  it('keeps node-local image dirs for rsync and s3, and one shared path for efs and ebs', () => {
    const dirs = (method: string) => {
      const paths = runPaths(plan(method), 'memory_20261126_010203');
      return [paths.sourceImageDir, paths.destImageDir];
    };
    expect(dirs('rsync')).toEqual(['/srv/criu-lab/img/memory_20261126_010203', '/srv/criu-lab/img/memory_20261126_010203']);
    expect(dirs('s3')).toEqual(['/srv/criu-lab/img/memory_20261126_010203', '/srv/criu-lab/img/memory_20261126_010203']);
    expect(dirs('efs')).toEqual(['/mnt/efs/memory_20261126_010203', '/mnt/efs/memory_20261126_010203']);
    expect(dirs('ebs')).toEqual(['/mnt/ebs/memory_20261126_010203', '/mnt/ebs/memory_20261126_010203']);
  });

  it('moves images that live on the shared storage with it and copies the work dir through it', () => {
    const items = [
      { label: 'images', from: '/mnt/efs/run', to: '/mnt/efs/run' },
      { label: 'workdir', from: '/srv/criu-lab/work/run', to: '/srv/criu-lab/work/run' },
    ];
    expect(splitItems(items, '/mnt/efs')).toEqual({ onStorage: [items[0]], staged: [items[1]] });
  });

  it('registers every method the config accepts', () => {
    expect(transfers.names()).toEqual(['rsync', 's3', 'efs', 'ebs']);
  });
});

describe('the s3 transfer', () => {
  it('puts objects under s3_prefix/<run id>/ however the prefix is written', () => {
    const p = (prefix: string) => runPrefix({ ...ctxOf(plan('s3', [{ path: 'transfer.s3_prefix', value: prefix, flag: 'test' }])) });
    expect(p('criu-checkpoints')).toBe('criu-checkpoints/run1/');
    expect(p('/images/')).toBe('images/run1/');
    expect(p('')).toBe('run1/');
  });

  it('sets multipart part size and parallelism in a per-run AWS CLI config, under the profile', () => {
    expect(awsCliConfig(ctxOf(plan('s3')))).toBe(
      '[profile criu-lab-t7]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = 10\n  multipart_chunksize = 16MB\n  multipart_threshold = 16MB\n',
    );
  });

  it('uploads on the source and downloads on the destination through the endpoint (--dry-run)', async () => {
    const steps = (await dryRun(plan('s3'))).steps.filter((s) => s.command.includes(' s3 cp '));
    expect(steps.map((s) => s.node)).toEqual(['n1', 'n1', 'n2', 'n2']);
    expect(steps[0]!.command).toContain(
      "aws --profile criu-lab-t7 --endpoint-url http://10.9.0.2:9000 s3 cp --only-show-errors - 's3://criu-lab-t7/criu-checkpoints/memory_<timestamp>/images.tar'",
    );
    expect(steps[2]!.command).toMatch(
      /^bash -c .*tar -C "\$dir" -xf -' bash '\/srv\/criu-lab\/img\/memory_<timestamp>' env .* s3 cp --only-show-errors 's3:\/\/criu-lab-t7\/criu-checkpoints\/memory_<timestamp>\/images\.tar' -$/,
    );
  });
});

describe('settings checked at the config edge', () => {
  it('refuses s3 without a bucket before anything starts, naming the key and the variable', () => {
    const bare = join(projectRoot, 'bare-servers.yaml');
    writeFileSync(bare, 'nodes: { ssh_user: root, ssh_key: /etc/hostname, source: { ip: 10.9.0.11 }, destination: { ip: 10.9.0.12 } }\n');
    try {
      loadPlan({ projectRoot, serversFile: bare, env: {}, overrides: [{ path: 'transfer.method', value: 's3', flag: '--transfer' }] });
      throw new Error('loaded');
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      const problems = (error as UsageError).problems;
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^transfer\.s3_bucket: is required for transfer\.method s3; set transfer\.s3_bucket or export AWS_S3_BUCKET \(from .*default\.yaml\)$/,
      );
    }
  });

  it('refuses an EBS volume that is neither an EC2 id nor a device path', () => {
    expect(() => plan('ebs', [{ path: 'transfer.ebs.volume', value: 'my-volume', flag: 'test' }])).toThrow(UsageError);
  });

  it('reads --keep-images and the AWS stack from servers.yaml', () => {
    const p = plan('s3', [{ path: 'transfer.keep_images', value: true, flag: '--keep-images' }]);
    expect(p.transfer.keepImages).toBe(true);
    expect(p.aws).toBeUndefined();
  });
});

function ctxOf(p: ReturnType<typeof plan>) {
  return { plan: p, runId: 'run1', paths: runPaths(p, 'run1') };
}
