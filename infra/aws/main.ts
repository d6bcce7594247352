// The cdktf app entry (cdktf.json runs it): synthesizes the stack from config/infra.yaml, or
// from $CRIU_LAB_INFRA_CONFIG when set; aimed at moto when `infra deploy --rehearsal` runs it;
// its state in $CRIU_LAB_TERRAFORM_STATE when a sweep's lane deploys it.
import { buildLabApp } from './app.js';
import { DEFAULT_CONFIG_PATH, STATE_PATH_ENV } from './config-paths.js';
import { renderError } from '../../core/errors.js';
import { rehearsalTargetFromEnv } from './rehearsal/target.js';

try {
  const { app, preview } = buildLabApp({
    configPath: process.env.CRIU_LAB_INFRA_CONFIG || undefined,
    rehearsal: rehearsalTargetFromEnv(process.env),
    statePath: process.env[STATE_PATH_ENV] || undefined,
  });
  if (preview) {
    console.error(
      `criu-lab: ${DEFAULT_CONFIG_PATH} not found; synthesizing a preview from the example config ` +
        '(placeholder operator CIDR and key; plan/deploy of it fails on purpose)',
    );
  }
  app.synth();
} catch (error) {
  const { text, exitCode } = renderError(error);
  console.error(text);
  process.exit(exitCode);
}
