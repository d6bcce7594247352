// Terraform's own test framework on the synthesized stacks: `terraform test` with a mocked AWS
// provider plans and applies them offline against the provider's real schema and checks the run
// blocks of infra/aws/tests/*.tftest.hcl. The default stack's outputs then go the way a real
// deploy's go (cdktf's outputs file, readStackOutputs, buildServersDocument) into servers.yaml.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TerraformOutput } from '@cdktf/cli-core/src/lib/models/terraform.js';
import { parse, stringify } from 'yaml';
import { runProcess } from '../../core/process.js';
import { buildLabApp } from '../../infra/aws/app.js';
import { readStackOutputs } from '../../infra/aws/outputs.js';
import { buildServersDocument } from '../../infra/aws/servers.js';
import { AWS_PROVIDER, MIRROR_CLI_CONFIG, MOCKED_APPLY_OUTPUTS, PROJECT_ROOT, PROVIDER_MIRROR, TERRAFORM, TEST_PUBLIC_KEY } from './helpers.js';

const TESTS_DIR = join(PROJECT_ROOT, 'infra', 'aws', 'tests');
const EXAMPLE_CONFIG = join(PROJECT_ROOT, 'config', 'infra.example.yaml');
/** Set to rewrite test/infra/fixtures/mocked-apply-outputs.json from this run's mocked apply. */
const UPDATE_ENV = 'CRIU_LAB_UPDATE_FIXTURES';

const missing = [TERRAFORM, join(PROVIDER_MIRROR, AWS_PROVIDER)].filter((path) => !existsSync(path));
const describeWithTerraform = missing.length === 0 ? describe : describe.skip;
if (missing.length > 0) {
  process.stderr.write(
    `test/infra/terraform-test: skipped, ${missing.join(' and ')} missing; it needs terraform 1.11 and a filesystem mirror of ` +
      'hashicorp/aws 5.100.0, which the project image and CI carry\n',
  );
}

/** A synthesized cdk.tf.json, as far as this test reads it. */
interface StackJson {
  readonly terraform?: { readonly required_providers?: unknown };
  readonly '//'?: { readonly outputs?: Readonly<Record<string, unknown>> };
  readonly resource?: Readonly<Record<string, Readonly<Record<string, { readonly '//'?: { readonly metadata?: { readonly path?: string } } }>>>>;
  readonly data?: StackJson['resource'];
}

/** The stacks the .tftest.hcl files test, each synthesized into a folder named after its file. */
interface Variant {
  /** The cdktf stack name: the config's prefix. */
  readonly stack: string;
  /** Builds the app into `outdir` the way `criu-lab infra synth/deploy` does. */
  readonly synth: (outdir: string, workdir: string) => void;
}

