// The whole AWS lab as one stack, named after the config's prefix: network, security groups,
// bastion, a node group per zone, and the EFS, EBS and S3 transfer targets, with outputs.
import type { Construct } from 'constructs';
import { LocalBackend, TerraformStack } from 'cdktf';
import { DataAwsSsmParameter } from '@cdktf/provider-aws/lib/data-aws-ssm-parameter/index.js';
import { KeyPair } from '@cdktf/provider-aws/lib/key-pair/index.js';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider/index.js';
import { Bastion } from './bastion.js';
import { ImageBucket } from './bucket.js';
import { SharedFileSystem } from './efs.js';
import { SpotInterruption } from './fis.js';
import { NodeRole, STACK_TAG_KEY } from './iam.js';
import { Network } from './network.js';
import { NodeGroup } from './nodes.js';
import { StackOutputsConstruct } from './outputs.js';
import { parseInfraProps, readOperatorPublicKey, type InfraConfig, type InfraProps } from './props.js';
import { SecurityGroups } from './security-groups.js';
import { readSetupHostScript } from './user-data.js';
import { providerSettings, type RehearsalTarget } from './rehearsal/target.js';

export interface CriuLabStackOptions {
  /** Names the config in validation errors. @default 'the infra config' */
  readonly source?: string;
  /** @default - the text of scripts/setup-host.sh */
  readonly setupHostScript?: string;
  /** Deploy to moto instead of AWS, with a state file of its own (`infra deploy --rehearsal`). @default - AWS */
  readonly rehearsal?: RehearsalTarget;
  /** The Terraform state file of a deploy to AWS (a sweep's lane keeps its own). @default - cdktf's: terraform.<prefix>.tfstate in its working directory */
  readonly statePath?: string;
}

export class CriuLabStack extends TerraformStack {
  readonly props: InfraProps;
  readonly network: Network;
  readonly securityGroups: SecurityGroups;
  readonly nodeRole: NodeRole;
  readonly bastion: Bastion;
  /** One per zone, in the config's zone order. */
  readonly nodeGroups: readonly NodeGroup[];
  readonly fileSystem: SharedFileSystem | undefined;
  readonly imageBucket: ImageBucket | undefined;
  /** The FIS template that sends the source node a spot notice; only with `market: spot`. */
  readonly spotInterruption: SpotInterruption | undefined;

