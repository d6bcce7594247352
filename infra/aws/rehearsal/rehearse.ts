// `criu-lab infra deploy --rehearsal`: the deploy's own stages (deployLab: cdktf deploy, outputs,
// boot wait and host keys read from the consoles, servers.yaml, the post-deploy experiment,
// destroy) against moto on 127.0.0.1 instead of AWS, in a directory of the rehearsal's own. What
// moto then holds is read back into rehearsal-plan.json, and a qemu guest boots for each instance
// with its user data (guests.ts). moto and the guests live for one rehearsal: they are stopped at
// the end, on failure and on Ctrl-C, and everything deployed to moto goes with it.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { UsageError } from '../../../core/errors.js';
import { shellExitCode } from '../../../core/process.js';
import { findMotoServer, freeLoopbackPort, killMoto, requireMotoServer, startMoto, stopMoto } from '../../local/moto.js';
import { deployLab, type DeployTarget, type InfraEffects } from '../deploy.js';
import type { StackOutputs } from '../outputs.js';
import { DEFAULT_SSH_USER, loadInfraProps, readInfraYaml, readOperatorPublicKey, type InfraProps } from '../props.js';
import { hasProviderMirror, MIRROR_CLI_CONFIG, PROVIDER_MIRROR } from '../terraform-mirror.js';
import { readRehearsalPlan, type RehearsalPlan } from './cloud.js';
import { bootGuests, removeRehearsalGuests, type RehearsalGuests } from './guests.js';
import { ensureGuestImage } from './image.js';
import { stockImage, storedImage } from './images.js';
import type { VmImage } from '../../local/vm/image.js';
import { checkedTarget, REHEARSAL_ENDPOINT_ENV, REHEARSAL_SETUP_HOST_ENV, REHEARSAL_STATE_ENV } from './target.js';

/**
 * An image moto 5.2.1 serves in every region out of the box (its built-in list, found with
 * DescribeImages: ubuntu-xenial-16.04-amd64-server-20170721). moto has none of Debian's public
 * SSM parameters, which the real stack reads its image from; the guests bring their own image.
 */
export const MOTO_IMAGE_ID = 'ami-785db401';

export const REHEARSAL_PLAN_FILE = 'rehearsal-plan.json';
const MOTO_START_TIMEOUT_MS = 30_000;
export const DEFAULT_BOOT_TIMEOUT_MS = 30 * 60_000;

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
  /**
   * Boot a guest per instance and wait for their boot reports, pinning host keys as a deploy
   * does; false deploys to moto only (no guests, servers.yaml without known_hosts).
   * @default true
   */
  readonly waitForBoot?: boolean;
  /** @default 30 min */
  readonly bootTimeoutMs?: number;
  /** The post-deploy experiment (`criu-lab run -c`), through the bastion; needs waitForBoot. */
  readonly experimentPath?: string;
  /** A changed setup-host.sh for the nodes' user data. @default scripts/setup-host.sh */
  readonly setupHostPath?: string;
  /**
   * Boot the stand-in for Debian's own AMI (no CRIU: nodes build it at boot, as on AWS) instead
   * of the prepared image. Ignored when the config's ami names a baked image. @default false
   */
  readonly stockImage?: boolean;
  /** Where baked images are kept by id. @default BAKED_IMAGE_STORE */
  readonly imageStore?: string;
  /** Runs once every instance is ready and servers.yaml is written, before the experiment: `infra bake --rehearsal` images a node here. */
  readonly afterReady?: (ready: RehearsalReady) => Promise<void>;
}

/** A rehearsal whose instances are all up. */
export interface RehearsalReady {
  readonly outputs: StackOutputs;
  /** moto's URL. */
  readonly endpoint: string;
  readonly guests: RehearsalGuests;
  /** The image the guests booted. */
  readonly image: VmImage;
}

/** Which image the guests boot: one baked by `infra bake --rehearsal`, the stand-in for Debian's AMI, or the prepared one. */
export type GuestImageKind = 'baked' | 'stock' | 'prepared';

