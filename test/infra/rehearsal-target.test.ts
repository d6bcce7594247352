// The seam `infra deploy --rehearsal` adds to the stack: the same resources, with every AWS service
// they call pointed at moto on loopback and a state file of the rehearsal's own; nothing of it
// when not rehearsing. And the flags a rehearsal refuses before it starts anything.
import { describe, expect, it, jest, afterEach } from '@jest/globals';
import { Command } from 'commander';
import { registerInfraCommands } from '../../infra/aws/cli.js';
import type { InfraEffects } from '../../infra/aws/deploy.js';
import {
  REHEARSAL_ENDPOINT_ENV,
  REHEARSAL_STATE_ENV,
  rehearsalTargetFromEnv,
  SERVICE_BY_TYPE_PREFIX,
  type RehearsalTarget,
} from '../../infra/aws/rehearsal/target.js';
import { UsageError } from '../../core/errors.js';
import { synthStack } from './helpers.js';

const TARGET: RehearsalTarget = { endpoint: 'http://127.0.0.1:40123', statePath: '/var/tmp/rehearsal/terraform.criu-lab.tfstate' };

/** The service a Terraform type's API calls go to, as the rehearsal's endpoints name them. */
const serviceOf = (type: string) => Object.entries(SERVICE_BY_TYPE_PREFIX).find(([prefix]) => type.startsWith(prefix))?.[1] ?? 'ec2';

describe('the stack in a rehearsal', () => {
  const real = synthStack();
  const rehearsal = synthStack({}, { rehearsal: TARGET });

  it('points every service its resources and data sources call at the rehearsal’s endpoint, and sts too', () => {
    const [provider] = rehearsal.json.provider.aws ?? [];
    const endpoints = (provider?.endpoints as readonly Record<string, string>[])[0] ?? {};
    const types = [...Object.keys(rehearsal.json.resource), ...Object.keys(rehearsal.json.data ?? {})];
    expect(types.length).toBeGreaterThan(20);
    for (const type of types) expect({ type, endpoint: endpoints[serviceOf(type)] }).toEqual({ type, endpoint: TARGET.endpoint });
    expect(endpoints).toEqual({
      ec2: TARGET.endpoint,
      efs: TARGET.endpoint,
      iam: TARGET.endpoint,
      s3: TARGET.endpoint,
      ssm: TARGET.endpoint,
      sts: TARGET.endpoint,
    });
  });

  it('uses made-up credentials and asks no real account, metadata service or virtual-host bucket', () => {
    expect(rehearsal.json.provider.aws?.[0]).toMatchObject({
      access_key: 'criu-lab-rehearsal',
      secret_key: 'criu-lab-rehearsal',
      skip_credentials_validation: true,
      skip_requesting_account_id: true,
      skip_metadata_api_check: 'true',
      s3_use_path_style: true,
    });
  });

  it('keeps its Terraform state in the rehearsal’s own file', () => {
    expect(rehearsal.json.terraform.backend).toEqual({ local: { path: TARGET.statePath } });
    expect(real.json.terraform.backend).not.toEqual(rehearsal.json.terraform.backend);
  });

  it('deploys the very resources of the real stack', () => {
    expect(rehearsal.json.resource).toEqual(real.json.resource);
    expect(rehearsal.json.output).toEqual(real.json.output);
  });

  it('leaves the FIS template of a spot stack out, since moto cannot read one back, and nothing else', () => {
    const spot = synthStack({ market: 'spot' });
    const spotRehearsal = synthStack({ market: 'spot' }, { rehearsal: TARGET });
    expect(Object.keys(spot.json.resource.aws_fis_experiment_template ?? {})).toHaveLength(1);
    expect(spotRehearsal.json.resource.aws_fis_experiment_template).toBeUndefined();
    const withoutFis = (json: typeof spot.json) =>
      Object.fromEntries(
        Object.entries(json.resource)
          .filter(([type]) => !type.startsWith('aws_fis_'))
          .map(([type, byName]) => [type, Object.fromEntries(Object.entries(byName).filter(([name]) => !name.startsWith('spot-interruption')))]),
      );
    expect(withoutFis(spotRehearsal.json)).toEqual(withoutFis(spot.json));
  });

  it('adds nothing to the real stack’s provider when not rehearsing', () => {
    expect(real.json.provider.aws).toEqual([{ region: 'us-west-2', default_tags: [{ tags: { 'criu-lab:stack': 'criu-lab', project: 'criu-lab' } }] }]);
  });
});

