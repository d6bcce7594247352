// `infra deploy --rehearsal --destroy-after` for real: the default infra config deployed by cdktf
// and terraform to a moto of its own on 127.0.0.1, read back into the rehearsal plan, destroyed.
// The only fake is none: the edge's process runner is the real one, wrapped to look at moto and
// at terraform's state right after cdktf deploys and destroys. About two minutes.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { DescribeInstancesCommand, DescribeVpcsCommand } from '@aws-sdk/client-ec2';
import { parse, stringify } from 'yaml';
import { runProcess, type ProcessRunner } from '../../core/process.js';
import type { InfraEffects } from '../../infra/aws/deploy.js';
import { STACK_TAG_KEY } from '../../infra/aws/iam.js';
import { rehearsalEc2Client, userDataOf, type RehearsalInstance } from '../../infra/aws/rehearsal/cloud.js';
import { rehearseDeploy, type RehearsalOutcome } from '../../infra/aws/rehearsal/rehearse.js';
import { REHEARSAL_ENDPOINT_ENV, REHEARSAL_STATE_ENV } from '../../infra/aws/rehearsal/target.js';
import { describeWithMotoAndTerraform, PROJECT_ROOT, TEST_PUBLIC_KEY } from './helpers.js';

const STACK = 'criu-lab';

const describeIfDeployable = describeWithMotoAndTerraform('test/infra/rehearsal-cloud');

/** One resource of a terraform state file, as far as this test reads it. */
interface StateResource {
  readonly type: string;
  readonly name: string;
  readonly instances: readonly { readonly attributes: Readonly<Record<string, unknown>> }[];
}

/** What the wrapped runner saw right after each cdktf command. */
interface Observed {
  stateAfterDeploy?: readonly StateResource[];
  /** The Terraform JSON cdktf synthesized and deployed. */
  synthesized?: { readonly resource: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>> };
  leftAfterDestroy?: { readonly instances: readonly string[]; readonly stackVpcs: readonly string[]; readonly allVpcCidrs: readonly string[] };
}

const motoPids = () =>
  readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('moto');
      } catch {
        return false;
      }
    });

/** IPv4 address `ip` inside `cidr`. */
function inCidr(ip: string, cidr: string): boolean {
  const toNumber = (address: string) => address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(toNumber(ip) / size) === Math.floor(toNumber(base) / size);
}

/**
 * A string of the synthesized JSON as terraform applies it: `$${` and `%%{` are literal `${` and
 * `%{`, and every `${type.name.attribute}` is that attribute in the applied state.
 */