async function guestImage(
  props: InfraProps,
  options: RehearsalOptions,
  log: (line: string) => void,
): Promise<{ image: VmImage; kind: GuestImageKind; built: boolean; durationMs: number }> {
  const started = performance.now();
  const configured = props.machineImage.kind === 'image-id' ? props.machineImage.imageId : undefined;
  const baked = configured === undefined ? undefined : storedImage(configured, options.imageStore);
  if (baked !== undefined) {
    log(`the config's ami ${configured} is an image baked by infra bake --rehearsal: the guests boot ${baked.dir}`);
    return { image: baked, kind: 'baked', built: false, durationMs: performance.now() - started };
  }
  if (configured !== undefined) log(`the config's ami ${configured} was not baked by a rehearsal here; the guests boot the rehearsal's own image`);
  const prepared = await ensureGuestImage();
  if (options.stockImage !== true) return { image: prepared.image, kind: 'prepared', built: prepared.built, durationMs: prepared.durationMs };
  const stock = await stockImage(prepared.image);
  return { image: stock.image, kind: 'stock', built: prepared.built || stock.built, durationMs: performance.now() - started };
}

export interface RehearsalTimes {
  readonly imageKind: GuestImageKind | 'none';
  /** Making the guests' image (a cache hit takes a moment). */
  readonly imageMs: number;
  readonly imageBuilt: boolean;
  /** cdktf deploy to moto until its outputs were read back. */
  readonly deployMs: number;
  /** From starting the guests until every instance reported ready on its console. */
  readonly bootMs: number;
  /** The post-deploy experiment. */
  readonly runMs: number;
  /** From the deploy's start until every instance was ready: what a fresh cell waits before its first run. */
  readonly deployToReadyMs: number;
}

