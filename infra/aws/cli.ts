// `criu-lab infra synth | deploy [--rehearsal] | bake | destroy`: the AWS lab's command group, registered on the
// main program by experiments/cli.ts. Errors render through core/errors.ts: usage exits 2, external failures 1.
// cdktf and the AWS SDK load in the actions, so no other command pays for them.
import type { Command } from 'commander';
import type { InfraEffects } from './deploy.js';
import { reportErrors, UsageError } from '../../core/errors.js';
import { DEFAULT_CONFIG_PATH, DEFAULT_REHEARSAL_DIR } from './config-paths.js';
import { shellExitCode } from '../../core/process.js';

interface ConfigFlags {
  readonly config: string;
}

interface DeployFlags extends ConfigFlags {
  readonly servers?: string;
  readonly outputs?: string;
  readonly run?: string;
  readonly destroyAfter?: boolean;
  /** false with --no-wait-for-boot. */
  readonly waitForBoot?: boolean;
  readonly bootTimeout: string;
  readonly rehearsal?: boolean;
  readonly rehearsalDir: string;
  readonly setupHost?: string;
  readonly stockImage?: boolean;
}

interface BakeFlags extends ConfigFlags {
  readonly outputs: string;
  readonly from?: string;
  /** false with --no-reboot */
  readonly reboot: boolean;
  readonly timeout: string;
  readonly rehearsal?: boolean;
  readonly rehearsalDir: string;
  readonly stockImage?: boolean;
  readonly bootTimeout: string;
}

const DEFAULT_SERVERS_PATH = 'config/servers.yaml';
const DEFAULT_OUTPUTS_PATH = 'config/infra.outputs.json';

function minutesMs(minutes: string, flag = '--boot-timeout'): number {
  const value = Number(minutes);
  if (!Number.isFinite(value) || value <= 0) {
    throw new UsageError(`${flag} ${minutes} must be a positive number of minutes`);
  }
  return value * 60_000;
}

