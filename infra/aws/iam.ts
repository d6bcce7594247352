// The nodes' instance role, least privilege: objects under the bucket's image prefix, nothing
// else. No EC2 action: the EBS transfer's volume moves (attach, detach, snapshot) are API calls
// the controller makes with the operator's credentials (experiments/transfers/ebs-ec2.ts), so a
// root process on a node cannot take the stack's volumes.
import { Construct } from 'constructs';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';

/** Every resource of a stack carries this tag (provider default tags); the controller's EBS mover finds the stack's instances by it. */
export const STACK_TAG_KEY = 'criu-lab:stack';

export interface NodeRoleProps {
  readonly prefix: string;
  /** The image bucket and the one key prefix nodes may use in it. */
  readonly bucket: { readonly arn: string; readonly objectPrefix: string } | undefined;
}

/** One IAM policy statement; actions are always listed one by one, never with a wildcard. */
export interface PolicyStatement {
  readonly Sid: string;
  readonly Effect: 'Allow';
  readonly Action: readonly string[];
  readonly Resource: readonly string[];
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}

/** The trust policy that lets one AWS service (`ec2.amazonaws.com`, `fis.amazonaws.com`) assume a role. */
export const trustPolicyFor = (service: string): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] });

/** An IAM policy document holding these statements. */
export const policyDocument = (statements: readonly PolicyStatement[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });

export class NodeRole extends Construct {
  readonly role: IamRole;
  readonly instanceProfile: IamInstanceProfile;
  readonly statements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: NodeRoleProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: `${props.prefix}-node`,
      description: 'criu-lab nodes: the image bucket prefix only',
      assumeRolePolicy: trustPolicyFor('ec2.amazonaws.com'),
    });
    this.statements = props.bucket ? bucketStatements(props.bucket) : [];
    if (this.statements.length > 0) {
      new IamRolePolicy(this, 'policy', {
        name: `${props.prefix}-node`,
        role: this.role.id,
        policy: policyDocument(this.statements),
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
      Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      Resource: [`${bucket.arn}/${bucket.objectPrefix}*`],
    },
  ];
}
