// Shared by the infra tests: a valid minimal config, a synth of the stack parsed into JSON, the
// outputs of the stack's mocked apply, where terraform and its offline provider mirror are, and the
// gate of the suites that deploy to moto.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe } from '@jest/globals';
import { Testing } from 'cdktf';
import { motoMissingReason } from '../../infra/local/moto.js';
import { hasProviderMirror, PROVIDER_MIRROR } from '../../infra/aws/terraform-mirror.js';
import type { InfraConfig } from '../../infra/aws/props.js';
import { CriuLabStack, type CriuLabStackOptions } from '../../infra/aws/stack.js';

export { AWS_PROVIDER, MIRROR_CLI_CONFIG, PROVIDER_MIRROR } from '../../infra/aws/terraform-mirror.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * What `cdktf deploy --outputs-file` writes for the default stack, made from the outputs of its
 * mocked apply (infra/aws/tests/default.tftest.hcl) by test/infra/terraform-test.test.ts, which
 * fails when the stack's outputs drift from it and rewrites it with CRIU_LAB_UPDATE_FIXTURES=1.
 */
export const MOCKED_APPLY_OUTPUTS = fileURLToPath(new URL('./fixtures/mocked-apply-outputs.json', import.meta.url));

/** A public key whose private half was discarded. */
export const TEST_PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmDT06hXJ/jUshmGg76UrygN4tXgVSICAPntu5orJil criu-lab-test';

export const TEST_CONFIG: InfraConfig = { operator_cidr: '198.51.100.7/32', public_key: TEST_PUBLIC_KEY, private_key_path: '~/.ssh/id_ed25519' };

export type Resource = Readonly<Record<string, unknown>>;

export interface SynthesizedStack {
  readonly stack: CriuLabStack;
  readonly json: {
    readonly resource: Readonly<Record<string, Readonly<Record<string, Resource>>>>;
    readonly data?: Readonly<Record<string, Readonly<Record<string, Resource>>>>;
    readonly output: Readonly<Record<string, { readonly value: unknown }>>;
    readonly provider: Readonly<Record<string, readonly Resource[]>>;
    readonly terraform: Readonly<Record<string, unknown>>;
  };
  /** Every resource of a Terraform type, e.g. `aws_instance`. */
  readonly resources: (type: string) => Resource[];
}

export function synthStack(overrides: Partial<InfraConfig> = {}, options: CriuLabStackOptions = {}): SynthesizedStack {
  const stack = new CriuLabStack(Testing.app(), { ...TEST_CONFIG, ...overrides }, options);
  const json = JSON.parse(Testing.synth(stack)) as SynthesizedStack['json'];
  return { stack, json, resources: (type) => Object.values(json.resource[type] ?? {}) };
}

/** An IAM policy document as the stack writes it. */
export interface PolicyDocument {
  readonly Statement: readonly {
    readonly Effect: string;
    readonly Action: string | readonly string[];
    readonly Resource?: string | readonly string[];
    readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  }[];
}

export const asList = (value: string | readonly string[] | undefined): readonly string[] =>
  value === undefined ? [] : typeof value === 'string' ? [value] : value;

export const TERRAFORM = '/usr/local/bin/terraform';

/** `describe` where moto_server, terraform and its provider mirror are all here; else `describe.skip`, saying on stderr what is missing. */
export function describeWithMotoAndTerraform(suite: string): typeof describe.skip {
  const missing = [
    motoMissingReason(),
    existsSync(TERRAFORM) ? undefined : `${TERRAFORM} is missing`,
    hasProviderMirror() ? undefined : `the provider mirror ${PROVIDER_MIRROR} has no hashicorp/aws`,
  ].filter((reason): reason is string => reason !== undefined);
  if (missing.length > 0) process.stderr.write(`${suite}: skipped, ${missing.join('; ')}\n`);
  return missing.length === 0 ? describe : describe.skip;
}