export interface RehearsalOutcome {
  readonly plan: RehearsalPlan;
  readonly planPath: string;
  readonly serversPath: string;
  /** The experiment's exit code, when one ran. */
  readonly experimentExitCode?: number;
  readonly times: RehearsalTimes;
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
 * Kills moto and the guests on SIGINT, SIGTERM and SIGHUP, then exits 130: everything deployed to
 * moto goes with it, so there is nothing left to tear down. Returns the function that removes the handlers.
 */
function stopMotoOnSignals(pid: () => number | undefined, log: (line: string) => void): () => void {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const handler = (signal: NodeJS.Signals) => {
    const motoPid = pid();
    if (motoPid !== undefined) killMoto(motoPid);
    removeRehearsalGuests();
    log(`${signal}: moto and the guests stopped, and the rehearsal's stack with them`);
    process.exit(130);
  };
  for (const signal of signals) process.on(signal, handler);
  return () => signals.forEach((signal) => process.off(signal, handler));
}

/** Deploys the config's stack to a moto of its own, boots its instances as guests, runs the experiment, and destroys it when asked. */
export async function rehearseDeploy(options: RehearsalOptions, effects: InfraEffects): Promise<RehearsalOutcome> {
  const props = loadInfraProps(options.configPath); // the operator's config, its errors under its own name
  const files = rehearsalFiles(options.rehearsalDir, props.prefix);
  const serversPath = resolve(options.serversPath ?? files.servers);
  const withGuests = options.waitForBoot ?? true;
  refuseRehearsalFlags({ waitForBoot: withGuests, run: options.experimentPath });
  const command = requireMotoServer(findMotoServer(), { command: 'infra deploy --rehearsal', role: 'the rehearsal deploys to' });
  mkdirSync(files.dir, { recursive: true });
  // A state, outputs or plan left by an earlier rehearsal describe a moto that is gone.
  for (const stale of [files.state, `${files.state}.backup`, files.outputs, files.plan]) rmSync(stale, { force: true });
  writeRehearsalConfig(options.configPath, files.config);
  const terraform = offlineTerraform(files.terraformrc, effects.log);
  // The image first: a cold build takes minutes and needs no moto.
  const image = withGuests ? await guestImage(props, options, effects.log) : undefined;
  if (image !== undefined) {
    effects.log(`guest image (${image.kind}) ${image.image.dir} (${image.built ? `built in ${(image.durationMs / 1000).toFixed(0)} s` : 'cached'})`);
  }

  let motoPid: number | undefined;
  let guests: RehearsalGuests | undefined;
  const removeSignalHandlers = stopMotoOnSignals(() => motoPid, effects.log);
  const started = performance.now();
  const marks = { deployed: 0, ready: 0, runStarted: 0, runEnded: 0 };
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
    const readPlan = async (outputs: StackOutputs) => {
      plan = await readRehearsalPlan(rehearsal.endpoint, outputs, readOperatorPublicKey(props));
      writeFileSync(files.plan, `${JSON.stringify(plan, null, 2)}\n`);
      effects.log(`read back ${plan.instances.length} instances from moto; wrote ${files.plan}`);
      return plan;
    };
    const target: DeployTarget = {
      cdktfEnv: {
        ...terraform.env,
        [REHEARSAL_ENDPOINT_ENV]: rehearsal.endpoint,
        [REHEARSAL_STATE_ENV]: rehearsal.statePath,
        ...(options.setupHostPath === undefined ? {} : { [REHEARSAL_SETUP_HOST_ENV]: resolve(options.setupHostPath) }),
      },
      cdktfArgs: ['--output', files.cdktfOut, ...terraform.args],
      ...(image === undefined
        ? { afterDeploy: async (outputs: StackOutputs) => void (await readPlan(outputs)) }
        : {
            beforeBoot: async (outputs: StackOutputs) => {
              marks.deployed = performance.now();
              guests = await bootGuests(await readPlan(outputs), files.dir, image.image, effects.log);
            },
            consoleReader: () => (instanceId: string) => {
              if (guests === undefined) throw new Error('internal: consoles read before the guests booted');
              return guests.readConsole(instanceId);
            },
            afterDeploy: async (outputs: StackOutputs) => {
              marks.ready = performance.now();
              if (guests === undefined) throw new Error('internal: ready before the guests booted');
              await options.afterReady?.({ outputs, endpoint: rehearsal.endpoint, guests, image: image.image });
              marks.runStarted = performance.now();
            },
            release: async () => {
              await guests?.stop();
              if (guests !== undefined) effects.log('guests stopped; their consoles stay in ' + join(files.dir, 'guests'));
            },
          }),
    };
    if (image === undefined) effects.log('no guests (--no-wait-for-boot): the stack goes to moto only, servers.yaml without pinned host keys');
    const outcome = await deployLab(
      {
        configPath: files.config,
        serversPath,
        outputsPath: resolve(options.outputsPath ?? files.outputs),
        destroyAfter: options.destroyAfter,
        waitForBoot: withGuests,
        bootTimeoutMs: options.bootTimeoutMs ?? DEFAULT_BOOT_TIMEOUT_MS,
        ...(options.experimentPath === undefined ? {} : { experimentPath: options.experimentPath }),
        target,
      },
      effects,
    );
    marks.runEnded = performance.now();
    if (plan === undefined) throw new Error('internal: the rehearsal deployed but read nothing back');
    const times: RehearsalTimes = {
      imageKind: image?.kind ?? 'none',
      imageMs: image?.durationMs ?? 0,
      imageBuilt: image?.built ?? false,
      deployMs: marks.deployed > 0 ? marks.deployed - started : 0,
      bootMs: marks.ready > 0 ? marks.ready - marks.deployed : 0,
      runMs: outcome.experiment !== undefined ? marks.runEnded - marks.runStarted : 0,
      deployToReadyMs: marks.ready > 0 ? marks.ready - started : 0,
    };
    if (image !== undefined) effects.log(describeRehearsalTimes(times));
    return {
      plan,
      planPath: files.plan,
      serversPath,
      times,
      ...(outcome.experiment === undefined ? {} : { experimentExitCode: shellExitCode(outcome.experiment) }),
    };
  } finally {
    removeSignalHandlers();
    if (motoPid !== undefined) {
      await stopMoto(motoPid);
      effects.log(`moto stopped${options.destroyAfter ? '' : `: what was deployed to it is gone, ${files.state} is stale`}`);
    }
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(0)} s`;

/** One line on where a rehearsal's time went. */
export function describeRehearsalTimes(times: RehearsalTimes): string {
  return (
    `rehearsal times: ${times.imageKind} image ${times.imageBuilt ? 'built' : 'cached'} ${seconds(times.imageMs)}, deploy to moto ${seconds(times.deployMs)}, ` +
    `boot and cloud-init ${seconds(times.bootMs)} (deploy to ready ${seconds(times.deployToReadyMs)})` +
    (times.runMs > 0 ? `, experiment ${seconds(times.runMs)}` : '')
  );
}

/** The flag combinations a rehearsal cannot honour, as one usage error naming each; none when all is well. */
export function refuseRehearsalFlags(flags: { readonly waitForBoot?: boolean; readonly run?: string }): void {
  const problems = [
    ...(flags.waitForBoot === false && flags.run !== undefined
      ? ['--run with --no-wait-for-boot: the experiment runs on the guests, which only boot when the rehearsal waits for them; drop one']
      : []),
  ];
  if (problems.length > 0) throw new UsageError('infra deploy --rehearsal cannot take these flags together:', problems);
}
