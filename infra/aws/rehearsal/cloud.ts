// What the rehearsal's guests will stand in for, read back from moto once the stack is deployed
// there: every instance of the stack with its addresses, zone, user data exactly as EC2 stores it
// and its attached volumes; the VPC and subnets they sit in; the EFS mount target of each zone.
import {
  DescribeInstanceAttributeCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  paginateDescribeInstances,
  type Instance,
} from '@aws-sdk/client-ec2';
import { ExternalError } from '../../../core/errors.js';
import { STACK_TAG_KEY } from '../iam.js';
import type { StackOutputs } from '../outputs.js';
import { securityGroupName } from '../security-groups.js';
import { REHEARSAL_CREDENTIALS } from './target.js';

export interface RehearsalSubnet {
  readonly subnetId: string;
  readonly cidr: string;
  readonly availabilityZone: string;
  /** Its Name tag, e.g. `criu-lab-private-a`. */
  readonly name: string;
}

export interface RehearsalVolume {
  readonly volumeId: string;
  /** The device name EC2 attached it as, e.g. `/dev/sdf`. */
  readonly device: string;
}

export interface RehearsalInstance {
  /** The name servers.yaml and the stack outputs give it: `bastion`, `az-a-node-0`. */
  readonly name: string;
  readonly role: 'bastion' | 'node';
  readonly instanceId: string;
  readonly privateIp: string;
  /** Only instances launched with a public address (the bastion) have one. */
  readonly publicIp: string | undefined;
  readonly subnetId: string;
  readonly availabilityZone: string;
  readonly imageId: string;
  readonly instanceType: string;
  /** The user data exactly as EC2 stores it, base64 (DescribeInstanceAttribute userData). */
  readonly userDataBase64: string;
  /** Volumes attached besides the root device: a source node's EBS image volume. */
  readonly attachedVolumes: readonly RehearsalVolume[];
}

export interface RehearsalMountTarget {
  readonly availabilityZone: string;
  readonly subnetId: string;
  readonly ip: string;
}

/** Everything the guests need to stand in for the stack's instances, in the outputs' order (bastion, then nodes). */
export interface RehearsalPlan {
  readonly stack: string;
  readonly region: string;
  /** The image's login user, who gets the operator's key. */
  readonly sshUser: string;
  /** The public key the stack's key pair holds: cloud-init puts it in the login user's authorized_keys. */
  readonly authorizedKey: string;
  readonly vpc: { readonly vpcId: string; readonly cidr: string };
  readonly subnets: readonly RehearsalSubnet[];
  readonly instances: readonly RehearsalInstance[];
  /** Present when EFS is on: its id and one mount target per zone. */
  readonly efs: { readonly fileSystemId: string; readonly mountTargets: readonly RehearsalMountTarget[] } | undefined;
  readonly bucket: string | undefined;
}

/** The user data of a plan's instance as the bytes cloud-init gets. */
export function userDataOf(instance: RehearsalInstance): Buffer {
  return Buffer.from(instance.userDataBase64, 'base64');
}

export function rehearsalEc2Client(endpoint: string, region: string): EC2Client {
  return new EC2Client({ endpoint, region, credentials: REHEARSAL_CREDENTIALS, maxAttempts: 2 });
}

const stackFilter = (stack: string) => ({ Name: `tag:${STACK_TAG_KEY}`, Values: [stack] });
const nameTag = (tags: readonly { Key?: string; Value?: string }[] | undefined) => tags?.find((tag) => tag.Key === 'Name')?.Value;

function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new ExternalError(`moto answered without ${what}`);
  return value;
}

/** The instances of the stack that are not terminated, each once. */
async function stackInstances(ec2: EC2Client, stack: string): Promise<Instance[]> {
  const instances: Instance[] = [];
  const filters = [stackFilter(stack), { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] }];
  for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters: filters })) {
    for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
  }
  return instances;
}