/** config/infra.example.yaml with the one required setting and a test key, as an operator writes config/infra.yaml. */
function writeConfig(path: string, changes: Record<string, unknown> = {}): string {
  const example = parse(readFileSync(EXAMPLE_CONFIG, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    path,
    stringify({ ...example, operator_cidr: '198.51.100.7/32', public_key: TEST_PUBLIC_KEY, private_key_path: '~/.ssh/id_ed25519', ...changes }),
  );
  return path;
}

const VARIANTS: Readonly<Record<string, Variant>> = {
  default: {
    stack: 'criu-lab',
    synth: (outdir, workdir) => buildLabApp({ configPath: writeConfig(join(workdir, 'default.infra.yaml')), outdir }).app.synth(),
  },
  'cross-az': {
    stack: 'criu-lab-xaz',
    synth: (outdir, workdir) => {
      const configPath = writeConfig(join(workdir, 'cross-az.infra.yaml'), {
        prefix: 'criu-lab-xaz',
        zones: [
          { az: 'b', nodes: 1 },
          { az: 'd', nodes: 2 },
        ],
      });
      buildLabApp({ configPath, outdir }).app.synth();
    },
  },
  spot: {
    stack: 'criu-lab-spot',
    synth: (outdir, workdir) =>
      buildLabApp({ configPath: writeConfig(join(workdir, 'spot.infra.yaml'), { prefix: 'criu-lab-spot', market: 'spot' }), outdir }).app.synth(),
  },
  preview: {
    stack: 'criu-lab',
    // A fresh clone: no config/infra.yaml, so the app previews config/infra.example.yaml.
    synth: (outdir, workdir) => {
      const clone = join(workdir, 'clone');
      mkdirSync(join(clone, 'config'), { recursive: true });
      copyFileSync(EXAMPLE_CONFIG, join(clone, 'config', 'infra.example.yaml'));
      const cwd = process.cwd();
      process.chdir(clone);
      try {
        const { app, preview } = buildLabApp({ outdir });
        if (!preview) throw new Error('internal: the fresh clone did not synthesize a preview');
        app.synth();
      } finally {
        process.chdir(cwd);
      }
    },
  },
};

/** Terraform addresses by construct path under the stack: resources, data sources and outputs. */
function addressesOf(stack: StackJson): Map<string, string> {
  const addresses = new Map<string, string>();
  const add = (prefix: string, blocks: StackJson['resource']) => {
    for (const [type, byName] of Object.entries(blocks ?? {})) {
      for (const [name, block] of Object.entries(byName)) {
        const path = block['//']?.metadata?.path;
        if (path !== undefined) addresses.set(path.slice(path.indexOf('/') + 1), `${prefix}${type}.${name}`);
      }
    }
  };
  add('', stack.resource);
  add('data.', stack.data);
  // cdktf records each output's construct path in "//".outputs: { <stack>: { <construct>: { <id>: <output name> } } }.
  const walk = (node: unknown, path: readonly string[]) => {
    if (typeof node === 'string') addresses.set(path.slice(1).join('/'), `output.${node}`);
    else if (typeof node === 'object' && node !== null) for (const [key, child] of Object.entries(node)) walk(child, [...path, key]);
  };
  walk(stack['//']?.outputs, []);
  return addresses;
}

/** The test file with each @{construct/path} replaced by its Terraform address; unknown paths are an error. */
function resolvePlaceholders(text: string, stack: StackJson, file: string): string {
  const addresses = addressesOf(stack);
  const unknown: string[] = [];
  const resolveLine = (line: string) =>
    line.replace(/@\{([^}]+)\}/g, (_, path: string) => {
      const address = addresses.get(path);
      if (address === undefined) unknown.push(path);
      return address ?? `@{${path}}`;
    });
  // Comments keep their text: they may explain the placeholders themselves.
  const resolved = text
    .split('\n')
    .map((line) => (line.trimStart().startsWith('#') ? line : resolveLine(line)))
    .join('\n');
  if (unknown.length > 0) {
    throw new Error(`${file} names construct paths the synthesized stack does not have: ${unknown.join(', ')} (known: ${[...addresses.keys()].join(', ')})`);
  }
  return resolved;
}

/** One line of `terraform test -json`, as far as this test reads it. */
interface TestEvent {
  readonly type: string;
  readonly '@message': string;
  readonly '@testfile'?: string;
  readonly '@testrun'?: string;
  readonly test_run?: { readonly path: string; readonly run: string; readonly progress: string; readonly status?: string };
  readonly test_state?: { readonly outputs?: Readonly<Record<string, TerraformOutput>> };
  readonly diagnostic?: { readonly severity: string; readonly summary: string; readonly detail?: string };
}

interface TestRun {
  readonly file: string;
  readonly run: string;
  status: string;
  readonly problems: string[];
  /** The run's state outputs after an apply (printed by -verbose). */
  outputs?: Readonly<Record<string, TerraformOutput>>;
}

interface TestResults {
  /** Every run, in order, with its status, its error diagnostics and its outputs. */
  readonly runs: TestRun[];
  /** Errors outside any run (a test file or module terraform refused), and the summary line. */
  readonly errors: string[];
  readonly summary: string;
}

const problem = (diagnostic: NonNullable<TestEvent['diagnostic']>) => `${diagnostic.summary}: ${diagnostic.detail ?? ''}`.trim();

/** Reads `terraform test -verbose -json`'s output. */
function testResults(stdout: string): TestResults {
  const runs = new Map<string, TestRun>();
  const errors: string[] = [];
  let summary = '(no summary: terraform test stopped early)';
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as TestEvent;
    if (event.type === 'test_summary') summary = event['@message'];
    const file = event['@testfile'];
    const run = event['@testrun'];
    if (file === undefined || run === undefined) {
      if (event.type === 'diagnostic' && event.diagnostic?.severity === 'error') errors.push(`${file ?? ''} ${problem(event.diagnostic)}`.trim());
      continue;
    }
    const key = `${file}/${run}`;
    const entry = runs.get(key) ?? { file, run, status: 'unknown', problems: [] };
    runs.set(key, entry);
    if (event.type === 'test_run' && event.test_run?.progress === 'complete' && event.test_run.status) entry.status = event.test_run.status;
    if (event.type === 'test_state' && event.test_state?.outputs) entry.outputs = event.test_state.outputs;
    if (event.type === 'diagnostic' && event.diagnostic?.severity === 'error') entry.problems.push(problem(event.diagnostic));
  }
  return { runs: [...runs.values()], errors, summary };
}

/**
 * The outputs file `cdktf deploy --outputs-file <path> --outputs-file-include-sensitive-outputs`
 * writes, from `terraform output -json`-shaped outputs, made by the same cdktf code the deploy runs.
 */
