// The stack's outputs: every address and id the experiments need. One schema describes both
// sides, what the stack declares and what `cdktf deploy --outputs-file` hands back.
import { existsSync, readFileSync } from 'node:fs';
import { Construct } from 'constructs';
import { TerraformOutput } from 'cdktf';
import { z } from 'zod';
import { ExternalError } from '../../core/errors.js';

const hostSchema = z.object({
  name: z.string(),
  ip: z.string(),
  instance_id: z.string(),
});

export const stackOutputsSchema = z.object({
  stack: z.string(),
  region: z.string(),
  ssh_user: z.string(),
  bastion: hostSchema.extend({ private_ip: z.string() }),
  /** Every node in zone order; `zone` is the servers.yaml key (`az_a`), `ip` the private address. */
  nodes: z.array(hostSchema.extend({ zone: z.string(), availability_zone: z.string() })),
  /** Keyed by the name of the node the volume starts on. */
  ebs_volumes: z.record(z.string(), z.string()),
  ebs_mount: z.string().optional(),
  bucket: z.string().optional(),
  s3_prefix: z.string().optional(),
  efs_id: z.string().optional(),
  efs_mount: z.string().optional(),
  /** With `market: spot`: the FIS experiment template that interrupts the source node, and the role it runs as. */
  fis_template_id: z.string().optional(),
  fis_role_arn: z.string().optional(),
});

export type StackOutputs = z.infer<typeof stackOutputsSchema>;

/** The construct holding the outputs; the outputs file nests them under its id. */
export const OUTPUTS_CONSTRUCT_ID = 'outputs';

/** Declares one Terraform output per key; values may be Terraform tokens. */
export class StackOutputsConstruct extends Construct {
  constructor(scope: Construct, outputs: StackOutputs) {
    super(scope, OUTPUTS_CONSTRUCT_ID);
    for (const [key, value] of Object.entries(outputs)) {
      if (value !== undefined) new TerraformOutput(this, key, { value });
    }
  }
}

/**
 * The outputs of `stackName` from a file written by `cdktf deploy --outputs-file`, which holds
 * `{ "<stack>": { "outputs": { "<output>": value } } }`.
 */
export function readStackOutputs(path: string, stackName: string): StackOutputs {
  if (!existsSync(path)) {
    throw new ExternalError(`cdktf deploy wrote no outputs file at ${path}; see its output above`);
  }
  const file: unknown = JSON.parse(readFileSync(path, 'utf8'));
  const stacks = z.record(z.string(), z.record(z.string(), z.unknown())).safeParse(file);
  const stackOutputs = stacks.success ? stacks.data[stackName]?.[OUTPUTS_CONSTRUCT_ID] : undefined;
  if (stackOutputs === undefined) {
    throw new ExternalError(`${path} holds no outputs for stack ${stackName}; was it deployed under another prefix?`);
  }
  const parsed = stackOutputsSchema.safeParse(stackOutputs);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ExternalError(`${path} does not hold the outputs this stack declares (${problems})`);
  }
  return parsed.data;
}
