// `criu-lab infra deploy --rehearsal`: the deploy's own stages (deployLab: cdktf deploy, outputs,
// servers.yaml, destroy) against moto on 127.0.0.1 instead of AWS, in a directory of the
// rehearsal's own, with what moto then holds read back into rehearsal-plan.json for the guests
// that will stand in for the instances. moto lives for one rehearsal: it is stopped at the end,
// on failure and on Ctrl-C, and everything deployed to it goes with it.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { UsageError } from '../../../core/errors.js';
import { findMotoServer, freeLoopbackPort, killMoto, requireMotoServer, startMoto, stopMoto } from '../../local/moto.js';
import { deployLab, type DeployTarget, type InfraEffects } from '../deploy.js';
import { DEFAULT_SSH_USER, loadInfraProps, readInfraYaml, readOperatorPublicKey } from '../props.js';
import { hasProviderMirror, MIRROR_CLI_CONFIG, PROVIDER_MIRROR } from '../terraform-mirror.js';
import { readRehearsalPlan, type RehearsalPlan } from './cloud.js';
import { checkedTarget, REHEARSAL_ENDPOINT_ENV, REHEARSAL_STATE_ENV } from './target.js';

/**
 * An image moto 5.2.1 serves in every region out of the box (its built-in list, found with
 * DescribeImages: ubuntu-xenial-16.04-amd64-server-20170721). moto has none of Debian's public
 * SSM parameters, which the real stack reads its image from; the guests bring their own image.
 */
export const MOTO_IMAGE_ID = 'ami-785db401';

export const REHEARSAL_PLAN_FILE = 'rehearsal-plan.json';
const MOTO_START_TIMEOUT_MS = 30_000;

export interface RehearsalOptions {
  /** The operator's infra config; read, never written. */
  readonly configPath: string;
  /** Holds the rehearsal's config, state, cdktf output, moto's log, servers.yaml and the plan. */
  readonly rehearsalDir: string;
  /** @default '<rehearsalDir>/servers.yaml' */
  readonly serversPath?: string;
  /** @default '<rehearsalDir>/infra.outputs.json' */
  readonly outputsPath?: string;
  /** Rehearse the teardown too: cdktf destroy against moto before it stops. */
  readonly destroyAfter: boolean;
}

export interface RehearsalOutcome {
  readonly plan: RehearsalPlan;
  readonly planPath: string;
  readonly serversPath: string;
}

/** The files of a rehearsal directory. */
export function rehearsalFiles(rehearsalDir: string, prefix: string) {
  const dir = resolve(rehearsalDir);
  return {
    dir,
    config: join(dir, 'infra.yaml'),
    state: join(dir, `terraform.${prefix}.tfstate`),
    cdktfOut: join(dir, 'cdktf.out'),
    terraformrc: join(dir, 'terraformrc'),
    motoLog: join(dir, 'moto.log'),
    outputs: join(dir, 'infra.outputs.json'),
    servers: join(dir, 'servers.yaml'),
    plan: join(dir, REHEARSAL_PLAN_FILE),
  };
}

/** The operator's config with the one setting moto cannot serve replaced: the image. */
function writeRehearsalConfig(configPath: string, path: string): void {
  const config = readInfraYaml(configPath);
  const settings = typeof config === 'object' && config !== null ? config : {};
  const header = `# Written by criu-lab infra deploy --rehearsal from ${resolve(configPath)}: the same settings, an image moto knows.\n`;
  writeFileSync(path, header + stringify({ ...settings, ami: { id: MOTO_IMAGE_ID, ssh_user: DEFAULT_SSH_USER } }));
}

/**
 * The terraform CLI config that keeps cdktf offline where the provider mirror is, and the cdktf
 * arguments that go with it (no `terraform providers lock`, which asks the registry for checksums).
 */
function offlineTerraform(terraformrc: string, log: (line: string) => void): { env: Record<string, string>; args: string[] } {
  if (!hasProviderMirror()) {
    log(`no provider mirror at ${PROVIDER_MIRROR}: terraform installs hashicorp/aws the way its own CLI config says`);
    return { env: {}, args: [] };
  }
  writeFileSync(terraformrc, MIRROR_CLI_CONFIG);
  return { env: { TF_CLI_CONFIG_FILE: terraformrc }, args: ['--skip-provider-lock'] };
}

/**
 * Kills moto on SIGINT, SIGTERM and SIGHUP, then exits 130: everything deployed to it goes with
 * it, so there is nothing left to tear down. Returns the function that removes the handlers.
 */