describe('the rehearsal target in the environment of the synth', () => {
  it('is absent unless infra deploy --rehearsal set it', () => {
    expect(rehearsalTargetFromEnv({})).toBeUndefined();
    expect(rehearsalTargetFromEnv({ [REHEARSAL_ENDPOINT_ENV]: TARGET.endpoint, [REHEARSAL_STATE_ENV]: TARGET.statePath })).toEqual(TARGET);
  });

  it('fails if only half of it is set: a rehearsal must not touch a real deploy’s state', () => {
    expect(() => rehearsalTargetFromEnv({ [REHEARSAL_ENDPOINT_ENV]: TARGET.endpoint })).toThrow(UsageError);
    expect(() => rehearsalTargetFromEnv({ [REHEARSAL_STATE_ENV]: TARGET.statePath })).toThrow(/set together/);
  });

  it('fails if the endpoint is anything but 127.0.0.1', () => {
    for (const endpoint of ['http://10.0.0.5:5000', 'https://127.0.0.1:5000', 'http://localhost:5000', 'http://127.0.0.1:5000/x']) {
      expect(() => rehearsalTargetFromEnv({ [REHEARSAL_ENDPOINT_ENV]: endpoint, [REHEARSAL_STATE_ENV]: TARGET.statePath })).toThrow(/127\.0\.0\.1/);
    }
  });
});

describe('criu-lab infra deploy --rehearsal and infra bake --rehearsal (command line)', () => {
  afterEach(() => {
    process.exitCode = undefined;
    jest.restoreAllMocks();
  });

  /** The command line with an edge that records every command instead of running it. */
  function cli() {
    const commands: string[][] = [];
    const effects: InfraEffects = {
      run: async (command) => {
        commands.push([...command]);
        throw new Error('nothing may run');
      },
      consoleReader: () => async () => '',
      log: () => undefined,
      bootPollMs: 0,
    };
    return { program: registerInfraCommands(new Command('criu-lab').exitOverride(), effects).parent as Command, commands };
  }

  it.each([
    [['deploy', '--rehearsal', '--run', 'experiment.yaml', '--no-wait-for-boot'], /--run with --no-wait-for-boot: the experiment runs on the guests/],
    [['deploy', '--rehearsal', '--boot-timeout', '0'], /--boot-timeout 0 must be a positive number of minutes/],
    [['deploy', '--stock-image'], /for --rehearsal only[\s\S]*--stock-image: a real deploy boots the config's ami/],
    [['deploy', '--setup-host', 'broken.sh'], /for --rehearsal only[\s\S]*--setup-host: a real deploy boots with scripts\/setup-host.sh/],
    [['bake', '--rehearsal', '--no-reboot'], /--no-reboot with --rehearsal/],
    [['bake', '--stock-image'], /--stock-image is for --rehearsal only/],
  ])('refuses %j with a usage error (exit 2) before it starts anything', async (flags, problem) => {
    const errors: string[] = [];
    jest.spyOn(console, 'error').mockImplementation((line: string) => void errors.push(line));
    const { program, commands } = cli();
    await program.parseAsync(['node', 'criu-lab', 'infra', ...flags]);
    expect(process.exitCode).toBe(2);
    expect(errors.join('\n')).toMatch(problem);
    expect(commands).toEqual([]);
  });
});
