// `criu-lab watch --fis`: a real spot notice instead of a simulated one. It starts the stack's
// AWS FIS experiment (infra/aws/fis.ts: a spot interruption of the source node, two minutes'
// notice), whose template servers.yaml names (aws.fis_template_id), and the watch's usual IMDS
// poll then sees the notice AWS serves the node.
import { FisClient, StartExperimentCommand } from '@aws-sdk/client-fis';
import type { Plan } from '../config/plan.js';
import { ExternalError, UsageError } from '../../core/errors.js';

/** The experiment as started, for watch.json. */
export interface FisExperiment {
  readonly templateId: string;
  readonly experimentId: string;
  /** The controller's clock when FIS accepted the start. */
  readonly startedAt: string;
  /** FIS's state of the experiment in its answer (initiating, running, ...). */
  readonly status: string | undefined;
}

/** The template to start: --fis-template, else the one servers.yaml names; and the stack's region. */
export function fisTarget(plan: Plan, templateFlag: string | undefined): { templateId: string; region: string } {
  const templateId = templateFlag ?? plan.aws?.fisTemplateId;
  const problems = [
    ...(templateId === undefined
      ? [
          'aws.fis_template_id: servers.yaml names no FIS experiment template; fix: deploy with `market: spot` in config/infra.yaml (the stack then has one and infra deploy writes its id), or pass --fis-template <id>',
        ]
      : []),
    ...(plan.aws === undefined
      ? [
          "aws.region: servers.yaml is not an AWS stack's (no aws: section); fix: --servers the servers.yaml `criu-lab infra deploy` wrote; on the lab use --simulate-after",
        ]
      : []),
  ];
  if (problems.length > 0 || templateId === undefined || plan.aws === undefined)
    throw new UsageError('watch --fis needs the AWS stack’s FIS experiment template', problems);
  return { templateId, region: plan.aws.region };
}

/** Starts the experiment; its one action sends the spot interruption, the notice follows within seconds. */
export async function startSpotInterruption(client: FisClient, templateId: string, now: () => number = Date.now): Promise<FisExperiment> {
  try {
    const { experiment } = await client.send(
      new StartExperimentCommand({ experimentTemplateId: templateId, tags: { 'criu-lab:purpose': 'watch --fis spot notice' } }),
    );
    if (!experiment?.id) throw new ExternalError(`FIS StartExperiment for template ${templateId} answered without an experiment id`);
    return { templateId, experimentId: experiment.id, startedAt: new Date(now()).toISOString(), status: experiment.state?.status };
  } catch (error) {
    if (error instanceof ExternalError) throw error;
    const name = (error as Error).name;
    throw new ExternalError(`FIS could not start experiment template ${templateId}: ${name}: ${(error as Error).message}`, {
      step: 'fis start-experiment',
      hint:
        name === 'ResourceNotFoundException'
          ? 'the template is gone: was the stack redeployed or destroyed? `criu-lab infra deploy` writes the current id into servers.yaml'
          : 'check the credentials and region (aws sts get-caller-identity) and that they may call fis:StartExperiment and iam:PassRole on the stack’s FIS role',
    });
  }
}

/** The SDK client for the stack's region, with the operator's default credentials. */
export const fisClient = (region: string): FisClient => new FisClient({ region });
