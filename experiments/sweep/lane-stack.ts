// A sweep's lane on AWS: a stack of its own (its infra.yaml derived by lanes.ts) deployed and
// destroyed by the stages of `criu-lab infra deploy|destroy`, with its Terraform state, cdktf
// output, outputs, servers.yaml, known_hosts and cdktf's log under `<sweep>/lanes/<k>/`.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { STATE_PATH_ENV } from '../../infra/aws/config-paths.js';
import { deployLab, destroyLab, type DeployTarget, type InfraEffects } from '../../infra/aws/deploy.js';
import { loadInfraProps, readInfraYaml } from '../../infra/aws/props.js';
import type { SweepBackend } from './backends/backend.js';
import { laneFiles, laneInfraConfig, type LaneFiles } from './lanes.js';
import { placementsOf } from './pairs.js';
import type { SweepSpec } from './spec.js';

/** How a sweep reaches its stacks (its lanes', or its one stack without lanes): AWS, or a rehearsal's moto in a test. */
export interface LaneStackOptions {
  /** Where lane k's stack goes; its Terraform state must be `files.state` and its cdktf output `files.cdktfOut`. */
  readonly targetFor: (files: LaneFiles) => DeployTarget;
  /** Wait for every instance's boot report and pin the host keys: instances that boot (AWS). */
  readonly waitForBoot: boolean;
  /** Runs before a lane deploys anything: the credentials check on AWS. */
  readonly preflight: () => void;
  readonly effects: InfraEffects;
}

/** On AWS: the lane's state and cdktf output in its folder; the operator's credentials. */
export const awsLaneTarget = (files: LaneFiles): DeployTarget => ({
  cdktfEnv: { [STATE_PATH_ENV]: files.state },
  cdktfArgs: ['--output', files.cdktfOut],
});

/** Lanes deploy at once: cdktf's output goes to the lane's infra.log, not the terminal; log lines name the lane. */
function laneEffects(effects: InfraEffects, files: LaneFiles): InfraEffects {
  const append = (text: string) => appendFileSync(files.log, text);
  return {
    ...effects,
    log: (line) => {
      append(`${line}\n`);
      effects.log(`lane ${files.lane}: ${line}`);
    },
    run: async (command, options = {}) => {
      append(`$ ${command.join(' ')}\n`);
      const result = await effects.run(command, { ...options, echo: false });
      append(`${result.stdout}${result.stderr}(exit ${result.exitCode ?? result.signal})\n`);
      return result;
    },
  };
}

/** Whether the state names anything deployed: a lane never deployed, or destroyed since, has nothing to remove. */
function holdsResources(statePath: string): boolean {
  if (!existsSync(statePath)) return false;
  try {
    return ((JSON.parse(readFileSync(statePath, 'utf8')) as { resources?: unknown[] }).resources ?? []).length > 0;
  } catch {
    return true; // unreadable: let terraform decide
  }
}

/** Lane `lane` of the sweep: its own stack, deployed by up() for a cell and destroyed by down() after it. */
export function laneStack(spec: SweepSpec, lane: number, options: LaneStackOptions): SweepBackend {
  const files = laneFiles(spec.dir, lane);
  const source = spec.infra.aws.config;
  const effects = () => laneEffects(options.effects, files);
  return {
    name: 'aws',
    serversPath: files.servers,
    async up() {
      options.preflight();
      const props = loadInfraProps(source);
      const settings = readInfraYaml(source) as Record<string, unknown>; // an object: loadInfraProps accepted it
      mkdirSync(files.dir, { recursive: true });
      const header = `# Written by criu-lab sweep ${spec.name} for lane ${lane} from ${source}: its settings, a prefix of the lane's own, one node pair per placement.\n`;
      writeFileSync(files.config, header + stringify(laneInfraConfig(settings, props, lane, placementsOf(spec))));
      await deployLab(
        {
          configPath: files.config,
          serversPath: files.servers,
          outputsPath: files.outputs,
          destroyAfter: false,
          waitForBoot: options.waitForBoot,
          bootTimeoutMs: spec.infra.aws.bootTimeoutMin * 60_000,
          target: options.targetFor(files),
        },
        effects(),
      );
    },
    async down() {
      if (!holdsResources(files.state)) return;
      await destroyLab(files.config, effects(), options.targetFor(files));
    },
    prepareRun: async () => undefined,
    describe: () => `lane ${lane}'s AWS stack (${files.config}, state ${files.state}) may still be up and billing; rerunning the sweep destroys it first`,
  };
}
