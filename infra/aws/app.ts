// Builds the cdktf app from config/infra.yaml. Without that file (a fresh clone) it builds a
// preview from config/infra.example.yaml with placeholders that reach nothing, and a guard
// that makes any plan or apply of the preview fail.
import { existsSync } from 'node:fs';
import { App, Op, TerraformVariable } from 'cdktf';
import { assetPath } from '../../core/package-root.js';
import { DEFAULT_CONFIG_PATH, EXAMPLE_CONFIG_PATH } from './config-paths.js';
import { parseInfraProps, readInfraYaml, type InfraConfig } from './props.js';
import { CriuLabStack } from './stack.js';
import type { RehearsalTarget } from './rehearsal/target.js';

/** RFC 5737 documentation address: routes nowhere, so the preview's SSH rule admits no one. */
export const PREVIEW_OPERATOR_CIDR = '192.0.2.1/32';
/** A public key whose private half was thrown away when it was made. */
export const PREVIEW_PUBLIC_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII7eyoj4PMyYJ0heoONmsH3hUBG2DcP5kRLkwptoPI9A criu-lab-preview-no-private-key';

/** Named in no servers.yaml: a preview is never deployed. */
const PREVIEW_PRIVATE_KEY_PATH = '/nonexistent/criu-lab-preview-has-no-private-key';

export interface LabAppOptions {
  /** @default 'config/infra.yaml', or a preview when that file does not exist */
  readonly configPath?: string;
  /** @default - cdktf's choice (CDKTF_OUTDIR under `cdktf synth`, else cdktf.out) */
  readonly outdir?: string;
  /** Synthesize for a rehearsal against moto. @default - for AWS */
  readonly rehearsal?: RehearsalTarget;
  /** The Terraform state file of a deploy to AWS. @default - cdktf's: terraform.<prefix>.tfstate in its working directory */
  readonly statePath?: string;
}

export interface LabApp {
  readonly app: App;
  readonly stack: CriuLabStack;
  /** True when built from the example config with placeholders: synth only, never deploy. */
  readonly preview: boolean;
}

/** `config` once it has passed validation (errors name `source`), typed as what it now is. */
function validatedConfig(config: unknown, source: string): InfraConfig {
  parseInfraProps(config, source);
  return config as InfraConfig;
}

/** The config read from `path`, validated before any construct exists. */
export function loadInfraConfig(path: string): InfraConfig {
  return validatedConfig(readInfraYaml(path), path);
}

const PREVIEW_SOURCE = `${EXAMPLE_CONFIG_PATH} (preview)`;

function previewConfig(): InfraConfig {
  const example = readInfraYaml(assetPath(EXAMPLE_CONFIG_PATH));
  const settings = typeof example === 'object' && example !== null ? example : {};
  return validatedConfig(
    { ...settings, operator_cidr: PREVIEW_OPERATOR_CIDR, public_key: PREVIEW_PUBLIC_KEY, private_key_path: PREVIEW_PRIVATE_KEY_PATH },
    PREVIEW_SOURCE,
  );
}

export function buildLabApp(options: LabAppOptions = {}): LabApp {
  const configPath = options.configPath ?? DEFAULT_CONFIG_PATH;
  const preview = options.configPath === undefined && !existsSync(configPath);
  const app = new App(options.outdir === undefined ? {} : { outdir: options.outdir });
  const stack = preview
    ? new CriuLabStack(app, previewConfig(), { source: PREVIEW_SOURCE })
    : new CriuLabStack(app, loadInfraConfig(configPath), { source: configPath, rehearsal: options.rehearsal, statePath: options.statePath });
  if (preview) {
    const guard = new TerraformVariable(stack, 'preview_only', {
      type: 'bool',
      default: true,
      description: 'Set by a synth without config/infra.yaml; its placeholders must never be deployed.',
    });
    guard.addValidation({
      condition: Op.not(guard.booleanValue),
      errorMessage: `This stack is a preview synthesized without ${DEFAULT_CONFIG_PATH}: copy ${EXAMPLE_CONFIG_PATH} to ${DEFAULT_CONFIG_PATH}, set operator_cidr, and run criu-lab infra deploy.`,
    });
  }
  return { app, stack, preview };
}
