// The nodes of one zone, named az-<letter>-node-<i>. Node 0 of a zone with a same-AZ peer is a
// source node and gets the zone's EBS image volume.
import { Construct } from 'constructs';
import type { Instance } from '@cdktf/provider-aws/lib/instance/index.js';
import { ImageVolume } from './ebs.js';
import { labInstance } from './instance.js';
import type { ZoneProps } from './props.js';
import { nodeUserData } from './user-data.js';

export interface NodeGroupProps {
  readonly prefix: string;
  readonly zone: ZoneProps;
  readonly imageId: string;
  readonly instanceType: string;
  readonly rootVolumeGib: number;
  readonly spot: boolean;
  readonly subnetId: string;
  readonly securityGroupId: string;
  readonly keyName: string;
  readonly instanceProfile: string;
  readonly setupHostScript: string;
  /** The image's login user, whose authorized key (the operator's) root also gets. */
  readonly loginUser: string;
  readonly cloudPackages: readonly string[];
  /** The zone-local EFS mount target address and the mount path, when EFS is on. */
  readonly efs: { readonly address: string; readonly mountPath: string } | undefined;
  /** The source node's image volume, when EBS is on. */
  readonly ebs: { readonly sizeGib: number; readonly volumeType: 'gp3' | 'gp2'; readonly mountPath: string } | undefined;
}

export interface LabNode {
  /** The node's name in servers.yaml, e.g. `az-a-node-0`. */
  readonly name: string;
  readonly zone: ZoneProps;
  readonly instance: Instance;
  readonly imageVolume: ImageVolume | undefined;
}

export function nodeName(zone: ZoneProps, index: number): string {
  return `az-${zone.letter}-node-${index}`;
}

export class NodeGroup extends Construct {
  readonly nodes: readonly LabNode[];

  constructor(scope: Construct, id: string, props: NodeGroupProps) {
    super(scope, id);
    const hasSameZonePeer = props.zone.nodeCount >= 2;
    this.nodes = Array.from({ length: props.zone.nodeCount }, (_, index): LabNode => {
      const name = nodeName(props.zone, index);
      const ebs = props.ebs;
      const imageVolume =
        ebs && index === 0 && hasSameZonePeer
          ? new ImageVolume(this, `${name}-images`, {
              name: `${props.prefix}-${name}-images`,
              availabilityZone: props.zone.availabilityZone,
              sizeGib: ebs.sizeGib,
              volumeType: ebs.volumeType,
            })
          : undefined;
      const instance = labInstance(this, name, {
        name: `${props.prefix}-${name}`,
        imageId: props.imageId,
        instanceType: props.instanceType,
        subnetId: props.subnetId,
        securityGroupIds: [props.securityGroupId],
        keyName: props.keyName,
        instanceProfile: props.instanceProfile,
        rootVolumeGib: props.rootVolumeGib,
        spot: props.spot,
        userData: nodeUserData({
          setupHostScript: props.setupHostScript,
          loginUser: props.loginUser,
          cloudPackages: props.cloudPackages,
          efs: props.efs,
          ebs: imageVolume && ebs ? { volumeId: imageVolume.volume.id, mountPath: ebs.mountPath } : undefined,
        }),
      });
      imageVolume?.attachTo(instance);
      return { name, zone: props.zone, instance, imageVolume };
    });
  }
}
