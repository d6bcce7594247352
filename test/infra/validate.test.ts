// The synthesized stack must be valid Terraform for the pinned AWS provider, checked offline
// with the terraform binary and the provider mirror this machine image carries.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { App } from 'cdktf';
import { runProcess } from '../../core/process.js';
import type { InfraConfig } from '../../infra/aws/props.js';
import { CriuLabStack } from '../../infra/aws/stack.js';
import { AWS_PROVIDER, MIRROR_CLI_CONFIG, PROVIDER_MIRROR, TERRAFORM, TEST_CONFIG } from './helpers.js';

describe('terraform validate, offline', () => {
  let workdir: string;
  let env: Record<string, string>;

  beforeAll(() => {
    const missing = [TERRAFORM, join(PROVIDER_MIRROR, AWS_PROVIDER)].filter((path) => !existsSync(path));
    if (missing.length > 0) {
      throw new Error(
        `the offline validate needs ${missing.join(' and ')}: this test runs only on the project's machine image, ` +
          'which carries terraform 1.11 and a filesystem mirror of hashicorp/aws 5.100.0',
      );
    }
    workdir = mkdtempSync(join(tmpdir(), 'criu-lab-validate-'));
    writeFileSync(join(workdir, 'terraformrc'), MIRROR_CLI_CONFIG);
    env = { TF_CLI_CONFIG_FILE: join(workdir, 'terraformrc'), CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' };
  });

  afterAll(() => {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  async function validate(name: string, config: InfraConfig): Promise<void> {
    const app = new App({ outdir: join(workdir, name) });
    const stack = new CriuLabStack(app, config);
    app.synth();
    const stackDir = join(workdir, name, 'stacks', stack.props.prefix);
    const init = await runProcess([TERRAFORM, 'init', '-backend=false', '-input=false', '-no-color'], { cwd: stackDir, env, check: false });
    expect({ step: 'terraform init', exitCode: init.exitCode, output: init.exitCode === 0 ? '' : init.output }).toEqual({
      step: 'terraform init',
      exitCode: 0,
      output: '',
    });
    const result = await runProcess([TERRAFORM, 'validate', '-no-color'], { cwd: stackDir, env, check: false });
    expect({ exitCode: result.exitCode, output: result.output.trim() }).toEqual({
      exitCode: 0,
      output: 'Success! The configuration is valid.',
    });
  }

  it('accepts the default stack: EFS, S3 and EBS on, on-demand nodes', async () => {
    await validate('default', TEST_CONFIG);
  }, 120_000);

  it('accepts the default stack on spot nodes, with the FIS experiment template and its role', async () => {
    await validate('spot', { ...TEST_CONFIG, prefix: 'criu-lab-spot', market: 'spot' });
  }, 120_000);

  it('accepts a bare spot stack on a pinned AMI with every transfer target off', async () => {
    await validate('bare', {
      ...TEST_CONFIG,
      prefix: 'criu-lab-bare',
      market: 'spot',
      ami: { id: 'ami-0123456789abcdef0', ssh_user: 'ubuntu' },
      zones: [
        { az: 'b', nodes: 1 },
        { az: 'd', nodes: 1 },
      ],
      efs: { enabled: false },
      s3: { enabled: false },
      ebs: { enabled: false },
    });
  }, 120_000);
});
