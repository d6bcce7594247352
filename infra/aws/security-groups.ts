// Who may talk to whom: SSH reaches the bastion only from the operator's CIDR, nodes only
// from the bastion and from each other; nodes share the strategies' ports; NFS only from nodes.
import { Construct } from 'constructs';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group/index.js';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule/index.js';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule/index.js';
import type { PortRange } from './props.js';

export interface SecurityGroupsProps {
  readonly prefix: string;
  readonly vpcId: string;
  readonly operatorCidr: string;
  /** Ports nodes open to each other besides SSH (page server, lazy pages, iperf3). */
  readonly nodePorts: readonly PortRange[];
  /** Creates the NFS group for EFS mount targets. */
  readonly efs: boolean;
}

const SSH_PORT = 22;
const NFS_PORT = 2049;

/** The AWS name of one of the stack's groups, e.g. `criu-lab-efs`: the rehearsal finds the EFS mount targets by it. */
export function securityGroupName(prefix: string, role: 'bastion' | 'nodes' | 'efs'): string {
  return `${prefix}-${role}`;
}

export class SecurityGroups extends Construct {
  readonly bastion: SecurityGroup;
  readonly nodes: SecurityGroup;
  /** Present when EFS is on. */
  readonly efs: SecurityGroup | undefined;

  constructor(scope: Construct, id: string, props: SecurityGroupsProps) {
    super(scope, id);
    // Rules live in their own resources (none inline), so a group can name itself as source.
    const group = (role: 'bastion' | 'nodes' | 'efs', description: string) =>
      new SecurityGroup(this, role, {
        name: securityGroupName(props.prefix, role),
        description,
        vpcId: props.vpcId,
        revokeRulesOnDelete: true,
        tags: { Name: securityGroupName(props.prefix, role) },
      });
    this.bastion = group('bastion', 'criu-lab bastion: SSH from the operator only');
    this.nodes = group('nodes', 'criu-lab nodes: SSH from the bastion, strategy ports between nodes');

    new VpcSecurityGroupIngressRule(this, 'bastion-ssh-from-operator', {
      securityGroupId: this.bastion.id,
      description: 'SSH from the operator',
      ipProtocol: 'tcp',
      fromPort: SSH_PORT,
      toPort: SSH_PORT,
      cidrIpv4: props.operatorCidr,
    });
    // The bastion only forwards SSH to nodes; it needs no other way out.
    new VpcSecurityGroupEgressRule(this, 'bastion-ssh-to-nodes', {
      securityGroupId: this.bastion.id,
      description: 'SSH to the nodes',
      ipProtocol: 'tcp',
      fromPort: SSH_PORT,
      toPort: SSH_PORT,
      referencedSecurityGroupId: this.nodes.id,
    });

    new VpcSecurityGroupIngressRule(this, 'nodes-ssh-from-bastion', {
      securityGroupId: this.nodes.id,
      description: 'SSH through the bastion',
      ipProtocol: 'tcp',
      fromPort: SSH_PORT,
      toPort: SSH_PORT,
      referencedSecurityGroupId: this.bastion.id,
    });
    const peerPorts = [{ fromPort: SSH_PORT, toPort: SSH_PORT }, ...props.nodePorts];
    peerPorts.forEach((range) => {
      new VpcSecurityGroupIngressRule(this, `nodes-peer-${range.fromPort}-${range.toPort}`, {
        securityGroupId: this.nodes.id,
        description: range.fromPort === SSH_PORT ? 'SSH and rsync between nodes' : 'strategy traffic between nodes',
        ipProtocol: 'tcp',
        fromPort: range.fromPort,
        toPort: range.toPort,
        referencedSecurityGroupId: this.nodes.id,
      });
    });
    // Nodes fetch packages and CRIU's source through the NAT and reach S3 and EFS.
    new VpcSecurityGroupEgressRule(this, 'nodes-out', {
      securityGroupId: this.nodes.id,
      description: 'packages, S3, EFS and peers',
      ipProtocol: '-1',
      cidrIpv4: '0.0.0.0/0',
    });

    if (props.efs) {
      this.efs = group('efs', 'criu-lab EFS mount targets: NFS from the nodes only');
      new VpcSecurityGroupIngressRule(this, 'efs-nfs-from-nodes', {
        securityGroupId: this.efs.id,
        description: 'NFS from the nodes',
        ipProtocol: 'tcp',
        fromPort: NFS_PORT,
        toPort: NFS_PORT,
        referencedSecurityGroupId: this.nodes.id,
      });
    }
  }
}