function stopMotoOnSignals(pid: () => number | undefined, log: (line: string) => void): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const handler = (signal: NodeJS.Signals) => {
    const motoPid = pid();
    if (motoPid !== undefined) killMoto(motoPid);
    log(`${signal}: moto stopped, and the rehearsal's stack with it`);
    process.exit(130);
  };
  for (const signal of signals) process.on(signal, handler);
  return () => signals.forEach((signal) => process.off(signal, handler));
}

/** Deploys the config's stack to a moto of its own, reads it back into the plan, and destroys it when asked. */
export async function rehearseDeploy(options: RehearsalOptions, effects: InfraEffects): Promise<RehearsalOutcome> {
  const props = loadInfraProps(options.configPath); // the operator's config, its errors under its own name
  const files = rehearsalFiles(options.rehearsalDir, props.prefix);
  const serversPath = resolve(options.serversPath ?? files.servers);
  const command = requireMotoServer(findMotoServer(), { command: 'infra deploy --rehearsal', role: 'the rehearsal deploys to' });
  mkdirSync(files.dir, { recursive: true });
  // A state, outputs or plan left by an earlier rehearsal describe a moto that is gone.
  for (const stale of [files.state, `${files.state}.backup`, files.outputs, files.plan]) rmSync(stale, { force: true });
  writeRehearsalConfig(options.configPath, files.config);
  const terraform = offlineTerraform(files.terraformrc, effects.log);

  let motoPid: number | undefined;
  const removeSignalHandlers = stopMotoOnSignals(() => motoPid, effects.log);
  try {
    const port = await freeLoopbackPort();
    const moto = await startMoto(command, {
      address: '127.0.0.1',
      port,
      logPath: files.motoLog,
      timeoutMs: MOTO_START_TIMEOUT_MS,
      retryHint: `see ${files.motoLog}`,
      onSpawn: (pid) => (motoPid = pid),
      diesWithOwner: true, // a SIGKILLed rehearsal, which runs no handler, takes its moto with it
    });
    effects.log(`moto (${command.found}) answers on ${moto.endpoint} after ${(moto.startupMs / 1000).toFixed(1)} s; rehearsing in ${files.dir}`);
    const rehearsal = checkedTarget({ endpoint: moto.endpoint, statePath: files.state });
    let plan: RehearsalPlan | undefined;
    const target: DeployTarget = {
      cdktfEnv: { ...terraform.env, [REHEARSAL_ENDPOINT_ENV]: rehearsal.endpoint, [REHEARSAL_STATE_ENV]: rehearsal.statePath },
      cdktfArgs: ['--output', files.cdktfOut, ...terraform.args],
      afterDeploy: async (outputs) => {
        plan = await readRehearsalPlan(rehearsal.endpoint, outputs, readOperatorPublicKey(props));
        writeFileSync(files.plan, `${JSON.stringify(plan, null, 2)}\n`);
        effects.log(`read back ${plan.instances.length} instances from moto; wrote ${files.plan}`);
      },
    };
    effects.log('no boot wait and no host keys: the guests that boot each instance with its user data come in a later step');
    await deployLab(
      {
        configPath: files.config,
        serversPath,
        outputsPath: resolve(options.outputsPath ?? files.outputs),
        destroyAfter: options.destroyAfter,
        waitForBoot: false,
        bootTimeoutMs: 0,
        target,
      },
      effects,
    );
    if (plan === undefined) throw new Error('internal: the rehearsal deployed but read nothing back');
    return { plan, planPath: files.plan, serversPath };
  } finally {
    removeSignalHandlers();
    if (motoPid !== undefined) {
      await stopMoto(motoPid);
      effects.log(`moto stopped${options.destroyAfter ? '' : `: what was deployed to it is gone, ${files.state} is stale`}`);
    }
  }
}

/** The flags a rehearsal cannot honour yet, as one usage error naming each; none when all is well. */
export function refuseRehearsalFlags(flags: { readonly waitForBoot?: boolean; readonly run?: string }): void {
  const problems = [
    ...(flags.waitForBoot === true ? ['--wait-for-boot: the rehearsal has no guests to boot yet (they come in a later step); drop it'] : []),
    ...(flags.run !== undefined ? ['--run: an experiment needs the guests, which the rehearsal does not start yet; drop it'] : []),
  ];
  if (problems.length > 0) throw new UsageError('infra deploy --rehearsal cannot take these flags yet:', problems);
}
