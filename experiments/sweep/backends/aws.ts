// The AWS backend: the CDKTF stack of infra/aws, deployed (and, for a fresh sweep, destroyed)
// by the same stages as `criu-lab infra deploy|destroy`. Placements are real here.
import { join } from 'node:path';
import { requireAwsCredentials } from '../../../infra/aws/credentials.js';
import { deployLab, destroyLab } from '../../../infra/aws/deploy.js';
import type { BackendFactory } from './backend.js';

export const awsBackend: BackendFactory = {
  name: 'aws',
  create(spec) {
    const serversPath = join(spec.dir, 'servers.yaml');
    const configPath = spec.infra.aws.config;
    return {
      name: 'aws',
      serversPath,
      async up() {
        requireAwsCredentials();
        await deployLab({
          configPath,
          serversPath,
          outputsPath: join(spec.dir, 'infra.outputs.json'),
          destroyAfter: false,
          waitForBoot: true,
          bootTimeoutMs: spec.infra.aws.bootTimeoutMin * 60_000,
        });
      },
      down: () => destroyLab(configPath),
      prepareRun: async () => undefined,
      describe: () => `the AWS stack of ${configPath} is still up and billing; \`criu-lab infra destroy -c ${configPath}\` removes it`,
    };
  },
};
