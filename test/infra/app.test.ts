import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { buildLabApp, PREVIEW_OPERATOR_CIDR } from '../../infra/aws/app.js';

interface PreviewJson {
  readonly variable: Readonly<Record<string, unknown>>;
  readonly resource: { readonly aws_vpc_security_group_ingress_rule: Readonly<Record<string, { readonly cidr_ipv4?: string }>> };
}

const EXAMPLE = fileURLToPath(new URL('../../config/infra.example.yaml', import.meta.url));

/** Runs `action` in a fresh folder holding only config/infra.example.yaml, like a fresh clone. */
function inFreshClone<T>(action: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'criu-lab-clone-'));
  mkdirSync(join(dir, 'config'));
  copyFileSync(EXAMPLE, join(dir, 'config', 'infra.example.yaml'));
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    return action(dir);
  } finally {
    process.chdir(cwd);
  }
}

describe('the cdktf app', () => {
  it('synthesizes a preview in a fresh clone, with a guard variable that fails any plan of it', () => {
    const json = inFreshClone((dir) => {
      const { app, stack, preview } = buildLabApp({ outdir: join(dir, 'cdktf.out') });
      expect(preview).toBe(true);
      app.synth();
      const path = join(dir, 'cdktf.out', 'stacks', stack.props.prefix, 'cdk.tf.json');
      return JSON.parse(readFileSync(path, 'utf8')) as PreviewJson;
    });
    expect(json.variable.preview_only).toMatchObject({
      default: true,
      validation: [{ condition: '${!var.preview_only}', error_message: expect.stringContaining('config/infra.yaml') }],
    });
    const ingress = Object.values(json.resource.aws_vpc_security_group_ingress_rule);
    expect(ingress.flatMap((r) => (r.cidr_ipv4 ? [r.cidr_ipv4] : []))).toEqual([PREVIEW_OPERATOR_CIDR]);
  });

  it('refuses a config path that does not exist instead of previewing', () => {
    inFreshClone(() => {
      expect(() => buildLabApp({ configPath: 'config/infra.yaml' })).toThrow(/cp config\/infra\.example\.yaml/);
    });
  });
});
