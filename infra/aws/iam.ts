// The nodes' instance role, least privilege: objects under the bucket's image prefix, and
// attach/detach/snapshot only on volumes and instances tagged for this stack. Nothing else.
import { Construct } from 'constructs';
import { DataAwsCallerIdentity } from '@cdktf/provider-aws/lib/data-aws-caller-identity/index.js';
import { DataAwsPartition } from '@cdktf/provider-aws/lib/data-aws-partition/index.js';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';

/** Every resource of a stack carries this tag (provider default tags); IAM conditions use it. */
export const STACK_TAG_KEY = 'criu-lab:stack';

export interface NodeRoleProps {
  readonly prefix: string;
  readonly region: string;
  /** The image bucket and the one key prefix nodes may use in it. */
  readonly bucket: { readonly arn: string; readonly objectPrefix: string } | undefined;
  /** Grants the EBS transfer's volume moves and snapshots. */
  readonly ebs: boolean;
}

/** One IAM policy statement; actions are always listed one by one, never with a wildcard. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Action: readonly string[];
  readonly Resource: readonly string[];
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}

export class NodeRole extends Construct {
  readonly role: IamRole;
  readonly instanceProfile: IamInstanceProfile;
  readonly statements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: NodeRoleProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: `${props.prefix}-node`,
      description: 'criu-lab nodes: image bucket prefix and this stack’s volumes only',
      assumeRolePolicy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
      }),
    });
    this.statements = [
      ...(props.bucket ? bucketStatements(props.bucket) : []),
      ...(props.ebs ? volumeStatements(this, props) : []),
    ];
    if (this.statements.length > 0) {
      new IamRolePolicy(this, 'policy', {
        name: `${props.prefix}-node`,
        role: this.role.id,
        policy: JSON.stringify({ Version: '2012-10-17', Statement: this.statements }),
      });
    }
    this.instanceProfile = new IamInstanceProfile(this, 'instance-profile', {
      name: `${props.prefix}-node`,
      role: this.role.name,
    });
  }
}

function bucketStatements(bucket: { readonly arn: string; readonly objectPrefix: string }): PolicyStatement[] {
  return [
    {
      Sid: 'ListImagePrefix',
      Effect: 'Allow',
      Action: ['s3:ListBucket'],
      Resource: [bucket.arn],
      Condition: { StringLike: { 's3:prefix': [`${bucket.objectPrefix}*`] } },
    },
    {
      Sid: 'ReadWriteImages',
      Effect: 'Allow',
      Action: [
        's3:GetObject',
        's3:PutObject',
        's3:DeleteObject',
        's3:AbortMultipartUpload',
        's3:ListMultipartUploadParts',
      ],
      Resource: [`${bucket.arn}/${bucket.objectPrefix}*`],
    },
  ];
}

function volumeStatements(scope: Construct, props: NodeRoleProps): PolicyStatement[] {
  const partition = new DataAwsPartition(scope, 'partition').partition;
  const account = new DataAwsCallerIdentity(scope, 'account').accountId;
  const arn = (resource: string, accountId: string = account) =>
    `arn:${partition}:ec2:${props.region}:${accountId}:${resource}`;
  const taggedForStack = { StringEquals: { [`aws:ResourceTag/${STACK_TAG_KEY}`]: props.prefix } };
  return [
    {
      // Both the volume and the instance must carry the stack's tag for a move to be allowed.
      Sid: 'MoveStackVolumes',
      Effect: 'Allow',
      Action: ['ec2:AttachVolume', 'ec2:DetachVolume'],
      Resource: [arn('volume/*'), arn('instance/*')],
      Condition: taggedForStack,
    },
    {
      Sid: 'SnapshotStackVolumes',
      Effect: 'Allow',
      Action: ['ec2:CreateSnapshot'],
      Resource: [arn('volume/*')],
      Condition: taggedForStack,
    },
    {
      // A snapshot may only be created already tagged for this stack, so it stays deletable below.
      Sid: 'CreateStackSnapshots',
      Effect: 'Allow',
      Action: ['ec2:CreateSnapshot'],
      Resource: [arn('snapshot/*', '')],
      Condition: { StringEquals: { [`aws:RequestTag/${STACK_TAG_KEY}`]: props.prefix } },
    },
    {
      Sid: 'TagSnapshotsOnCreate',
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: [arn('snapshot/*', '')],
      Condition: { StringEquals: { 'ec2:CreateAction': 'CreateSnapshot' } },
    },
    {
      Sid: 'DeleteStackSnapshots',
      Effect: 'Allow',
      Action: ['ec2:DeleteSnapshot'],
      Resource: [arn('snapshot/*', '')],
      Condition: taggedForStack,
    },
  ];
}