async function readInstance(ec2: EC2Client, instance: Instance, stack: string): Promise<RehearsalInstance> {
  const instanceId = required(instance.InstanceId, 'an instance id');
  const tagName = required(nameTag(instance.Tags), `the Name tag of ${instanceId}`);
  if (!tagName.startsWith(`${stack}-`)) throw new ExternalError(`instance ${instanceId} of stack ${stack} is named ${tagName}, not ${stack}-<name>`);
  const name = tagName.slice(stack.length + 1);
  const attribute = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' }));
  const rootDevice = instance.RootDeviceName;
  return {
    name,
    role: name === 'bastion' ? 'bastion' : 'node',
    instanceId,
    privateIp: required(instance.PrivateIpAddress, `the private address of ${tagName}`),
    publicIp: instance.PublicIpAddress,
    subnetId: required(instance.SubnetId, `the subnet of ${tagName}`),
    availabilityZone: required(instance.Placement?.AvailabilityZone, `the zone of ${tagName}`),
    imageId: required(instance.ImageId, `the image of ${tagName}`),
    instanceType: required(instance.InstanceType, `the type of ${tagName}`),
    userDataBase64: attribute.UserData?.Value ?? '',
    attachedVolumes: (instance.BlockDeviceMappings ?? [])
      .filter((mapping) => mapping.DeviceName !== rootDevice)
      .map((mapping) => ({ volumeId: required(mapping.Ebs?.VolumeId, `a volume id on ${tagName}`), device: required(mapping.DeviceName, 'a device name') })),
  };
}

/**
 * moto's EFS API is not in this project's SDK; its mount targets are network interfaces in
 * EC2 too, each in its zone's private subnet with the stack's EFS security group.
 */
async function readMountTargets(ec2: EC2Client, vpcId: string, stack: string): Promise<RehearsalMountTarget[]> {
  const groups = await ec2.send(
    new DescribeSecurityGroupsCommand({
      Filters: [
        { Name: 'vpc-id', Values: [vpcId] },
        { Name: 'group-name', Values: [securityGroupName(stack, 'efs')] },
      ],
    }),
  );
  const groupId = required(groups.SecurityGroups?.[0]?.GroupId, `the security group ${securityGroupName(stack, 'efs')}`);
  const interfaces = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [groupId] }] }));
  return (interfaces.NetworkInterfaces ?? []).map((eni) => ({
    availabilityZone: required(eni.AvailabilityZone, 'the zone of an EFS mount target'),
    subnetId: required(eni.SubnetId, 'the subnet of an EFS mount target'),
    ip: required(eni.PrivateIpAddress, 'the address of an EFS mount target'),
  }));
}

/**
 * Reads the deployed stack back from moto at `endpoint`; `outputs` (the deploy's) name the
 * instances it must find; `authorizedKey` is the operator's public key the stack was given.
 */
export async function readRehearsalPlan(endpoint: string, outputs: StackOutputs, authorizedKey: string): Promise<RehearsalPlan> {
  const { stack, region } = outputs;
  const ec2 = rehearsalEc2Client(endpoint, region);
  try {
    const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [stackFilter(stack)] }));
    if (vpcs.Vpcs?.length !== 1) throw new ExternalError(`moto holds ${vpcs.Vpcs?.length ?? 0} VPCs of stack ${stack}, not 1`);
    const vpc = vpcs.Vpcs[0];
    const vpcId = required(vpc?.VpcId, 'a VPC id');
    const subnets = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }] }));

    const instances = await Promise.all((await stackInstances(ec2, stack)).map((instance) => readInstance(ec2, instance, stack)));
    const expected = [outputs.bastion.instance_id, ...outputs.nodes.map((node) => node.instance_id)];
    const byId = new Map(instances.map((instance) => [instance.instanceId, instance]));
    const missing = expected.filter((id) => !byId.has(id));
    const extra = instances.filter((instance) => !expected.includes(instance.instanceId)).map((instance) => instance.instanceId);
    if (missing.length > 0 || extra.length > 0) {
      throw new ExternalError(
        `moto's instances of stack ${stack} are not the deploy's: ${missing.length > 0 ? `missing ${missing.join(', ')}` : ''}${extra.length > 0 ? ` unexpected ${extra.join(', ')}` : ''}`.trim(),
      );
    }
    return {
      stack,
      region,
      sshUser: outputs.ssh_user,
      authorizedKey,
      vpc: { vpcId, cidr: required(vpc?.CidrBlock, 'the VPC CIDR') },
      subnets: (subnets.Subnets ?? []).map((subnet) => ({
        subnetId: required(subnet.SubnetId, 'a subnet id'),
        cidr: required(subnet.CidrBlock, 'a subnet CIDR'),
        availabilityZone: required(subnet.AvailabilityZone, 'a subnet zone'),
        name: nameTag(subnet.Tags) ?? '',
      })),
      instances: expected.map((id) => byId.get(id) as RehearsalInstance),
      efs: outputs.efs_id === undefined ? undefined : { fileSystemId: outputs.efs_id, mountTargets: await readMountTargets(ec2, vpcId, stack) },
      bucket: outputs.bucket,
    };
  } finally {
    ec2.destroy();
  }
}
