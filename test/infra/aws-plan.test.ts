// A real `terraform plan` of the default stack against AWS: read-only calls (the AMI's SSM
// parameter, the caller identity), nothing created. Runs only where AWS credentials exist.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { App } from 'cdktf';
import { findAwsCredentials } from '../../infra/aws/credentials.js';
import { runProcess } from '../../core/process.js';
import { CriuLabStack } from '../../infra/aws/stack.js';
import { MIRROR_CLI_CONFIG, PROVIDER_MIRROR, TERRAFORM, TEST_CONFIG } from './helpers.js';

const credentials = findAwsCredentials();
const describeWithAws = credentials === undefined ? describe.skip : describe;
if (credentials === undefined) {
  process.stderr.write('test/infra/aws-plan: skipped, no AWS credentials (env AWS_* or ~/.aws); it plans the stack for real where they exist\n');
}
describeWithAws(
  `terraform plan against AWS (${credentials === undefined ? 'skipped: no AWS credentials in the environment or ~/.aws' : `credentials from ${credentials}`})`,
  () => {
    it('plans the default stack without errors', async () => {
      const workdir = mkdtempSync(join(tmpdir(), 'criu-lab-plan-'));
      try {
        const app = new App({ outdir: workdir });
        // Its own prefix and state file, so the plan never touches a deployed lab's state.
        const stack = new CriuLabStack(app, { ...TEST_CONFIG, prefix: 'criu-lab-plantest' });
        app.synth();
        const stackDir = join(workdir, 'stacks', stack.props.prefix);
        const env: Record<string, string> = { CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' };
        // Use the mirror when this machine has it; elsewhere terraform fetches the provider itself.
        if (existsSync(PROVIDER_MIRROR)) {
          writeFileSync(join(workdir, 'terraformrc'), MIRROR_CLI_CONFIG);
          env.TF_CLI_CONFIG_FILE = join(workdir, 'terraformrc');
        }
        const terraform = existsSync(TERRAFORM) ? TERRAFORM : 'terraform';
        const init = await runProcess([terraform, 'init', '-input=false', '-no-color', `-backend-config=path=${join(workdir, 'plan.tfstate')}`], {
          cwd: stackDir,
          env,
          check: false,
        });
        expect({ exitCode: init.exitCode, output: init.exitCode === 0 ? '' : init.output }).toEqual({ exitCode: 0, output: '' });
        const plan = await runProcess([terraform, 'plan', '-input=false', '-lock=false', '-no-color'], { cwd: stackDir, env, check: false });
        expect({ exitCode: plan.exitCode, output: plan.exitCode === 0 ? '' : plan.output }).toEqual({ exitCode: 0, output: '' });
        expect(plan.output).toMatch(/Plan: \d+ to add, 0 to change, 0 to destroy/);
      } finally {
        rmSync(workdir, { recursive: true, force: true });
      }
    }, 300_000);
  },
);
