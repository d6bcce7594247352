// A real spot interruption notice on demand (market: spot): an AWS FIS experiment template whose
// one action sends the source node a spot interruption with AWS's two-minute notice, and the role
// FIS assumes to do it, least privilege: that one instance's interruption, and the describe call
// FIS resolves its target with. `criu-lab watch --fis` starts it (experiments/watch/fis.ts).
import { Construct } from 'constructs';
import { FisExperimentTemplate } from '@cdktf/provider-aws/lib/fis-experiment-template/index.js';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy/index.js';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role/index.js';
import { policyDocument, trustPolicyFor, type PolicyStatement } from './iam.js';

/** AWS's notice for a spot instance: the interruption comes two minutes after it. */
export const NOTICE_BEFORE_INTERRUPTION = 'PT2M';
export const SPOT_INTERRUPTION_ACTION = 'aws:ec2:send-spot-instance-interruptions';

export interface SpotInterruptionProps {
  readonly prefix: string;
  /** The source node's name (az-a-node-0) and ARN: the only instance the experiment may interrupt. */
  readonly target: { readonly name: string; readonly arn: string };
}

export class SpotInterruption extends Construct {
  readonly role: IamRole;
  readonly template: FisExperimentTemplate;
  readonly statements: readonly PolicyStatement[];

  constructor(scope: Construct, id: string, props: SpotInterruptionProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: `${props.prefix}-fis`,
      description: `criu-lab: FIS may send a spot interruption to ${props.target.name} only`,
      assumeRolePolicy: trustPolicyFor('fis.amazonaws.com'),
    });
    this.statements = [
      { Sid: 'InterruptTheSourceNode', Effect: 'Allow', Action: ['ec2:SendSpotInstanceInterruptions'], Resource: [props.target.arn] },
      // DescribeInstances has no resource-level permissions: AWS only accepts "*" for it.
      { Sid: 'ResolveTheTarget', Effect: 'Allow', Action: ['ec2:DescribeInstances'], Resource: ['*'] },
    ];
    const policy = new IamRolePolicy(this, 'policy', {
      name: `${props.prefix}-fis`,
      role: this.role.id,
      policy: policyDocument(this.statements),
    });
    this.template = new FisExperimentTemplate(this, 'template', {
      description: `${props.prefix}: spot interruption notice (${NOTICE_BEFORE_INTERRUPTION}) to ${props.target.name}`,
      roleArn: this.role.arn,
      stopCondition: [{ source: 'none' }],
      target: [{ name: 'source', resourceType: 'aws:ec2:spot-instance', selectionMode: 'ALL', resourceArns: [props.target.arn] }],
      action: [
        {
          name: 'interrupt',
          actionId: SPOT_INTERRUPTION_ACTION,
          parameter: [{ key: 'durationBeforeInterruption', value: NOTICE_BEFORE_INTERRUPTION }],
          target: { key: 'SpotInstances', value: 'source' },
        },
      ],
      tags: { Name: `${props.prefix}-spot-interruption` },
      // The role must carry its policy before an experiment runs.
      dependsOn: [policy],
    });
  }
}
