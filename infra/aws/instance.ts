// What every lab instance shares, bastion or node: IMDSv2 only, an encrypted root volume, the
// operator's key pair (a public key only), and an image that does not churn between deploys.
import type { Construct } from 'constructs';
import { Instance } from '@cdktf/provider-aws/lib/instance/index.js';

export interface LabInstanceProps {
  readonly name: string;
  readonly imageId: string;
  readonly instanceType: string;
  readonly subnetId: string;
  readonly securityGroupIds: readonly string[];
  readonly keyName: string;
  readonly userData: string;
  readonly rootVolumeGib: number;
  /** @default false */
  readonly publicAddress?: boolean;
  /** @default - no role */
  readonly instanceProfile?: string;
  /** @default false - an on-demand instance */
  readonly spot?: boolean;
}

export function labInstance(scope: Construct, id: string, props: LabInstanceProps): Instance {
  return new Instance(scope, id, {
    ami: props.imageId,
    instanceType: props.instanceType,
    subnetId: props.subnetId,
    vpcSecurityGroupIds: [...props.securityGroupIds],
    keyName: props.keyName,
    iamInstanceProfile: props.instanceProfile,
    associatePublicIpAddress: props.publicAddress ?? false,
    userData: props.userData,
    // A changed bootstrap means a new instance; a spot instance could not be stopped to update it.
    userDataReplaceOnChange: true,
    metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
    rootBlockDevice: { encrypted: true, volumeType: 'gp3', volumeSize: props.rootVolumeGib },
    instanceMarketOptions: props.spot
      ? {
          marketType: 'spot',
          spotOptions: { spotInstanceType: 'one-time', instanceInterruptionBehavior: 'terminate' },
        }
      : undefined,
    tags: { Name: props.name },
    // The AMI parameter moves monthly; a redeploy must not replace running nodes for that.
    lifecycle: { ignoreChanges: ['ami'] },
  });
}
