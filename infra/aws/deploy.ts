// The AWS lab's stages as child processes: cdktf deploy (with an outputs file), wait for every
// instance's boot report and pin its host keys, write servers.yaml, optionally run an
// experiment, and cdktf destroy — in a `finally` when the run should tear down anyway.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { awsConsoleReader, waitForBootReports, type ConsoleReader } from './boot-report.js';
import { ExternalError, UsageError } from '../../core/errors.js';
import { PACKAGE_ROOT } from '../../core/package-root.js';
import { knownHostsPathFor, writeKnownHosts } from './known-hosts.js';
import { readStackOutputs, type StackOutputs } from './outputs.js';
import { runProcess, type ProcessResult, type ProcessRunner } from '../../core/process.js';
import { ensureKeyPair } from '../local/keys.js';
import { loadInfraProps, readOperatorPublicKey, type InfraProps } from './props.js';
import { expandHome } from '../../core/paths.js';
import { buildServersDocument, writeServersFile, type ServersDocument } from './servers.js';

// cdktf (a development dependency) runs in the package, where cdktf.json and the stack's sources are.
const CDKTF = resolve(PACKAGE_ROOT, 'node_modules', '.bin', 'cdktf');
const CRIU_LAB = resolve(PACKAGE_ROOT, 'bin', 'criu-lab.js');

export interface DeployOptions {
  readonly configPath: string;
  /** @default 'config/servers.yaml' */
  readonly serversPath: string;
  /** Where cdktf writes the stack outputs. @default 'config/infra.outputs.json' */
  readonly outputsPath: string;
  /** An experiment to run once the lab is up (`criu-lab run -c <file>`). */
  readonly experimentPath?: string;
  /** Destroy the stack at the end, also when the deploy or the run failed. */
  readonly destroyAfter: boolean;
  /** Wait for every instance's bootstrap and pin its host keys. @default true */
  readonly waitForBoot: boolean;
  readonly bootTimeoutMs: number;
  /** Where the stack goes. @default AWS_TARGET */
  readonly target?: DeployTarget;
}

/**
 * Where cdktf deploys the stack, as far as the stages care: AWS itself, or a rehearsal's moto
 * (infra/aws/rehearsal), which adds to every cdktf command and reads back what moto holds.
 */
export interface DeployTarget {
  /** Added to every cdktf command's environment. */
  readonly cdktfEnv: Readonly<Record<string, string>>;
  /** Added to every cdktf command's arguments. */
  readonly cdktfArgs: readonly string[];
  /** Runs once the stack is deployed, before the boot wait: a rehearsal boots its instances here. */
  readonly beforeBoot?: (outputs: StackOutputs) => Promise<void>;
  /** Where the instances' consoles are read. @default the EC2 API (effects.consoleReader) */
  readonly consoleReader?: (region: string) => ConsoleReader;
  /** Runs once servers.yaml is written, before any experiment and the teardown. */
  readonly afterDeploy?: (outputs: StackOutputs) => Promise<void>;
  /** Runs last, after the teardown or when there is none, also on failure: a rehearsal stops its instances. */
  readonly release?: () => Promise<void>;
}

/** AWS with the operator's credentials and terraform config; cdktf's own output directory. */
export const AWS_TARGET: DeployTarget = { cdktfEnv: {}, cdktfArgs: [] };

/** The edges the stages touch, replaceable in tests (no AWS here). */
export interface InfraEffects {
  readonly run: ProcessRunner;
  readonly consoleReader: (region: string) => ConsoleReader;
  readonly log: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly bootPollMs: number;
}

export const defaultEffects: InfraEffects = {
  run: runProcess,
  consoleReader: (region) => awsConsoleReader(region),
  log: (line) => console.error(`criu-lab: ${line}`),
  bootPollMs: 15_000,
};

export interface DeployOutcome {
  readonly servers: ServersDocument;
  readonly serversPath: string;
  /** The experiment run's result, when --run was given. */
  readonly experiment?: ProcessResult;
}

function cdktfEnvironment(configPath: string, target: DeployTarget): Record<string, string> {
  return { ...target.cdktfEnv, CRIU_LAB_INFRA_CONFIG: resolve(configPath), CHECKPOINT_DISABLE: '1' };
}

async function cdktf(
  verb: 'deploy' | 'destroy',
  props: InfraProps,
  configPath: string,
  extra: readonly string[],
  effects: InfraEffects,
  target: DeployTarget = AWS_TARGET,
): Promise<void> {
  if (!existsSync(CDKTF)) throw new UsageError(`${CDKTF} is missing; fix: npm ci`);
  effects.log(`cdktf ${verb} ${props.prefix} (${configPath})`);
  const result = await effects.run([CDKTF, verb, props.prefix, '--auto-approve', ...target.cdktfArgs, ...extra], {
    cwd: PACKAGE_ROOT,
    env: cdktfEnvironment(configPath, target),
    echo: true,
    check: false,
  });
  if (result.exitCode !== 0) {
    throw new ExternalError(`cdktf ${verb} of stack ${props.prefix} failed (exit ${result.exitCode})`, { logTail: result.output });
  }
}

