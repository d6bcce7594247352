// The deploy → run → destroy stages with fakes only at the edge that cannot run here: cdktf
// talking to AWS (it "writes" the outputs of the stack's mocked apply, see terraform-test.test.ts)
// and the EC2 console (recorded consoles of those instances).
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { Command } from 'commander';
import { parse } from 'yaml';
import { registerInfraCommands } from '../../infra/aws/cli.js';
import { findAwsCredentials, requireAwsCredentials } from '../../infra/aws/credentials.js';
import { deployLab, type DeployOptions, type InfraEffects } from '../../infra/aws/deploy.js';
import { ExternalError, UsageError } from '../../core/errors.js';
import type { ProcessResult, ProcessRunner } from '../../core/process.js';
import { FIXTURES, MOCKED_APPLY_OUTPUTS, TEST_PUBLIC_KEY } from './helpers.js';

interface World {
  readonly commands: string[][];
  readonly effects: InfraEffects;
}

function fakeWorld(exitCodes: { deploy?: number; run?: number; aws?: number } = {}): World {
  const commands: string[][] = [];
  const run: ProcessRunner = async (command) => {
    commands.push([...command]);
    const result = (exitCode: number): ProcessResult => ({ command, exitCode, signal: null, stdout: '', stderr: '', output: '', durationMs: 1 });
    const [program = '', verb] = command;
    if (program === 'aws') return result(exitCodes.aws ?? 0);
    if (program.endsWith('/cdktf') && verb === 'deploy') {
      const outputsFile = command[command.indexOf('--outputs-file') + 1] ?? '';
      if ((exitCodes.deploy ?? 0) === 0) copyFileSync(MOCKED_APPLY_OUTPUTS, outputsFile);
      return result(exitCodes.deploy ?? 0);
    }
    if (program === 'node') return result(exitCodes.run ?? 0);
    return result(0);
  };
  const effects: InfraEffects = {
    run,
    consoleReader: () => async (instanceId) => readFileSync(join(FIXTURES, 'console', `${instanceId}.txt`), 'utf8'),
    log: () => undefined,
    bootPollMs: 0,
  };
  return { commands, effects };
}

function labOptions(overrides: Partial<DeployOptions> = {}): DeployOptions {
  const dir = mkdtempSync(join(tmpdir(), 'criu-lab-deploy-'));
  const configPath = join(dir, 'infra.yaml');
  writeFileSync(configPath, `operator_cidr: 198.51.100.7/32\npublic_key: ${TEST_PUBLIC_KEY}\nprivate_key_path: ~/.ssh/id_ed25519\n`);
  return {
    configPath,
    serversPath: join(dir, 'config', 'servers.yaml'),
    outputsPath: join(dir, 'infra.outputs.json'),
    destroyAfter: false,
    waitForBoot: true,
    bootTimeoutMs: 60_000,
    ...overrides,
  };
}

const verbs = (world: World) =>
  world.commands.map((c) => (c[0]?.endsWith('/cdktf') ? `cdktf ${c[1]}` : c[0] === 'node' ? `criu-lab ${c[2]}` : c.slice(0, 2).join(' ')));

