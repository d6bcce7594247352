// What turns a synth of the stack into a rehearsal's: every AWS service the stack calls answered
// by one emulator on loopback (moto), made-up credentials, and a Terraform state file of the
// rehearsal's own, so a rehearsal never reads or writes a real deploy's state. It reaches the
// synth, which cdktf runs in a child process, through environment variables the rehearsal alone sets.
import type { AwsProviderConfig } from '@cdktf/provider-aws/lib/provider/index.js';
import { UsageError } from '../../../core/errors.js';

export const REHEARSAL_ENDPOINT_ENV = 'CRIU_LAB_AWS_ENDPOINT';
export const REHEARSAL_STATE_ENV = 'CRIU_LAB_REHEARSAL_STATE';
/** A rehearsal of a changed setup-host.sh (`--setup-host`): its path, read at synth instead of scripts/setup-host.sh. */
export const REHEARSAL_SETUP_HOST_ENV = 'CRIU_LAB_REHEARSAL_SETUP_HOST';

export interface RehearsalTarget {
  /** The emulator's URL, always on 127.0.0.1: http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** Absolute path of the rehearsal's Terraform state file. */
  readonly statePath: string;
  /** The setup-host.sh the nodes' user data embeds. @default scripts/setup-host.sh */
  readonly setupHostPath?: string;
}

/**
 * The services the stack's resources and data sources call, by Terraform type prefix; `ec2`
 * takes every type no other entry names (vpc, subnet, instance, ebs_volume, key_pair, eip, ...).
 * The provider's own calls (sts) are added in providerSettings.
 */
export const SERVICE_BY_TYPE_PREFIX: Readonly<Record<string, 'efs' | 'iam' | 's3' | 'ssm'>> = {
  aws_efs_: 'efs',
  aws_iam_: 'iam',
  aws_s3_: 's3',
  aws_ssm_: 'ssm',
};

/** Made up: moto's server answers any credentials, and real AWS none of these. */
export const REHEARSAL_CREDENTIALS = { accessKeyId: 'criu-lab-rehearsal', secretAccessKey: 'criu-lab-rehearsal' } as const;

const LOOPBACK_ENDPOINT = /^http:\/\/127\.0\.0\.1:\d{1,5}$/;

/** The rehearsal's target when both of its variables are set, undefined when neither is (a real deploy). */
export function rehearsalTargetFromEnv(env: Readonly<Record<string, string | undefined>>): RehearsalTarget | undefined {
  const endpoint = env[REHEARSAL_ENDPOINT_ENV] || undefined;
  const statePath = env[REHEARSAL_STATE_ENV] || undefined;
  if (endpoint === undefined && statePath === undefined) return undefined;
  if (endpoint === undefined || statePath === undefined) {
    // Half a rehearsal would put the rehearsal's state where a real deploy keeps its own, or aim a real state at moto.
    throw new UsageError(`${REHEARSAL_ENDPOINT_ENV} and ${REHEARSAL_STATE_ENV} are set together (by infra deploy --rehearsal) or not at all`);
  }
  const setupHostPath = env[REHEARSAL_SETUP_HOST_ENV] || undefined;
  return checkedTarget({ endpoint, statePath, ...(setupHostPath === undefined ? {} : { setupHostPath }) });
}

/** `target` once its endpoint is known to be on loopback: a rehearsal never points the stack anywhere else. */
export function checkedTarget(target: RehearsalTarget): RehearsalTarget {
  if (!LOOPBACK_ENDPOINT.test(target.endpoint)) {
    throw new UsageError(`the rehearsal's AWS endpoint ${target.endpoint} is not http://127.0.0.1:<port>; a rehearsal only talks to moto on loopback`);
  }
  return target;
}

/** What the rehearsal adds to the stack's AwsProvider: every service at the endpoint, no real account. */
export function providerSettings(target: RehearsalTarget): Partial<AwsProviderConfig> {
  const services = ['ec2', 'sts', ...new Set(Object.values(SERVICE_BY_TYPE_PREFIX))];
  return {
    accessKey: REHEARSAL_CREDENTIALS.accessKeyId,
    secretKey: REHEARSAL_CREDENTIALS.secretAccessKey,
    skipCredentialsValidation: true,
    skipRequestingAccountId: true,
    skipMetadataApiCheck: 'true',
    s3UsePathStyle: true,
    // moto answers at once or not at all: no point in the provider's 25 retries with backoff.
    maxRetries: 2,
    endpoints: [Object.fromEntries(services.map((service) => [service, target.endpoint]))],
  };
}