/** `effects`: @default deploy.ts's defaultEffects (real processes, the AWS console), loaded when a command runs. */
export function registerInfraCommands(program: Command, effects?: InfraEffects): Command {
  const effectsOrDefault = async () => effects ?? (await import('./deploy.js')).defaultEffects;
  const infra = program.command('infra').description('the AWS lab: synthesize, deploy, destroy (CDK for Terraform)');

  infra
    .command('synth')
    .description('synthesize the Terraform JSON into cdktf.out (a preview when config/infra.yaml is missing)')
    .option('-c, --config <path>', `infra config (default ${DEFAULT_CONFIG_PATH})`)
    .option('-o, --outdir <dir>', 'output directory', 'cdktf.out')
    .action((flags: { config?: string; outdir: string }) =>
      reportErrors(async () => {
        const { buildLabApp } = await import('./app.js');
        const { app, stack, preview } = buildLabApp({ configPath: flags.config, outdir: flags.outdir });
        app.synth();
        (await effectsOrDefault()).log(`synthesized stack ${stack.props.prefix} into ${flags.outdir}${preview ? ' (preview: no config/infra.yaml)' : ''}`);
      }),
    );

  infra
    .command('deploy')
    .description('deploy the lab, wait for its nodes, pin their host keys and write servers.yaml')
    .option('-c, --config <path>', 'infra config', DEFAULT_CONFIG_PATH)
    .option('--servers <path>', `servers file to write (default ${DEFAULT_SERVERS_PATH}; with --rehearsal, in the rehearsal dir)`)
    .option('--outputs <path>', `where cdktf writes the stack outputs (default ${DEFAULT_OUTPUTS_PATH}; with --rehearsal, in the rehearsal dir)`)
    .option('--run <experiment.yaml>', 'run this experiment once the lab is up')
    .option('--destroy-after', 'destroy the lab at the end, also when the deploy or the run failed')
    .option('--no-wait-for-boot', 'do not wait for the bootstrap nor pin host keys (servers.yaml without known_hosts)')
    .option('--boot-timeout <minutes>', "how long to wait for the nodes' bootstrap", '30')
    .option('--rehearsal', "deploy the same stack to moto on 127.0.0.1 instead of AWS and boot each instance's user data in a qemu guest: no account, no cost")
    .option('--rehearsal-dir <dir>', "the rehearsal's config, state, servers.yaml, plan and guest consoles", DEFAULT_REHEARSAL_DIR)
    .option(
      '--setup-host <script>',
      'with --rehearsal: boot the nodes with this setup-host.sh instead of scripts/setup-host.sh (rehearse a change before AWS runs it)',
    )
    .option('--stock-image', "with --rehearsal: boot the stand-in for Debian's own AMI (no CRIU: nodes build it at boot, as on AWS)")
    .action((flags: DeployFlags) =>
      reportErrors(async () => {
        const rehearsalOnly = [
          ...(flags.setupHost !== undefined ? ['--setup-host: a real deploy boots with scripts/setup-host.sh as shipped; edit that file instead'] : []),
          ...(flags.stockImage === true ? ["--stock-image: a real deploy boots the config's ami, or Debian's own when it names none"] : []),
        ];
        if (rehearsalOnly.length > 0 && !flags.rehearsal)
          throw new UsageError('these flags are for --rehearsal only:', rehearsalOnly, { hint: 'add --rehearsal' });
        if (flags.rehearsal) {
          const { refuseRehearsalFlags, rehearseDeploy } = await import('./rehearsal/rehearse.js');
          refuseRehearsalFlags(flags);
          const stageEffects = await effectsOrDefault();
          const outcome = await rehearseDeploy(
            {
              configPath: flags.config,
              rehearsalDir: flags.rehearsalDir,
              serversPath: flags.servers,
              outputsPath: flags.outputs,
              destroyAfter: flags.destroyAfter === true,
              waitForBoot: flags.waitForBoot ?? true,
              bootTimeoutMs: minutesMs(flags.bootTimeout),
              ...(flags.run === undefined ? {} : { experimentPath: flags.run }),
              ...(flags.setupHost === undefined ? {} : { setupHostPath: flags.setupHost }),
              ...(flags.stockImage === true ? { stockImage: true } : {}),
            },
            stageEffects,
          );
          stageEffects.log(`rehearsal plan: ${outcome.planPath}; servers: ${outcome.serversPath}`);
          return outcome.experimentExitCode ?? 0;
        }
        const [{ requireAwsCredentials }, { deployLab }] = await Promise.all([import('./credentials.js'), import('./deploy.js')]);
        requireAwsCredentials();
        const outcome = await deployLab(
          {
            configPath: flags.config,
            serversPath: flags.servers ?? DEFAULT_SERVERS_PATH,
            outputsPath: flags.outputs ?? DEFAULT_OUTPUTS_PATH,
            experimentPath: flags.run,
            destroyAfter: flags.destroyAfter === true,
            waitForBoot: flags.waitForBoot ?? true,
            bootTimeoutMs: minutesMs(flags.bootTimeout),
          },
          await effectsOrDefault(),
        );
        return outcome.experiment ? shellExitCode(outcome.experiment) : 0;
      }),
    );

  infra
    .command('bake')
    .description("image a deployed node (packages and CRIU in place) and set the config's ami to it: later stacks boot ready without building CRIU")
    .option('-c, --config <path>', 'infra config whose ami is set to the image', DEFAULT_CONFIG_PATH)
    .option('--outputs <path>', 'the deployed stack outputs', DEFAULT_OUTPUTS_PATH)
    .option('--from <node>', 'the node to image (default: the first node)')
    .option('--no-reboot', 'image without stopping the node (faster; a filesystem caught mid-write may be in the image)')
    .option('--timeout <minutes>', 'how long EC2 may take to make the image available', '60')
    .option('--rehearsal', "deploy the config's stack to moto with guests, bake the node's guest disk, destroy: no account, no cost")
    .option('--rehearsal-dir <dir>', "with --rehearsal: the rehearsal's files", DEFAULT_REHEARSAL_DIR)
    .option('--stock-image', "with --rehearsal: bake from the stand-in for Debian's own AMI, the node building CRIU at boot as a first bake on AWS does")
    .option('--boot-timeout <minutes>', "with --rehearsal: how long to wait for the nodes' bootstrap", '30')
    .action((flags: BakeFlags) =>
      reportErrors(async () => {
        const timeoutMs = minutesMs(flags.timeout, '--timeout');
        if (flags.rehearsal) {
          if (flags.reboot === false) {
            throw new UsageError('--no-reboot with --rehearsal: the rehearsal always powers the guest down before saving its disk', [], {
              hint: 'drop --no-reboot',
            });
          }
          const { rehearseBake } = await import('./rehearsal/bake.js');
          const { rehearsal } = await rehearseBake(
            {
              configPath: flags.config,
              rehearsalDir: flags.rehearsalDir,
              ...(flags.from === undefined ? {} : { from: flags.from }),
              ...(flags.stockImage === true ? { stockImage: true } : {}),
              bootTimeoutMs: minutesMs(flags.bootTimeout),
            },
            await effectsOrDefault(),
          );
          return rehearsal.experimentExitCode ?? 0;
        }
        if (flags.stockImage === true) throw new UsageError('--stock-image is for --rehearsal only', [], { hint: 'add --rehearsal' });
        const [{ requireAwsCredentials }, { bakeImage, useBakedImage }, { loadInfraProps }, { readStackOutputs }, { EC2Client }] = await Promise.all([
          import('./credentials.js'),
          import('./bake.js'),
          import('./props.js'),
          import('./outputs.js'),
          import('@aws-sdk/client-ec2'),
        ]);
        requireAwsCredentials();
        const props = loadInfraProps(flags.config);
        const outputs = readStackOutputs(flags.outputs, props.prefix);
        const effects = await effectsOrDefault();
        const controller = new AbortController();
        const abort = () => controller.abort(new UsageError('interrupted: the image being made was deregistered'));
        process.once('SIGINT', abort);
        try {
          const baked = await bakeImage(new EC2Client({ region: outputs.region }), outputs, {
            ...(flags.from !== undefined ? { from: flags.from } : {}),
            noReboot: flags.reboot === false,
            timeoutMs,
            pollMs: 15_000,
            signal: controller.signal,
            log: effects.log,
          });
          useBakedImage(flags.config, baked);
          effects.log(`${flags.config}: ami is now ${baked.imageId} (user ${baked.sshUser}); the next deploy boots from it`);
        } finally {
          process.removeListener('SIGINT', abort);
        }
      }),
    );

  infra
    .command('destroy')
    .description('destroy the lab (every resource of the stack, the bucket emptied first)')
    .option('-c, --config <path>', 'infra config', DEFAULT_CONFIG_PATH)
    .action((flags: ConfigFlags) =>
      reportErrors(async () => {
        const [{ requireAwsCredentials }, { destroyLab }] = await Promise.all([import('./credentials.js'), import('./deploy.js')]);
        requireAwsCredentials();
        await destroyLab(flags.config, await effectsOrDefault());
      }),
    );

  return infra;
}
