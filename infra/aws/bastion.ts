// The one host with a public address: SSH from the operator's CIDR only, forwarding to the nodes.
import { Construct } from 'constructs';
import type { Instance } from '@cdktf/provider-aws/lib/instance/index.js';
import { labInstance } from './instance.js';
import { bastionUserData } from './user-data.js';

export interface BastionProps {
  readonly prefix: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly securityGroupId: string;
  readonly keyName: string;
}

export const BASTION_ROOT_VOLUME_GIB = 10;

export class Bastion extends Construct {
  readonly instance: Instance;

  constructor(scope: Construct, id: string, props: BastionProps) {
    super(scope, id);
    this.instance = labInstance(this, 'instance', {
      name: `${props.prefix}-bastion`,
      imageId: props.imageId,
      instanceType: props.instanceType,
      subnetId: props.subnetId,
      securityGroupIds: [props.securityGroupId],
      keyName: props.keyName,
      userData: bastionUserData(),
      rootVolumeGib: BASTION_ROOT_VOLUME_GIB,
      publicAddress: true,
    });
  }
}
