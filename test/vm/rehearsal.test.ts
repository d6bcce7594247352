// The AWS rehearsal end to end. First `infra bake --rehearsal` on a small stack (one zone, two
// nodes): a node's guest disk saved as the image moto's CreateImage named, the config's ami set to
// it. Then `infra deploy --rehearsal --run config/experiments/rehearsal.yaml --destroy-after` on
// config/infra.example.yaml as an operator fills it in, with that ami: cdktf deploys the stack to
// moto; a qemu guest boots each instance from the baked image with its own user data through
// cloud-init, setup-host.sh finding everything in place; host keys are pinned from the guests'
// consoles; the post-deploy experiment migrates through the bastion between two zones with
// pre-dump; then the stack is destroyed and nothing is left. Last, a node whose setup-host.sh
// fails: the deploy names the step and the log, and destroy leaves nothing.
// Slow (software emulation: a cold image build, five guests booting Debian), so it runs with
// `npm run test:vm`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { runProcess, type ProcessRunner } from '../../core/process.js';
import { defaultEffects, type InfraEffects } from '../../infra/aws/deploy.js';
import { REHEARSAL_BRIDGE } from '../../infra/aws/rehearsal/guests.js';
import { rehearseBake, type RehearsalBake } from '../../infra/aws/rehearsal/bake.js';
import { rehearseDeploy, type RehearsalOutcome } from '../../infra/aws/rehearsal/rehearse.js';
import { hasProviderMirror, PROVIDER_MIRROR } from '../../infra/aws/terraform-mirror.js';
import { motoMissingReason } from '../../infra/local/moto.js';
import { PROJECT_ROOT, TERRAFORM } from '../infra/helpers.js';
import { describeOnVm } from '../support/vm.js';

const describeVm = await describeOnVm('test/vm/rehearsal');
const missing = [
  motoMissingReason(),
  existsSync(TERRAFORM) ? undefined : `${TERRAFORM} is missing`,
  hasProviderMirror() ? undefined : `the provider mirror ${PROVIDER_MIRROR} has no hashicorp/aws`,
].filter((reason): reason is string => reason !== undefined);
// Where the VM tests run, the rehearsal's other needs are part of the machine: missing, they fail the suite.
const describeRehearsal =
  describeVm === describe && missing.length > 0 ? () => it('has moto, terraform and its provider mirror', () => expect(missing).toEqual([])) : describeVm;

/** What a rehearsal may leave on the host: nothing of these. */
function leftovers(workdir: string): string[] {
  const qemu = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        return argv.includes('criu-lab-rehearsal-') || (argv.includes('moto') && argv.includes(workdir));
      } catch {
        return false;
      }
    });
  const links = readdirSync('/sys/class/net').filter((name) => name.startsWith(REHEARSAL_BRIDGE));
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((line) => line.includes(workdir));
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((line) => line.includes('rehearsal'));
  return [...qemu.map((pid) => `process ${pid}`), ...links.map((link) => `link ${link}`), ...mounts, ...netns];
}

/** A node in each zone and no shared storage: the quickest stack that boots nodes. */
const SMALL_STACK = {
  zones: [
    { az: 'a', nodes: 1 },
    { az: 'c', nodes: 1 },
  ],
  efs: { enabled: false },
  ebs: { enabled: false },
};

/** An operator's config/infra.yaml: the example with the one required setting and a key of its own. */
function writeConfig(workdir: string, overrides: Record<string, unknown> = {}): string {
  const keyPath = join(workdir, 'operator_key');
  if (!existsSync(keyPath)) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'rehearsal-test', '-f', keyPath]);
  const example = parse(readFileSync(join(PROJECT_ROOT, 'config', 'infra.example.yaml'), 'utf8')) as Record<string, unknown>;
  const configPath = join(workdir, `infra.${Object.keys(overrides).join('.') || 'default'}.yaml`);
  writeFileSync(configPath, stringify({ ...example, operator_cidr: '198.51.100.7/32', public_key_path: `${keyPath}.pub`, ...overrides }));
  return configPath;
}

function testEffects(workdir: string, lines: string[]): InfraEffects {
  // The experiment runs in the operator's working directory: here the test's, so results land there.
  const run: ProcessRunner = (command, options = {}) => runProcess(command, { ...options, ...(command[2] === 'run' ? { cwd: workdir } : { echo: false }) });
  return {
    ...defaultEffects,
    run,
    bootPollMs: 5_000,
    log: (line) => {
      lines.push(line);
      process.stderr.write(`rehearsal: ${line}\n`);
    },
  };
}

/** Every file named `name` under `dir`. */
function findFiles(dir: string, name: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith(name))
    .map((path) => join(dir, path));
}

