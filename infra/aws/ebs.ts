// The EBS transfer's volume for one source node: encrypted, tagged for the stack (the node role
// may move only such volumes), formatted and mounted by the node's bootstrap.
import { Construct } from 'constructs';
import { EbsVolume } from '@cdktf/provider-aws/lib/ebs-volume/index.js';
import type { Instance } from '@cdktf/provider-aws/lib/instance/index.js';
import { VolumeAttachment } from '@cdktf/provider-aws/lib/volume-attachment/index.js';

export interface ImageVolumeProps {
  /** Names the volume after the node it starts on, e.g. `criu-lab-az-a-node-0-images`. */
  readonly name: string;
  readonly availabilityZone: string;
  readonly sizeGib: number;
  readonly volumeType: 'gp3' | 'gp2';
}

/** The device name EC2 is asked for; Nitro instances show it as an NVMe disk named by volume id. */
export const IMAGE_VOLUME_DEVICE = '/dev/sdf';

export class ImageVolume extends Construct {
  readonly volume: EbsVolume;

  constructor(scope: Construct, id: string, props: ImageVolumeProps) {
    super(scope, id);
    this.volume = new EbsVolume(this, 'volume', {
      availabilityZone: props.availabilityZone,
      size: props.sizeGib,
      type: props.volumeType,
      encrypted: true,
      tags: { Name: props.name },
    });
  }

  /** Attaches the volume to its first node, once that node exists. */
  attachTo(instance: Instance): VolumeAttachment {
    return new VolumeAttachment(this, 'attachment', {
      deviceName: IMAGE_VOLUME_DEVICE,
      volumeId: this.volume.id,
      instanceId: instance.id,
      // Teardown must not hang on a volume still mounted, or moved by a transfer.
      forceDetach: true,
    });
  }
}