async function requireAwsCli(effects: InfraEffects): Promise<void> {
  const result = await effects.run(['aws', '--version'], { check: false });
  if (result.exitCode !== 0) {
    throw new UsageError(
      "the aws CLI is needed to read the instances' boot reports and pin their host keys; " +
        'fix: install it (apt-get install awscli), or pass --no-wait-for-boot to skip the wait and the pinning',
    );
  }
}

async function pinHostKeys(outputs: StackOutputs, serversPath: string, options: DeployOptions, effects: InfraEffects, target: DeployTarget): Promise<string> {
  const hosts = [
    { name: outputs.bastion.name, instanceId: outputs.bastion.instance_id, address: outputs.bastion.ip },
    ...outputs.nodes.map((n) => ({ name: n.name, instanceId: n.instance_id, address: n.ip })),
  ];
  effects.log(`waiting for ${hosts.length} instances to finish their bootstrap (nodes build CRIU: ~10 min)`);
  const reports = await waitForBootReports(hosts, (target.consoleReader ?? effects.consoleReader)(outputs.region), {
    timeoutMs: options.bootTimeoutMs,
    pollMs: effects.bootPollMs,
    log: effects.log,
    sleep: effects.sleep,
  });
  const knownHostsPath = knownHostsPathFor(serversPath);
  writeKnownHosts(
    knownHostsPath,
    hosts.map((host) => ({ address: host.address, hostKeys: reports.get(host.name)?.hostKeys ?? [] })),
  );
  return knownHostsPath;
}

async function deployStages(props: InfraProps, options: DeployOptions, effects: InfraEffects): Promise<DeployOutcome> {
  const outputsPath = resolve(options.outputsPath);
  const serversPath = resolve(options.serversPath);
  const target = options.target ?? AWS_TARGET;
  await cdktf('deploy', props, options.configPath, ['--outputs-file', outputsPath, '--outputs-file-include-sensitive-outputs'], effects, target);
  const outputs = readStackOutputs(outputsPath, props.prefix);
  await target.beforeBoot?.(outputs);
  const knownHostsPath = options.waitForBoot ? await pinHostKeys(outputs, serversPath, options, effects, target) : undefined;
  const servers = buildServersDocument(outputs, { privateKeyPath: props.privateKeyPath, knownHostsPath });
  writeServersFile(serversPath, servers);
  effects.log(`wrote ${serversPath}${knownHostsPath ? ` and ${knownHostsPath}` : ''}`);
  await target.afterDeploy?.(outputs);
  if (options.experimentPath === undefined) return { servers, serversPath };
  effects.log(`running ${options.experimentPath} on the lab`);
  // In the user's working directory, not the package: results/ lands beside their config/.
  const experiment = await effects.run(['node', CRIU_LAB, 'run', '-c', resolve(options.experimentPath), '--servers', serversPath], {
    echo: true,
    check: false,
  });
  return { servers, serversPath, experiment };
}

/**
 * The stack's own key pair, made once (as `lab up` does for a lab) when infra.yaml names no key:
 * the stack authorizes its public half and servers.yaml names its private half. Kept across
 * deploys of the same stack, so a redeploy does not lock out the running nodes.
 */
export async function ensureStackKey(props: InfraProps, log: (line: string) => void): Promise<void> {
  if (!props.generatedKey) return;
  await ensureKeyPair(expandHome(props.privateKeyPath), `criu-lab stack ${props.prefix}`);
  log(`SSH key of stack ${props.prefix}: ${props.privateKeyPath}`);
}

/**
 * Deploys the stack and writes servers.yaml; with `experimentPath`, runs that experiment;
 * with `destroyAfter`, destroys the stack whatever happened before.
 */
export async function deployLab(options: DeployOptions, effects: InfraEffects = defaultEffects): Promise<DeployOutcome> {
  const props = loadInfraProps(options.configPath);
  await ensureStackKey(props, effects.log);
  readOperatorPublicKey(props); // a bad key must fail here, not half way through a deploy
  if (options.waitForBoot && options.target?.consoleReader === undefined) await requireAwsCli(effects);
  let failure: unknown;
  try {
    return await deployStages(props, options, effects);
  } catch (error) {
    failure = error;
    throw error;
  } finally {
    if (options.destroyAfter) {
      try {
        await cdktf('destroy', props, options.configPath, [], effects, options.target);
      } catch (destroyError) {
        // Keep the first failure as the one reported; still say the teardown failed.
        if (failure === undefined) throw destroyError;
        effects.log(`teardown failed too: ${(destroyError as Error).message}; run criu-lab infra destroy`);
      } finally {
        await options.target?.release?.();
      }
    } else {
      await options.target?.release?.();
    }
  }
}

/** `target`: where the stack was deployed (a sweep's lane keeps its own cdktf output and state). @default AWS_TARGET */
export async function destroyLab(configPath: string, effects: InfraEffects = defaultEffects, target?: DeployTarget): Promise<void> {
  await cdktf('destroy', loadInfraProps(configPath), configPath, [], effects, target);
}
