// The AWS backend: the CDKTF stack of infra/aws, deployed (and, for a fresh sweep, destroyed)
// by the same stages as `criu-lab infra deploy|destroy`. Placements are real here. With lanes,
// each lane has a stack of its own (../lane-stack.ts).
import { join } from 'node:path';
import { requireAwsCredentials } from '../../../infra/aws/credentials.js';
import { defaultEffects, deployLab, destroyLab } from '../../../infra/aws/deploy.js';
import { loadInfraProps } from '../../../infra/aws/props.js';
import { UsageError } from '../../../core/errors.js';
import { awsLaneTarget, laneStack, type LaneStackOptions } from '../lane-stack.js';
import { awsPairShortfall, placementsOf } from '../pairs.js';
import type { BackendFactory } from './backend.js';

/** A sweep's stacks on AWS, with the operator's credentials. */
export const AWS_STACKS: LaneStackOptions = {
  targetFor: awsLaneTarget,
  waitForBoot: true,
  preflight: () => void requireAwsCredentials(),
  effects: defaultEffects,
};

/** The backend with its stacks reached as `options` say: AWS_STACKS in a sweep, a rehearsal's moto in a test. */
export function awsBackendWith(options: LaneStackOptions): BackendFactory {
  return {
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
          options.preflight();
          await deployLab(
            {
              configPath,
              serversPath,
              outputsPath: join(spec.dir, 'infra.outputs.json'),
              destroyAfter: false,
              waitForBoot: options.waitForBoot,
              bootTimeoutMs: spec.infra.aws.bootTimeoutMin * 60_000,
            },
            options.effects,
          );
        },
        down: () => destroyLab(configPath, options.effects),
        prepareRun: async () => undefined,
        describe: () => `the AWS stack of ${configPath} is still up and billing; \`criu-lab infra destroy -c ${configPath}\` removes it`,
      };
    },
    createLane: (spec, lane) => laneStack(spec, lane, options),
  };
}

export const awsBackend = awsBackendWith(AWS_STACKS);
