// The stack's own SSH key: with no key named in infra.yaml, `infra deploy` makes a pair for this
// stack alone (as `lab up` does for a lab), the synthesized stack authorizes exactly its public
// half, and servers.yaml names its private half; a key the user names is used instead, untouched.
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureStackKey } from '../../infra/aws/deploy.js';
import { parseInfraProps, type InfraConfig } from '../../infra/aws/props.js';
import { expandHome } from '../../core/paths.js';
import { MOCKED_APPLY_OUTPUTS, TEST_PUBLIC_KEY, synthStack } from './helpers.js';
import { buildServersDocument } from '../../infra/aws/servers.js';
import { readStackOutputs } from '../../infra/aws/outputs.js';

const NO_KEY: InfraConfig = { operator_cidr: '198.51.100.7/32', public_key: undefined, private_key_path: undefined };
const savedHome = process.env['HOME'];

beforeAll(() => {
  process.env['HOME'] = mkdtempSync(join(tmpdir(), 'criu-lab-stack-key-'));
});
afterAll(() => {
  process.env['HOME'] = savedHome;
});

describe('with no key in infra.yaml', () => {
  it("plans a key of the stack's own, under ~/.criu-lab/keys, not the operator's personal key", () => {
    const props = parseInfraProps({ ...NO_KEY, prefix: 'lab-one' });
    expect(props).toMatchObject({
      generatedKey: true,
      privateKeyPath: '~/.criu-lab/keys/aws-lab-one/id_ed25519',
      publicKeyPath: '~/.criu-lab/keys/aws-lab-one/id_ed25519.pub',
    });
  });

  it('makes the pair once, private half 0600, and the synthesized stack authorizes exactly its public half', async () => {
    const props = parseInfraProps(NO_KEY);
    const logged: string[] = [];
    await ensureStackKey(props, (line) => logged.push(line));
    const privatePath = expandHome(props.privateKeyPath);
    expect(statSync(privatePath).mode & 0o777).toBe(0o600);
    const publicKey = readFileSync(`${privatePath}.pub`, 'utf8').trim();
    expect(publicKey).toMatch(/^ssh-ed25519 AAAA\S+ criu-lab stack criu-lab$/);
    expect(logged).toEqual([`SSH key of stack criu-lab: ${props.privateKeyPath}`]);

    const synth = synthStack(NO_KEY);
    expect(synth.resources('aws_key_pair')).toEqual([expect.objectContaining({ key_name: 'criu-lab-operator', public_key: publicKey })]);
    expect(JSON.stringify(synth.json)).not.toContain('PRIVATE KEY');

    // A redeploy keeps the key the running nodes accept.
    await ensureStackKey(props, () => undefined);
    expect(readFileSync(`${privatePath}.pub`, 'utf8').trim()).toBe(publicKey);
    expect(buildServersDocument(readStackOutputs(MOCKED_APPLY_OUTPUTS, 'criu-lab'), { privateKeyPath: props.privateKeyPath }).nodes.ssh_key).toBe(
      props.privateKeyPath,
    );
  });
});

describe('with a key named in infra.yaml', () => {
  it('uses it and makes none', async () => {
    const props = parseInfraProps({ ...NO_KEY, prefix: 'named', public_key_path: '~/.ssh/mine.pub' });
    expect(props).toMatchObject({ generatedKey: false, privateKeyPath: '~/.ssh/mine' });
    await ensureStackKey(props, () => undefined);
    expect(existsSync(expandHome('~/.criu-lab/keys/aws-named'))).toBe(false);
  });

  it('needs private_key_path beside an inline public_key, so servers.yaml can name the key', () => {
    expect(() => parseInfraProps({ ...NO_KEY, public_key: TEST_PUBLIC_KEY })).toThrow(/private_key_path: is needed with public_key/);
  });
});