  /** Validates `config` first: an invalid config throws a ValidationError and creates nothing. */
  constructor(scope: Construct, config: InfraConfig, options: CriuLabStackOptions = {}) {
    const props = parseInfraProps(config, options.source);
    const publicKey = readOperatorPublicKey(props);
    const setupHostScript = options.setupHostScript ?? readSetupHostScript(options.rehearsal?.setupHostPath);
    super(scope, props.prefix);
    this.props = props;
    const { prefix } = props;

    new AwsProvider(this, 'aws', {
      region: props.region,
      defaultTags: [{ tags: { [STACK_TAG_KEY]: prefix, project: 'criu-lab' } }],
      ...(options.rehearsal && providerSettings(options.rehearsal)),
    });
    const statePath = options.rehearsal?.statePath ?? options.statePath;
    if (statePath) new LocalBackend(this, { path: statePath });
    const image = props.machineImage;
    const imageId = image.kind === 'ssm-parameter' ? new DataAwsSsmParameter(this, 'image', { name: image.ssmParameter }).insecureValue : image.imageId;
    const keyPair = new KeyPair(this, 'operator-key', { keyName: `${prefix}-operator`, publicKey });

    this.network = new Network(this, 'network', {
      prefix,
      region: props.region,
      vpcCidr: props.vpcCidr,
      zones: props.zones,
      s3Endpoint: props.s3.enabled,
    });
    this.securityGroups = new SecurityGroups(this, 'security-groups', {
      prefix,
      vpcId: this.network.vpc.id,
      operatorCidr: props.operatorCidr,
      nodePorts: props.nodePorts,
      efs: props.efs.enabled,
    });
    this.imageBucket = props.s3.enabled ? new ImageBucket(this, 'image-bucket', { prefix, expireDays: props.s3.expireDays }) : undefined;
    this.nodeRole = new NodeRole(this, 'node-role', {
      prefix,
      bucket: this.imageBucket && { arn: this.imageBucket.bucket.arn, objectPrefix: props.s3.objectPrefix },
    });
    const efsGroup = this.securityGroups.efs;
    this.fileSystem =
      props.efs.enabled && efsGroup
        ? new SharedFileSystem(this, 'shared-file-system', {
            prefix,
            throughputMode: props.efs.throughputMode,
            securityGroupId: efsGroup.id,
            subnets: props.zones.map((zone) => ({ zone, subnet: this.network.privateSubnet(zone) })),
          })
        : undefined;

    this.bastion = new Bastion(this, 'bastion', {
      prefix,
      imageId,
      instanceType: props.bastionInstanceType,
      subnetId: this.network.publicSubnet.id,
      securityGroupId: this.securityGroups.bastion.id,
      keyName: keyPair.keyName,
    });
    // awscli (S3, EBS) comes with scripts/setup-host.sh, which lab hosts need too; NFS only clouds do.
    const cloudPackages = props.efs.enabled ? ['nfs-common'] : [];
    this.nodeGroups = props.zones.map(
      (zone) =>
        new NodeGroup(this, `nodes-${zone.letter}`, {
          prefix,
          zone,
          imageId,
          instanceType: props.nodeInstanceType,
          rootVolumeGib: props.nodeRootVolumeGib,
          spot: props.market === 'spot',
          subnetId: this.network.privateSubnet(zone).id,
          securityGroupId: this.securityGroups.nodes.id,
          keyName: keyPair.keyName,
          instanceProfile: this.nodeRole.instanceProfile.name,
          setupHostScript,
          loginUser: image.sshUser,
          cloudPackages,
          efs: this.fileSystem && { address: this.fileSystem.mountAddress(zone), mountPath: props.efs.mountPath },
          ebs: props.ebs.enabled ? { sizeGib: props.ebs.sizeGib, volumeType: props.ebs.volumeType, mountPath: props.ebs.mountPath } : undefined,
        }),
    );

    const nodes = this.nodeGroups.flatMap((group) => group.nodes);
    // The source is node 0 of the first zone, as servers.yaml pairs them (servers.ts).
    const source = nodes[0]!;
    // moto 5.2.1 creates a FIS template but cannot read it back (GetExperimentTemplate answers 500),
    // so a rehearsal leaves it out; synth, terraform validate and spot.tftest.hcl check it instead.
    this.spotInterruption =
      props.market === 'spot' && !options.rehearsal
        ? new SpotInterruption(this, 'spot-interruption', { prefix, target: { name: source.name, arn: source.instance.arn } })
        : undefined;
    const imageVolumes = nodes.flatMap((node) => (node.imageVolume ? [[node.name, node.imageVolume] as const] : []));
    new StackOutputsConstruct(this, {
      stack: prefix,
      region: props.region,
      ssh_user: image.sshUser,
      bastion: {
        name: 'bastion',
        ip: this.bastion.instance.publicIp,
        private_ip: this.bastion.instance.privateIp,
        instance_id: this.bastion.instance.id,
      },
      nodes: nodes.map((node) => ({
        name: node.name,
        zone: node.zone.serversKey,
        availability_zone: node.zone.availabilityZone,
        ip: node.instance.privateIp,
        instance_id: node.instance.id,
      })),
      ebs_volumes: Object.fromEntries(imageVolumes.map(([name, volume]) => [name, volume.volume.id])),
      ebs_mount: imageVolumes.length > 0 ? props.ebs.mountPath : undefined,
      bucket: this.imageBucket?.bucket.bucket,
      s3_prefix: this.imageBucket ? props.s3.objectPrefix : undefined,
      efs_id: this.fileSystem?.fileSystem.id,
      efs_mount: this.fileSystem ? props.efs.mountPath : undefined,
      fis_template_id: this.spotInterruption?.template.id,
      fis_role_arn: this.spotInterruption?.role.arn,
    });
  }
}