async function writeCdktfOutputsFile(path: string, stack: StackJson, outputs: Readonly<Record<string, TerraformOutput>>): Promise<void> {
  // Loaded here, once terraform is known to be present: @cdktf/commons asks it for its version on load.
  const cdktf = await import('@cdktf/cli-core/src/lib/output.js');
  await cdktf.saveOutputs(path, cdktf.getConstructIdsForOutputs(stack, outputs), true);
}

describeWithTerraform('terraform test: the stacks planned and applied with a mocked AWS provider', () => {
  let workdir: string;
  let results: TestResults;
  let stacks: Record<string, StackJson>;

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'criu-lab-tftest-'));
    writeFileSync(join(workdir, 'terraformrc'), MIRROR_CLI_CONFIG);
    const env = { TF_CLI_CONFIG_FILE: join(workdir, 'terraformrc'), CHECKPOINT_DISABLE: '1', TF_IN_AUTOMATION: '1' };
    // This file's own view of the environment (jest's sandbox): also for the terraform cdktf's code starts on load.
    Object.assign(process.env, env);
    // Every run block names its stack's folder as its module; the root module only asks for the
    // stacks' provider, without which terraform init would find nothing to do there.
    const root = join(workdir, 'tftest');
    mkdirSync(root);
    stacks = {};
    for (const [name, variant] of Object.entries(VARIANTS)) {
      const outdir = join(workdir, 'synth', name);
      mkdirSync(outdir, { recursive: true });
      variant.synth(outdir, workdir);
      mkdirSync(join(root, name));
      copyFileSync(join(outdir, 'stacks', variant.stack, 'cdk.tf.json'), join(root, name, 'cdk.tf.json'));
      stacks[name] = JSON.parse(readFileSync(join(root, name, 'cdk.tf.json'), 'utf8')) as StackJson;
    }
    const providers = (stacks.default as StackJson).terraform?.required_providers;
    writeFileSync(join(root, 'providers.tf.json'), JSON.stringify({ terraform: { required_providers: providers } }));
    for (const file of readdirSync(TESTS_DIR).filter((f) => f.endsWith('.tftest.hcl'))) {
      const stack = stacks[file.replace(/\.tftest\.hcl$/, '')];
      if (stack === undefined) throw new Error(`infra/aws/tests/${file} has no stack: name it after one of ${Object.keys(VARIANTS).join(', ')}`);
      writeFileSync(join(root, file), resolvePlaceholders(readFileSync(join(TESTS_DIR, file), 'utf8'), stack, file));
    }
    const init = await runProcess([TERRAFORM, 'init', '-backend=false', '-input=false', '-no-color'], { cwd: root, env, check: false });
    if (init.exitCode !== 0) throw new Error(`terraform init failed (exit ${init.exitCode}):\n${init.output}`);
    const test = await runProcess([TERRAFORM, 'test', '-json', '-verbose', '-no-color'], { cwd: root, env, check: false });
    results = testResults(test.stdout);
    if (results.runs.length === 0) results.errors.push(test.stderr);
  }, 240_000);

  afterAll(() => {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  /** The run's status and, when it did not pass, why: its error diagnostics (a failed assert's error_message). */
  const outcome = (file: string, run: string) => {
    const found = results.runs.find((r) => r.file === file && r.run === run);
    return found ? { status: found.status, problems: found.status === 'pass' ? [] : found.problems } : { status: 'never ran', problems: results.errors };
  };

  it('runs every run block of infra/aws/tests, each passing', () => {
    expect({
      errors: results.errors,
      runs: results.runs.map((r) => ({ run: `${r.file} ${r.run}`, status: r.status, problems: r.status === 'pass' ? [] : r.problems })),
    }).toEqual({
      errors: [],
      runs: [
        { run: 'cross-az.tftest.hcl deploy', status: 'pass', problems: [] },
        { run: 'default.tftest.hcl deploy', status: 'pass', problems: [] },
        { run: 'preview.tftest.hcl plan_is_refused', status: 'pass', problems: [] },
        { run: 'preview.tftest.hcl guard_is_what_refuses', status: 'pass', problems: [] },
        { run: 'spot.tftest.hcl deploy', status: 'pass', problems: [] },
      ],
    });
    expect(results.summary).toMatch(/^Success! 5 passed, 0 failed/);
  });

  it('applies the default stack: nodes per zone, the bastion, an EFS mount target per zone, the image volume, the security groups', () => {
    expect(outcome('default.tftest.hcl', 'deploy')).toEqual({ status: 'pass', problems: [] });
  });

  it('applies a cross-AZ stack whose first zone has a single node', () => {
    expect(outcome('cross-az.tftest.hcl', 'deploy')).toEqual({ status: 'pass', problems: [] });
  });

  it('applies a spot stack with the FIS template that interrupts the source node, and its least-privilege role', () => {
    expect(outcome('spot.tftest.hcl', 'deploy')).toEqual({ status: 'pass', problems: [] });
  });

  it('refuses to plan the preview, whose operator CIDR is a placeholder, and only because of its guard', () => {
    expect(outcome('preview.tftest.hcl', 'plan_is_refused')).toEqual({ status: 'pass', problems: [] });
    expect(outcome('preview.tftest.hcl', 'guard_is_what_refuses')).toEqual({ status: 'pass', problems: [] });
  });

  /** servers.yaml the way `infra deploy` writes it, from a run's outputs: cdktf's outputs file, readStackOutputs, buildServersDocument. */
  async function serversFrom(variant: string, outputsPath: string) {
    const { file, stack } = { file: `${variant}.tftest.hcl`, stack: VARIANTS[variant]?.stack ?? '' };
    const outputs = results.runs.find((r) => r.file === file && r.run === 'deploy')?.outputs;
    if (outputs === undefined) throw new Error(`${file}'s deploy run printed no state: ${results.errors.join('\n')}`);
    await writeCdktfOutputsFile(outputsPath, stacks[variant] as StackJson, outputs);
    return buildServersDocument(readStackOutputs(outputsPath, stack), { privateKeyPath: '~/.ssh/id_ed25519', knownHostsPath: 'config/servers.known_hosts' });
  }

  it('turns the default stack’s outputs into servers.yaml the way infra deploy does, and they are the recorded ones', async () => {
    const outputsPath = join(workdir, 'default.outputs.json');
    const servers = await serversFrom('default', outputsPath);
    expect(servers).toEqual({
      nodes: {
        ssh_user: 'root',
        ssh_key: '~/.ssh/id_ed25519',
        known_hosts: 'config/servers.known_hosts',
        bastion: { ip: '203.0.113.10', name: 'bastion', ssh_user: 'admin' },
        source: { ip: '10.42.10.11', name: 'az-a-node-0' },
        destination: { ip: '10.42.10.12', name: 'az-a-node-1' },
      },
      all_nodes: {
        az_a: [
          { ip: '10.42.10.11', name: 'az-a-node-0', instance_id: 'i-0a10000000000000a' },
          { ip: '10.42.10.12', name: 'az-a-node-1', instance_id: 'i-0a10000000000000b' },
        ],
        az_c: [{ ip: '10.42.11.21', name: 'az-c-node-0', instance_id: 'i-0c10000000000000a' }],
      },
      aws: {
        region: 'us-west-2',
        stack: 'criu-lab',
        bucket: 'criu-lab-images-20250611093012345600000001',
        efs_id: 'fs-0123456789abcdef0',
        ebs_volumes: { 'az-a-node-0': 'vol-0a1b2c3d4e5f60718' },
      },
      transfer: {
        s3_bucket: 'criu-lab-images-20250611093012345600000001',
        s3_prefix: 'images/',
        efs_mount: '/mnt/efs',
        ebs_mount: '/mnt/ebs',
      },
    });
    // The other tests (deploy, servers, security, the servers.yaml schema) read this apply's outputs from the record.
    const fresh: unknown = JSON.parse(readFileSync(outputsPath, 'utf8'));
    if (process.env[UPDATE_ENV] === '1') writeFileSync(MOCKED_APPLY_OUTPUTS, `${JSON.stringify(fresh, null, 2)}\n`);
    const recorded: unknown = existsSync(MOCKED_APPLY_OUTPUTS) ? JSON.parse(readFileSync(MOCKED_APPLY_OUTPUTS, 'utf8')) : undefined;
    expect({ recorded, fix: `${UPDATE_ENV}=1 re-records it` }).toEqual({ recorded: fresh, fix: `${UPDATE_ENV}=1 re-records it` });
  });

  it('pairs the source with the cross-AZ node in servers.yaml when the first zone has a single node', async () => {
    const servers = await serversFrom('cross-az', join(workdir, 'cross-az.outputs.json'));
    expect(servers.nodes).toMatchObject({
      bastion: { ip: '203.0.113.20' },
      source: { ip: '10.42.10.31', name: 'az-b-node-0' },
      destination: { ip: '10.42.11.41', name: 'az-d-node-0' },
    });
    expect(Object.keys(servers.all_nodes)).toEqual(['az_b', 'az_d']);
    expect(servers.aws).toMatchObject({ stack: 'criu-lab-xaz', ebs_volumes: { 'az-d-node-0': 'vol-0d2b2c3d4e5f60718' } });
  });
});