function rendered(template: string, state: readonly StateResource[]): string {
  return template.replace(/\$\$\{|%%\{|\$\{([^}]+)\}/g, (match, reference: string | undefined) => {
    if (reference === undefined) return match.slice(1);
    const [type, name, attribute = ''] = reference.split('.');
    const value = state.find((r) => r.type === type && r.name === name)?.instances[0]?.attributes[attribute];
    if (typeof value !== 'string') throw new Error(`the state has no ${reference} to render the template with`);
    return value;
  });
}

describeIfDeployable('infra deploy --rehearsal: the stack deployed to moto, read back, destroyed', () => {
  let workdir: string;
  let outcome: RehearsalOutcome;
  let servers: { nodes: { bastion: { ip: string } }; aws: { ebs_volumes: Record<string, string> } };
  const observed: Observed = {};
  const motoBefore = new Set(motoPids());
  let durationMs = 0;

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'criu-lab-rehearsal-'));
    // config/infra.example.yaml with the one required setting and a test key, as an operator writes config/infra.yaml.
    const example = parse(readFileSync(join(PROJECT_ROOT, 'config', 'infra.example.yaml'), 'utf8')) as Record<string, unknown>;
    const configPath = join(workdir, 'infra.yaml');
    const config = stringify({ ...example, operator_cidr: '198.51.100.7/32', public_key: TEST_PUBLIC_KEY, private_key_path: '~/.ssh/id_ed25519' });
    writeFileSync(configPath, config);
    const rehearsalDir = join(workdir, 'rehearsal');

    const run: ProcessRunner = async (command, options = {}) => {
      // cdktf's progress would fill the test's output; its tail is in the error if it fails.
      const result = await runProcess(command, { ...options, echo: false });
      const endpoint = options.env?.[REHEARSAL_ENDPOINT_ENV];
      const statePath = options.env?.[REHEARSAL_STATE_ENV];
      if (endpoint === undefined || statePath === undefined || result.exitCode !== 0) return result;
      if (command[1] === 'deploy') {
        observed.stateAfterDeploy = (JSON.parse(readFileSync(statePath, 'utf8')) as { resources: StateResource[] }).resources;
        observed.synthesized = JSON.parse(readFileSync(join(rehearsalDir, 'cdktf.out', 'stacks', STACK, 'cdk.tf.json'), 'utf8')) as Observed['synthesized'];
      }
      if (command[1] === 'destroy') {
        const ec2 = rehearsalEc2Client(endpoint, 'us-west-2');
        const instances = await ec2.send(new DescribeInstancesCommand({}));
        const vpcs = await ec2.send(new DescribeVpcsCommand({}));
        ec2.destroy();
        observed.leftAfterDestroy = {
          instances: (instances.Reservations ?? [])
            .flatMap((r) => r.Instances ?? [])
            .filter((i) => i.State?.Name !== 'terminated')
            .map((i) => i.InstanceId ?? ''),
          stackVpcs: (vpcs.Vpcs ?? []).filter((v) => v.Tags?.some((t) => t.Key === STACK_TAG_KEY)).map((v) => v.VpcId ?? ''),
          allVpcCidrs: (vpcs.Vpcs ?? []).map((v) => v.CidrBlock ?? ''),
        };
      }
      return result;
    };
    const effects: InfraEffects = { run, consoleReader: () => async () => '', log: () => undefined, bootPollMs: 0 };

    const started = performance.now();
    outcome = await rehearseDeploy({ configPath, rehearsalDir, destroyAfter: true, waitForBoot: false }, effects);
    durationMs = performance.now() - started;
    servers = parse(readFileSync(outcome.serversPath, 'utf8')) as typeof servers;
    expect(readFileSync(configPath, 'utf8')).toBe(config);
  }, 600_000);

  afterAll(() => {
    process.stderr.write(`test/infra/rehearsal-cloud: the rehearsal took ${(durationMs / 1000).toFixed(1)} s\n`);
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  const nodes = () => outcome.plan.instances.filter((instance) => instance.role === 'node');
  const subnetOf = (instance: { subnetId: string }) => outcome.plan.subnets.find((subnet) => subnet.subnetId === instance.subnetId);

  it('finds the bastion and the nodes of each zone, each with a private address inside its subnet', () => {
    const names = (zone: string) =>
      nodes()
        .filter((node) => node.availabilityZone === zone)
        .map((node) => node.name);
    expect(outcome.plan.instances.map((instance) => instance.name)).toEqual(['bastion', 'az-a-node-0', 'az-a-node-1', 'az-c-node-0']);
    expect({ a: names('us-west-2a'), c: names('us-west-2c') }).toEqual({ a: ['az-a-node-0', 'az-a-node-1'], c: ['az-c-node-0'] });
    for (const instance of outcome.plan.instances) {
      const subnet = subnetOf(instance);
      expect({ name: instance.name, zone: subnet?.availabilityZone, inSubnet: subnet && inCidr(instance.privateIp, subnet.cidr) }).toEqual({
        name: instance.name,
        zone: instance.availabilityZone,
        inSubnet: true,
      });
    }
    expect(outcome.plan.instances.every((instance) => inCidr(instance.privateIp, outcome.plan.vpc.cidr))).toBe(true);
    expect(new Set(outcome.plan.instances.map((instance) => instance.privateIp)).size).toBe(4);
  });

  it('gives the bastion alone a public address, in the public subnet, and servers.yaml names it', () => {
    const [bastion] = outcome.plan.instances;
    expect(bastion?.publicIp).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(subnetOf(bastion as RehearsalInstance)?.name).toBe(`${STACK}-public-a`);
    expect(nodes().map((node) => node.publicIp)).toEqual([undefined, undefined, undefined]);
    expect(servers.nodes.bastion.ip).toBe(bastion?.publicIp);
  });

  it('hands on the login user and the key the guests must authorize', () => {
    expect({ sshUser: outcome.plan.sshUser, authorizedKey: outcome.plan.authorizedKey }).toEqual({ sshUser: 'admin', authorizedKey: TEST_PUBLIC_KEY });
  });

  it('reads back each instance’s user data byte for byte as synthesized and applied', () => {
    const state = observed.stateAfterDeploy ?? [];
    const synthesizedInstances = observed.synthesized?.resource.aws_instance ?? {};
    const stateInstances = state.filter((resource) => resource.type === 'aws_instance');
    expect(stateInstances).toHaveLength(4);
    for (const resource of stateInstances) {
      const attributes = resource.instances[0]?.attributes ?? {};
      const instance = outcome.plan.instances.find((i) => i.instanceId === attributes.id);
      const stored = instance ? userDataOf(instance) : Buffer.alloc(0);
      const synthesized = synthesizedInstances[resource.name]?.user_data as string;
      expect({ name: instance?.name, matches: stored.equals(Buffer.from(rendered(synthesized, state))) }).toEqual({ name: instance?.name, matches: true });
      // The AWS provider keeps a SHA-1 of the user data in its state.
      expect(createHash('sha1').update(stored).digest('hex')).toBe(attributes.user_data);
      expect(stored.toString('utf8')).toMatch(/^#!\/bin\/bash\n/);
    }
  });

  it('attaches one EBS image volume to each source node and none elsewhere', () => {
    const attached = Object.fromEntries(outcome.plan.instances.map((instance) => [instance.name, instance.attachedVolumes.map((v) => v.volumeId)]));
    expect(attached).toEqual({ bastion: [], 'az-a-node-0': [servers.aws.ebs_volumes['az-a-node-0']], 'az-a-node-1': [], 'az-c-node-0': [] });
    const volumeId = servers.aws.ebs_volumes['az-a-node-0'] ?? '';
    expect(volumeId).toMatch(/^vol-/);
    const source = outcome.plan.instances.find((instance) => instance.name === 'az-a-node-0');
    expect(source && userDataOf(source).toString('utf8')).toContain(`\nEBS_VOLUME_ID='${volumeId}'\n`);
  });

  it('finds an EFS mount target in each zone’s private subnet, the one that zone’s nodes mount', () => {
    const targets = outcome.plan.efs?.mountTargets ?? [];
    expect(targets.map((target) => target.availabilityZone).sort()).toEqual(['us-west-2a', 'us-west-2c']);
    const applied = (observed.stateAfterDeploy ?? []).filter((r) => r.type === 'aws_efs_mount_target').map((r) => r.instances[0]?.attributes.ip_address);
    expect(targets.map((target) => target.ip).sort()).toEqual([...applied].sort());
    for (const target of targets) {
      expect(subnetOf(target)?.name).toBe(`${STACK}-private-${target.availabilityZone.slice(-1)}`);
      expect(inCidr(target.ip, subnetOf(target)?.cidr ?? '')).toBe(true);
      for (const node of nodes().filter((n) => n.availabilityZone === target.availabilityZone)) {
        expect({ node: node.name, mounts: userDataOf(node).toString('utf8').includes(`\nEFS_ADDRESS='${target.ip}'\n`) }).toEqual({
          node: node.name,
          mounts: true,
        });
      }
    }
  });

  it('writes the plan it returns', () => {
    expect(JSON.parse(readFileSync(outcome.planPath, 'utf8'))).toEqual(JSON.parse(JSON.stringify(outcome.plan)));
  });

  it('destroys everything it deployed: no instance and no VPC of the stack is left in moto', () => {
    expect(observed.leftAfterDestroy).toMatchObject({ instances: [], stackVpcs: [] });
    expect(observed.leftAfterDestroy?.allVpcCidrs).not.toContain('10.42.0.0/16');
  });

  it('leaves no moto process behind', () => {
    expect(motoPids().filter((pid) => !motoBefore.has(pid))).toEqual([]);
  });
});
