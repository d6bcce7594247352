import { describe, expect, it } from '@jest/globals';
import { asList, synthStack, type PolicyDocument, type Resource } from './helpers.js';

const SSH = 22;

const coversSsh = (rule: Resource) => rule.ip_protocol === '-1' || ((rule.from_port as number) <= SSH && SSH <= (rule.to_port as number));

const byName = (resources: readonly Resource[]): Record<string, Resource> =>
  Object.fromEntries(resources.map((r) => [(r.tags as Record<string, string> | undefined)?.Name ?? '', r]));

function policies(synth: ReturnType<typeof synthStack>): PolicyDocument[] {
  return [
    ...synth.resources('aws_iam_role_policy').map((p) => JSON.parse(p.policy as string) as PolicyDocument),
    ...synth.resources('aws_iam_role').map((r) => JSON.parse(r.assume_role_policy as string) as PolicyDocument),
  ];
}

describe('the AWS stack', () => {
  const synth = synthStack();

  it('opens SSH to the internet nowhere: only the operator CIDR reaches the bastion', () => {
    const ingress = synth.resources('aws_vpc_security_group_ingress_rule');
    const fromAddresses = ingress.filter((r) => r.cidr_ipv4 !== undefined || r.cidr_ipv6 !== undefined);
    expect(fromAddresses).toHaveLength(1);
    expect(fromAddresses[0]).toMatchObject({ cidr_ipv4: '198.51.100.7/32', from_port: SSH, to_port: SSH });
    for (const rule of ingress.filter(coversSsh)) {
      expect(rule.cidr_ipv4).not.toBe('0.0.0.0/0');
      expect(rule.cidr_ipv6).toBeUndefined();
    }
    expect(synth.resources('aws_security_group').every((g) => g.ingress === undefined)).toBe(true);
    expect(synth.resources('aws_security_group_rule')).toHaveLength(0);
  });

  it('lets nodes accept SSH only from the bastion and from other nodes', () => {
    const groups = synth.json.resource.aws_security_group ?? {};
    const groupRef = (name: string) => {
      const id = Object.keys(groups).find((key) => (groups[key]?.name as string) === `criu-lab-${name}`);
      return `\${aws_security_group.${id}.id}`;
    };
    const nodeSsh = synth.resources('aws_vpc_security_group_ingress_rule').filter((r) => r.security_group_id === groupRef('nodes') && coversSsh(r));
    expect(nodeSsh.map((r) => r.referenced_security_group_id).sort()).toEqual([groupRef('bastion'), groupRef('nodes')].sort());
    const peerPorts = synth
      .resources('aws_vpc_security_group_ingress_rule')
      .filter((r) => r.security_group_id === groupRef('nodes') && r.referenced_security_group_id === groupRef('nodes'))
      .map((r) => [r.from_port, r.to_port]);
    expect(peerPorts).toEqual([
      [22, 22],
      [27000, 27099],
      [5201, 5201],
    ]);
    const nfs = synth.resources('aws_vpc_security_group_ingress_rule').filter((r) => r.security_group_id === groupRef('efs'));
    expect(nfs).toEqual([expect.objectContaining({ from_port: 2049, referenced_security_group_id: groupRef('nodes') })]);
    const bastionEgress = synth.resources('aws_vpc_security_group_egress_rule').filter((r) => r.security_group_id === groupRef('bastion'));
    expect(bastionEgress).toEqual([expect.objectContaining({ from_port: SSH, to_port: SSH, referenced_security_group_id: groupRef('nodes') })]);
  });

  it('requires IMDSv2 and encrypts the root volume of every instance', () => {
    const instances = synth.resources('aws_instance');
    expect(instances).toHaveLength(4);
    for (const instance of instances) {
      expect(instance).toMatchObject({
        metadata_options: { http_tokens: 'required' },
        root_block_device: { encrypted: true },
      });
    }
  });

  it('gives a public address to the bastion alone', () => {
    const instances = byName(synth.resources('aws_instance'));
    expect(instances['criu-lab-bastion']).toMatchObject({ associate_public_ip_address: true });
    const others = Object.entries(instances).filter(([name]) => name !== 'criu-lab-bastion');
    expect(others.every(([, i]) => i.associate_public_ip_address === false)).toBe(true);
    expect(synth.resources('aws_subnet').every((s) => s.map_public_ip_on_launch === false)).toBe(true);
  });

  it('places the nodes in two availability zones as the props say', () => {
    const instances = byName(synth.resources('aws_instance'));
    expect(Object.keys(instances).sort()).toEqual(['criu-lab-az-a-node-0', 'criu-lab-az-a-node-1', 'criu-lab-az-c-node-0', 'criu-lab-bastion']);
    const privateZones = synth
      .resources('aws_subnet')
      .filter((s) => String((s.tags as Record<string, string>).Name).includes('private'))
      .map((s) => s.availability_zone);
    expect(privateZones).toEqual(['us-west-2a', 'us-west-2c']);
  });

  it('follows the node counts of the props', () => {
    const bigger = synthStack({
      zones: [
        { az: 'b', nodes: 3 },
        { az: 'd', nodes: 2 },
      ],
    });
    const names = Object.keys(byName(bigger.resources('aws_instance'))).sort();
    expect(names).toEqual([
      'criu-lab-az-b-node-0',
      'criu-lab-az-b-node-1',
      'criu-lab-az-b-node-2',
      'criu-lab-az-d-node-0',
      'criu-lab-az-d-node-1',
      'criu-lab-bastion',
    ]);
    // Both zones now have a same-AZ peer, so both node 0s are source nodes with a volume.
    expect(bigger.resources('aws_ebs_volume').map((v) => v.availability_zone)).toEqual(['us-west-2b', 'us-west-2d']);
    expect(bigger.resources('aws_efs_mount_target')).toHaveLength(2);
  });

  it('encrypts the EBS volume, the EFS file system and the bucket', () => {
    expect(synth.resources('aws_ebs_volume')).toEqual([expect.objectContaining({ encrypted: true, type: 'gp3', size: 100, availability_zone: 'us-west-2a' })]);
    expect(synth.resources('aws_volume_attachment')).toHaveLength(1);
    expect(synth.resources('aws_efs_file_system')).toEqual([expect.objectContaining({ encrypted: true })]);
    expect(synth.resources('aws_efs_mount_target')).toHaveLength(2);
    expect(synth.resources('aws_s3_bucket_server_side_encryption_configuration')).toEqual([
      expect.objectContaining({ rule: [expect.objectContaining({ apply_server_side_encryption_by_default: { sse_algorithm: 'AES256' } })] }),
    ]);
  });

  it('blocks public access to the bucket, demands TLS and expires its objects', () => {
    expect(synth.resources('aws_s3_bucket_public_access_block')).toEqual([
      expect.objectContaining({
        block_public_acls: true,
        block_public_policy: true,
        ignore_public_acls: true,
        restrict_public_buckets: true,
      }),
    ]);
    const [lifecycle] = synth.resources('aws_s3_bucket_lifecycle_configuration');
    expect(lifecycle).toMatchObject({ rule: [{ status: 'Enabled', expiration: [{ days: 7 }] }] });
    const [bucketPolicy] = synth.resources('aws_s3_bucket_policy');
    const statements = (JSON.parse(bucketPolicy?.policy as string) as PolicyDocument).Statement;
    expect(statements).toEqual([expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]);
    // ACLs off: no object can be made readable to anyone outside the account, whatever its upload asked for.
    expect(synth.resources('aws_s3_bucket_ownership_controls')).toEqual([expect.objectContaining({ rule: { object_ownership: 'BucketOwnerEnforced' } })]);
    expect(synthStack({ s3: { expire_days: 2 } }).resources('aws_s3_bucket_lifecycle_configuration')[0]).toMatchObject({
      rule: [{ expiration: [{ days: 2 }] }],
    });
  });

  it('grants IAM no wildcard action and no managed policy such as AdministratorAccess', () => {
    const allowed = policies(synth).flatMap((p) => p.Statement.filter((s) => s.Effect === 'Allow'));
    expect(allowed.length).toBeGreaterThan(1);
    for (const statement of allowed) {
      for (const action of asList(statement.Action)) expect(action).not.toContain('*');
    }
    expect(synth.resources('aws_iam_role_policy_attachment')).toHaveLength(0);
    expect(synth.resources('aws_iam_policy_attachment')).toHaveLength(0);
    expect(JSON.stringify(synth.json)).not.toContain('AdministratorAccess');
  });

  it('gives the node role S3 on the bucket prefix and no EC2 action: the controller moves EBS volumes with the operator’s credentials', () => {
    // The fixture has EBS volumes on a two-node zone: before, exactly this stack granted nodes attach, detach and snapshot.
    expect(synth.resources('aws_volume_attachment')).toHaveLength(1);
    const [document] = synth.resources('aws_iam_role_policy').map((p) => JSON.parse(p.policy as string) as PolicyDocument);
    const actions = (document?.Statement ?? []).flatMap((s) => asList(s.Action));
    expect(actions.filter((a) => !a.startsWith('s3:'))).toEqual([]);
    for (const statement of document?.Statement ?? []) {
      const resources = asList(statement.Resource);
      const onObjects = resources.every((r) => r.endsWith('.arn}/images/*'));
      const listsPrefix = asList(statement.Action).join() === 's3:ListBucket' && statement.Condition?.StringLike?.['s3:prefix'] !== undefined;
      expect(onObjects || listsPrefix).toBe(true);
    }
    const [provider] = synth.json.provider.aws ?? [];
    expect(provider).toMatchObject({ default_tags: [{ tags: { 'criu-lab:stack': 'criu-lab' } }] });
  });

  it('gives a stack without a bucket a node role with no policy at all', () => {
    const bare = synthStack({ s3: { enabled: false } });
    expect(bare.resources('aws_iam_role')).toHaveLength(1);
    expect(bare.resources('aws_iam_role_policy')).toEqual([]);
  });

  it('installs only the operator’s public key, as an EC2 key pair', () => {
    expect(synth.resources('aws_key_pair')).toEqual([expect.objectContaining({ public_key: expect.stringMatching(/^ssh-ed25519 AAAA/) })]);
    expect(JSON.stringify(synth.json)).not.toContain('PRIVATE KEY');
  });

  it('looks up the Debian 12 image by SSM parameter by default, or takes an AMI id', () => {
    expect(synth.json.data?.aws_ssm_parameter?.image).toMatchObject({
      name: '/aws/service/debian/release/12/latest/amd64',
    });
    const pinned = synthStack({ ami: { id: 'ami-0123456789abcdef0', ssh_user: 'ubuntu' } });
    expect(pinned.json.data?.aws_ssm_parameter).toBeUndefined();
    expect(pinned.resources('aws_instance').every((i) => i.ami === 'ami-0123456789abcdef0')).toBe(true);
    expect(pinned.json.output).toMatchObject({ outputs_ssh_user_2058710A: { value: 'ubuntu' } });
  });

  it('requests one-time spot instances for the nodes only when asked', () => {
    expect(synth.resources('aws_instance').every((i) => i.instance_market_options === undefined)).toBe(true);
    const spot = byName(synthStack({ market: 'spot' }).resources('aws_instance'));
    expect(spot['criu-lab-az-a-node-0']).toMatchObject({
      instance_market_options: { market_type: 'spot', spot_options: { spot_instance_type: 'one-time' } },
    });
    expect(spot['criu-lab-bastion']?.instance_market_options).toBeUndefined();
  });

  it('adds, with spot nodes only, a FIS template that sends the source node a two-minute spot notice', () => {
    expect(synth.resources('aws_fis_experiment_template')).toEqual([]);
    expect(synth.resources('aws_iam_role').map((r) => r.name)).toEqual(['criu-lab-node']);
    const spot = synthStack({ market: 'spot' });
    const source = Object.entries(spot.json.resource.aws_instance ?? {}).find(
      ([, i]) => (i.tags as Record<string, string>).Name === 'criu-lab-az-a-node-0',
    )?.[0];
    const [template] = spot.resources('aws_fis_experiment_template');
    expect(template).toMatchObject({
      stop_condition: [{ source: 'none' }],
      target: [{ name: 'source', resource_type: 'aws:ec2:spot-instance', selection_mode: 'ALL', resource_arns: [`\${aws_instance.${source}.arn}`] }],
      action: [
        {
          action_id: 'aws:ec2:send-spot-instance-interruptions',
          parameter: [{ key: 'durationBeforeInterruption', value: 'PT2M' }],
          target: { key: 'SpotInstances', value: 'source' },
        },
      ],
    });
    const role = spot.resources('aws_iam_role').find((r) => r.name === 'criu-lab-fis');
    expect(template?.role_arn).toMatch(/^\$\{aws_iam_role\.spot-interruption_role_[0-9A-F]+\.arn\}$/);
    expect(JSON.parse(role?.assume_role_policy as string)).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Principal: { Service: 'fis.amazonaws.com' }, Action: 'sts:AssumeRole' }],
    });
    expect(spot.json.output).toMatchObject({ outputs_fis_template_id_499C1E2F: { value: expect.stringMatching(/^\$\{aws_fis_experiment_template\./) } });
  });

  it('lets the FIS role interrupt the source node alone: no other instance, no other write action', () => {
    const spot = synthStack({ market: 'spot' });
    const policy = spot.resources('aws_iam_role_policy').find((p) => p.name === 'criu-lab-fis');
    const statements = (JSON.parse(policy?.policy as string) as PolicyDocument).Statement;
    const source = Object.entries(spot.json.resource.aws_instance ?? {}).find(
      ([, i]) => (i.tags as Record<string, string>).Name === 'criu-lab-az-a-node-0',
    )?.[0];
    expect(statements.map((s) => ({ actions: asList(s.Action), resources: asList(s.Resource) }))).toEqual([
      { actions: ['ec2:SendSpotInstanceInterruptions'], resources: [`\${aws_instance.${source}.arn}`] },
      { actions: ['ec2:DescribeInstances'], resources: ['*'] },
    ]);
  });

  it('leaves out EFS, S3 and EBS and their grants when they are off', () => {
    const bare = synthStack({ efs: { enabled: false }, s3: { enabled: false }, ebs: { enabled: false } });
    for (const type of ['aws_efs_file_system', 'aws_s3_bucket', 'aws_ebs_volume', 'aws_vpc_endpoint', 'aws_iam_role_policy']) {
      expect(bare.resources(type)).toHaveLength(0);
    }
    const userData = bare
      .resources('aws_instance')
      .map((i) => String(i.user_data))
      .join('\n');
    expect(userData).not.toMatch(/nfs-common|step=cloud-packages|mount-efs|mount-ebs/);
  });

  it('sends S3 traffic through a gateway endpoint and everything else through one NAT gateway', () => {
    expect(synth.resources('aws_vpc_endpoint')).toEqual([
      expect.objectContaining({ service_name: 'com.amazonaws.us-west-2.s3', vpc_endpoint_type: 'Gateway' }),
    ]);
    expect(synth.resources('aws_nat_gateway')).toHaveLength(1);
  });

  it("keeps its Terraform state where it is told (a sweep lane's own file), else leaves it to cdktf", () => {
    const lane = synthStack({ prefix: 'criu-lab-1' }, { statePath: '/r/sweeps/s/lanes/1/terraform.tfstate' });
    expect(lane.json.terraform.backend).toEqual({ local: { path: '/r/sweeps/s/lanes/1/terraform.tfstate' } });
    // Unset: cdktf's own local backend, terraform.<prefix>.tfstate in its working directory.
    expect(synth.json.terraform.backend).toBeUndefined();
  });

  it('declares an output for every address and id servers.yaml needs', () => {
    const outputs = Object.keys(synth.json.output).map((id) => id.replace(/^outputs_(.*)_[0-9A-F]{8}$/, '$1'));
    expect(outputs.sort()).toEqual(
      ['bastion', 'bucket', 'ebs_mount', 'ebs_volumes', 'efs_id', 'efs_mount', 'nodes', 'region', 's3_prefix', 'ssh_user', 'stack'].sort(),
    );
  });
});