describe('infra deploy', () => {
  it('deploys, waits for the boot reports, pins every host key and writes servers.yaml', async () => {
    const world = fakeWorld();
    const options = labOptions();
    const outcome = await deployLab(options, world.effects);

    expect(verbs(world)).toEqual(['aws --version', 'cdktf deploy']);
    expect(world.commands[1]).toEqual(expect.arrayContaining(['criu-lab', '--auto-approve', '--outputs-file', options.outputsPath]));
    const servers = parse(readFileSync(options.serversPath, 'utf8'));
    const knownHostsPath = options.serversPath.replace(/\.yaml$/, '.known_hosts');
    expect(servers.nodes).toMatchObject({ ssh_user: 'root', ssh_key: '~/.ssh/id_ed25519', known_hosts: knownHostsPath });
    expect(outcome.servers.nodes.source.name).toBe('az-a-node-0');
    const knownHosts = readFileSync(knownHostsPath, 'utf8').trim().split('\n');
    expect(knownHosts).toHaveLength(8);
    expect(knownHosts.map((line) => line.split(' ')[0])).toEqual(expect.arrayContaining(['203.0.113.10', '10.42.10.11', '10.42.10.12', '10.42.11.21']));
  });

  it('runs the experiment on the new lab and tears down after it, also when it fails', async () => {
    const world = fakeWorld({ run: 3 });
    const options = labOptions({ experimentPath: 'config/experiments/memory.yaml', destroyAfter: true });
    const outcome = await deployLab(options, world.effects);

    expect(outcome.experiment?.exitCode).toBe(3);
    expect(verbs(world)).toEqual(['aws --version', 'cdktf deploy', 'criu-lab run', 'cdktf destroy']);
    const runCommand = world.commands[2] ?? [];
    expect(runCommand[1]).toMatch(/bin\/criu-lab\.js$/);
    expect(runCommand.slice(2)).toEqual(['run', '-c', expect.stringMatching(/\/config\/experiments\/memory\.yaml$/), '--servers', options.serversPath]);
  });

  it('tears down after a failed deploy when asked, and reports the deploy’s failure', async () => {
    const world = fakeWorld({ deploy: 1 });
    const failing = deployLab(labOptions({ destroyAfter: true }), world.effects);
    await expect(failing).rejects.toThrow(ExternalError);
    await expect(failing).rejects.toThrow(/cdktf deploy of stack criu-lab failed \(exit 1\)/);
    expect(verbs(world)).toEqual(['aws --version', 'cdktf deploy', 'cdktf destroy']);
  });

  it('leaves the lab up without --destroy-after', async () => {
    const world = fakeWorld({ run: 1 });
    await deployLab(labOptions({ experimentPath: 'x.yaml' }), world.effects);
    expect(verbs(world)).not.toContain('cdktf destroy');
  });

  it('asks for the aws CLI before deploying anything, or for --no-wait-for-boot', async () => {
    const world = fakeWorld({ aws: 127 });
    await expect(deployLab(labOptions(), world.effects)).rejects.toThrow(/--no-wait-for-boot/);
    expect(verbs(world)).toEqual(['aws --version']);

    const unpinned = fakeWorld({ aws: 127 });
    const options = labOptions({ waitForBoot: false });
    await deployLab(options, unpinned.effects);
    expect(verbs(unpinned)).toEqual(['cdktf deploy']);
    expect(parse(readFileSync(options.serversPath, 'utf8')).nodes).not.toHaveProperty('known_hosts');
  });
});

describe('AWS credentials', () => {
  const emptyHome = () => mkdtempSync(join(tmpdir(), 'criu-lab-home-'));

  it('are found in the environment or in ~/.aws', () => {
    expect(findAwsCredentials({ AWS_PROFILE: 'lab' }, emptyHome())).toBe('$AWS_PROFILE');
    const home = emptyHome();
    mkdirSync(join(home, '.aws'));
    writeFileSync(join(home, '.aws', 'credentials'), '[default]\n');
    expect(findAwsCredentials({}, home)).toBe(join(home, '.aws', 'credentials'));
  });

  it('are demanded with the ways to provide them, as a usage error (exit 2)', () => {
    let error: unknown;
    try {
      requireAwsCredentials({}, emptyHome());
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as UsageError).message).toMatch(/no AWS credentials found.*aws configure/);
  });
});

describe('criu-lab infra (command line)', () => {
  const savedEnv = { ...process.env };
  beforeEach(() => {
    for (const name of Object.keys(process.env).filter((n) => n.startsWith('AWS_'))) delete process.env[name];
    process.env.HOME = mkdtempSync(join(tmpdir(), 'criu-lab-home-'));
    jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    process.env = { ...savedEnv };
    process.exitCode = undefined;
    jest.restoreAllMocks();
  });

  const cli = (world: World) => registerInfraCommands(new Command('criu-lab').exitOverride(), world.effects).parent as Command;

  it('exits 2 without AWS credentials, before running anything', async () => {
    const world = fakeWorld();
    await cli(world).parseAsync(['node', 'criu-lab', 'infra', 'deploy', '--config', labOptions().configPath]);
    expect(process.exitCode).toBe(2);
    expect(world.commands).toEqual([]);
  });

  it('exits with the experiment’s exit code after deploy --run --destroy-after', async () => {
    process.env.AWS_PROFILE = 'lab';
    const world = fakeWorld({ run: 4 });
    const options = labOptions();
    await cli(world).parseAsync([
      'node',
      'criu-lab',
      'infra',
      'deploy',
      '--config',
      options.configPath,
      '--servers',
      options.serversPath,
      '--outputs',
      options.outputsPath,
      '--run',
      'experiment.yaml',
      '--destroy-after',
    ]);
    expect(process.exitCode).toBe(4);
    expect(verbs(world)).toEqual(['aws --version', 'cdktf deploy', 'criu-lab run', 'cdktf destroy']);
  });
});
