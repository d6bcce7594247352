// The EFS transfer's shared file system: encrypted at rest, one mount target per zone, reachable
// over NFS from the nodes only.
import { Construct } from 'constructs';
import { EfsFileSystem } from '@cdktf/provider-aws/lib/efs-file-system/index.js';
import { EfsMountTarget } from '@cdktf/provider-aws/lib/efs-mount-target/index.js';
import type { Subnet } from '@cdktf/provider-aws/lib/subnet/index.js';
import type { ZoneProps } from './props.js';

export interface SharedFileSystemProps {
  readonly prefix: string;
  readonly throughputMode: 'elastic' | 'bursting';
  readonly securityGroupId: string;
  /** The private subnet of every zone that gets a mount target. */
  readonly subnets: readonly { readonly zone: ZoneProps; readonly subnet: Subnet }[];
}

export class SharedFileSystem extends Construct {
  readonly fileSystem: EfsFileSystem;
  private readonly mountTargets: ReadonlyMap<string, EfsMountTarget>;

  constructor(scope: Construct, id: string, props: SharedFileSystemProps) {
    super(scope, id);
    this.fileSystem = new EfsFileSystem(this, 'file-system', {
      creationToken: `${props.prefix}-images`,
      encrypted: true,
      performanceMode: 'generalPurpose',
      throughputMode: props.throughputMode,
      tags: { Name: `${props.prefix}-images` },
    });
    this.mountTargets = new Map(
      props.subnets.map(({ zone, subnet }) => [
        zone.letter,
        new EfsMountTarget(this, `mount-target-${zone.letter}`, {
          fileSystemId: this.fileSystem.id,
          subnetId: subnet.id,
          securityGroups: [props.securityGroupId],
        }),
      ]),
    );
  }

  /** The zone-local mount target's address: no DNS wait at boot, no cross-AZ NFS traffic. */
  mountAddress(zone: ZoneProps): string {
    const target = this.mountTargets.get(zone.letter);
    if (!target) throw new Error(`internal: no EFS mount target in zone ${zone.letter}`);
    return target.ipAddress;
  }
}