describeRehearsal('infra bake --rehearsal, then infra deploy --rehearsal from its image: deploy, boot, pin, run through the bastion, destroy', () => {
  let workdir: string;
  let rehearsalDir: string;
  let outcome: RehearsalOutcome;
  let bake: RehearsalBake;
  let smallConfig: string;
  const lines: string[] = [];

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'criu-lab-rehearsal-vm-'));
    rehearsalDir = join(workdir, 'rehearsal');
    const imageStore = join(workdir, 'images');
    smallConfig = writeConfig(workdir, SMALL_STACK);
    bake = await rehearseBake({ configPath: smallConfig, rehearsalDir: join(workdir, 'bake'), imageStore }, testEffects(workdir, []));
    const { ami } = parse(readFileSync(smallConfig, 'utf8')) as { ami: unknown };
    outcome = await rehearseDeploy(
      {
        configPath: writeConfig(workdir, { ami }),
        rehearsalDir,
        destroyAfter: true,
        imageStore,
        experimentPath: join(PROJECT_ROOT, 'config', 'experiments', 'rehearsal.yaml'),
      },
      testEffects(workdir, lines),
    );
  }, 120 * 60_000);

  it('bakes a node of the small stack: its disk saved under the image id moto gave, the config ami set to it', () => {
    expect(bake.baked.imageId).toMatch(/^ami-/);
    expect(existsSync(join(workdir, 'images', bake.baked.imageId, 'rootfs.img'))).toBe(true);
    const config = readFileSync(smallConfig, 'utf8');
    expect(config).toContain(`id: ${bake.baked.imageId}`);
    expect(config).toMatch(/baked by `criu-lab infra bake --rehearsal`/);
  });

  it('boots every node of the default stack from the baked image, setup-host finding everything in place', () => {
    expect(outcome.times.imageKind).toBe('baked');
    const setups = lines.filter((line) => / ready \(setup-host: /.test(line));
    expect(setups).toHaveLength(outcome.plan.instances.filter((instance) => instance.role === 'node').length);
    for (const line of setups) expect(line).toMatch(/setup-host: host ready: nothing to do/);
  });

  afterAll(() => {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it('pins every instance host key read from its guest console in servers.yaml', () => {
    const servers = parse(readFileSync(outcome.serversPath, 'utf8')) as {
      nodes: { known_hosts: string; bastion: { ip: string } };
      all_nodes: Record<string, { ip: string; name: string }[]>;
    };
    const knownHosts = readFileSync(servers.nodes.known_hosts, 'utf8');
    const addresses = [servers.nodes.bastion.ip, ...Object.values(servers.all_nodes).flatMap((zone) => zone.map((node) => node.ip))];
    expect(addresses).toHaveLength(outcome.plan.instances.length);
    for (const instance of outcome.plan.instances) {
      const console = readFileSync(join(rehearsalDir, 'guests', instance.name, 'console.log'), 'utf8');
      const key = /criu-lab-boot: host-key ssh-ed25519 (\S+)/.exec(console)?.[1];
      expect(key).toBeDefined();
      const address = instance.role === 'bastion' ? servers.nodes.bastion.ip : instance.privateIp;
      expect(knownHosts).toContain(`${address} ssh-ed25519 ${key}`);
      expect(console).toMatch(/criu-lab-boot: ready/);
    }
  });

  it('runs one pre-dump migration with two rounds between the zones, through the bastion, verify ok', () => {
    expect(outcome.experimentExitCode).toBe(0);
    const [metricsPath] = findFiles(join(workdir, 'results'), 'metrics.json');
    expect(metricsPath).toBeDefined();
    const metrics = JSON.parse(readFileSync(metricsPath!, 'utf8')) as Record<string, unknown>;
    const text = JSON.stringify(metrics);
    expect(text).toMatch(/"placement":"cross-az"/);
    expect(text).toMatch(/"verify":\{[^}]*"ok":true/);
    const zones = new Set(outcome.plan.instances.filter((instance) => instance.role === 'node').map((instance) => instance.availabilityZone));
    expect(zones.size).toBe(2);
  });

  it('leaves nothing running after destroy: no qemu, no moto, no bridge or tap, no mount, no netns', () => {
    expect(leftovers(workdir)).toEqual([]);
    expect(lines.join('\n')).toMatch(/rehearsal times: baked image/);
  });
});

describeRehearsal('infra deploy --rehearsal with a node whose setup-host.sh fails', () => {
  let workdir: string;
  let failure: Error | undefined;
  const lines: string[] = [];

  beforeAll(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'criu-lab-rehearsal-broken-'));
    const broken = join(workdir, 'setup-host.sh');
    writeFileSync(broken, '#!/usr/bin/env bash\necho "setup-host: deliberately broken by test/vm/rehearsal" >&2\nexit 7\n');
    const configPath = writeConfig(workdir, SMALL_STACK);
    failure = await rehearseDeploy(
      { configPath, rehearsalDir: join(workdir, 'rehearsal'), destroyAfter: true, setupHostPath: broken },
      testEffects(workdir, lines),
    ).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
  }, 60 * 60_000);

  afterAll(() => {
    if (workdir) rmSync(workdir, { recursive: true, force: true });
  });

  it('stops with the failed step and the log path', () => {
    expect(failure?.message).toMatch(/failed its bootstrap: step=setup-host exit=7 log=\/var\/log\/criu-lab-bootstrap\.log/);
  });

  it('destroys everything', () => {
    expect(lines.join('\n')).not.toMatch(/teardown failed/);
    expect(leftovers(workdir)).toEqual([]);
  });
});
