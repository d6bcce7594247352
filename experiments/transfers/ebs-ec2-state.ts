// What an EC2 volume move records for cleanup, and where the volume shows up on a node: apart
// from ebs-ec2.ts so that ebs.ts (and every run, whatever its transfer) loads no AWS SDK until
// a run moves an EC2 volume.
import { z } from 'zod';

/** The device an attached volume shows up as on a Nitro instance: its id without the dash as the NVMe serial. */
export function nvmeDevice(volumeId: string): string {
  return `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`;
}

/** Where the move stands, so cleanup knows what to undo. */
const STAGES = ['unchecked', 'on-source', 'unmounted', 'attaching', 'on-destination'] as const;
export type Stage = (typeof STAGES)[number];

const instanceSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]+$/),
  instanceId: z.string().regex(/^i-[0-9a-f]+$/),
  zone: z.string().regex(/^[a-z0-9-]+$/),
});
/** The move's state as the leftovers record keeps it: enough for `criu-lab cleanup` to undo the move after the controller died. */
export const ec2MoveStateSchema = z.object({
  stage: z.enum(STAGES),
  nodes: z.object({ source: instanceSchema, destination: instanceSchema }).optional(),
  snapshotId: z
    .string()
    .regex(/^snap-[0-9a-f]+$/)
    .optional(),
  cloneId: z
    .string()
    .regex(/^vol-[0-9a-f]+$/)
    .optional(),
});
export type Ec2MoveState = z.infer<typeof ec2MoveStateSchema>;
