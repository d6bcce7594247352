// The AWS backend: the CDKTF stack of infra/aws, deployed (and, for a fresh sweep, destroyed)
// by the same stages as `criu-lab infra deploy|destroy`. Placements are real here.
import { join } from 'node:path';
import { requireAwsCredentials } from '../../../infra/aws/credentials.js';
import { deployLab, destroyLab } from '../../../infra/aws/deploy.js';
import { loadInfraProps } from '../../../infra/aws/props.js';
import { UsageError } from '../../../core/errors.js';
import { awsPairShortfall, placementsOf } from '../pairs.js';
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
        if (spec.parallel > 1) {
          // Before credentials and before anything deploys: the stack must hold N disjoint pairs.
          const shortfall = awsPairShortfall(loadInfraProps(configPath).zones, spec.parallel, placementsOf(spec), configPath);
          if (shortfall)
            throw new UsageError(`parallel: ${spec.parallel} needs more nodes than ${configPath} deploys; nothing was deployed`, shortfall.split('\n'));
        }
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
