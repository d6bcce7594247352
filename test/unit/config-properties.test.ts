// Config loading under arbitrary input: whatever a YAML file or a flag holds, the loader either
// returns a plan or throws a UsageError listing the problems, never anything else. And keys no
// setting reads (typos, the seed framework's own) warn with "did you mean", or fail under --strict.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { configSchema, loadPlan, type ConfigOverride, type LoadedPlan, type LoadOptions } from '../../experiments/config/load.js';
import { closestKey, knownKeysOf, type KnownKeys } from '../../experiments/config/unknown-keys.js';
import { UsageError } from '../../core/errors.js';
import { workloads } from '../../workloads/registry.js';
import { renderServersYaml as renderLabServers } from '../../infra/local/servers.js';
import { buildServersDocument, renderServersYaml as renderAwsServers } from '../../infra/aws/servers.js';
import { readStackOutputs } from '../../infra/aws/outputs.js';
import { MOCKED_APPLY_OUTPUTS } from '../infra/helpers.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const RUNS = { numRuns: 150 };
let projectRoot: string;
let dir: string;
let servers: string;
let fileCount = 0;

function file(text: string): string {
  const path = join(dir, `f${fileCount++}.yaml`);
  writeFileSync(path, text);
  return path;
}

function load(options: Partial<LoadOptions> = {}) {
  return loadPlan({ projectRoot, env: {}, cwd: dir, serversFile: servers, ...options });
}

/** Loads and returns the outcome; fails the property when anything but a UsageError escapes. */
function outcome(options: Partial<LoadOptions>): LoadedPlan | UsageError {
  try {
    return load(options);
  } catch (error) {
    if (!(error instanceof UsageError)) throw new Error(`loader threw ${String(error)} (${(error as Error)?.constructor?.name}) instead of a UsageError`);
    expect(error.problems.length).toBeGreaterThan(0);
    for (const problem of error.problems) expect(typeof problem).toBe('string');
    return error;
  }
}

/** Every dotted path the schema reads, so arbitrary values land where the loader looks. */
function pathsOf(known: KnownKeys | 'leaf', prefix = ''): string[] {
  if (known === 'leaf' || known === 'any') return prefix ? [prefix] : [];
  return Object.entries(known).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [path, ...pathsOf(child, path)];
  });
}

const schemaPaths = pathsOf(knownKeysOf(configSchema));
const workloadPaths = [...new Set(workloads.all().flatMap((w) => w.params.map((p) => `workload.${p.key}`)))];
const keyName = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'type', '', ' ', '.', '<<'), fc.string({ maxLength: 12 }));
const anyPath = fc.oneof(
  fc.constantFrom(...schemaPaths, ...workloadPaths),
  fc.array(keyName, { minLength: 1, maxLength: 4 }).map((keys) => keys.join('.')),
);
/** YAML-representable values, and the odd shapes YAML produces (null, nested arrays, huge numbers). */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, -0.5, 0, 1e308, Number.MAX_SAFE_INTEGER, '-1', '1e9', '', '${UNSET}', '${HOME:-x}', '~', 'null', 'true', '1; touch /tmp/x', '$(id)'),
);

function tree(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [path, value] of entries) {
    const keys = path.split('.');
    let node = root;
    for (const key of keys.slice(0, -1)) {
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
      if (typeof next !== 'object' || next === null || Array.isArray(next))
        Object.defineProperty(node, key, { value: {}, enumerable: true, writable: true, configurable: true });
      node = node[key] as Record<string, unknown>;
    }
    Object.defineProperty(node, keys[keys.length - 1]!, { value, enumerable: true, writable: true, configurable: true });
  }
  return root;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-config-props-'));
  projectRoot = join(dir, 'project');
  cpSync(join(repoRoot, 'config/default.yaml'), join(projectRoot, 'config/default.yaml'));
  cpSync(join(repoRoot, 'config/workloads'), join(projectRoot, 'config/workloads'), { recursive: true });
  const key = join(dir, 'id_test');
  writeFileSync(key, 'not really a key');
  const knownHosts = join(dir, 'known_hosts');
  writeFileSync(knownHosts, '10.9.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE1qxJ7mw4LgXvJYb2gYzE0tJp7p4B9q0b2b3b4b5b6b\n');
  servers = file(
    `nodes:\n  ssh_user: root\n  ssh_key: ${key}\n  known_hosts: ${knownHosts}\n  source: { ip: 10.9.0.11, name: n1 }\n  destination: { ip: 10.9.0.12, name: n2 }\n`,
  );
});

describe('config loading under arbitrary input', () => {
  it('never throws anything but a UsageError for an arbitrary experiment file text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => void outcome({ configFile: file(text) })),
      RUNS,
    );
  });

  it('never throws anything but a UsageError for arbitrary YAML-looking lines', () => {
    const line = fc.tuple(
      fc.constantFrom('', '  ', '    ', '- '),
      fc.constantFrom(...schemaPaths.map((p) => p.split('.').pop()!), 'x'),
      fc.constantFrom(': ', ':', ': [', ': {', ': &a ', ': *a', ': !!binary ', ': |', ': "'),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (lines) => void outcome({ configFile: file(lines.map((l) => l.join('')).join('\n')) })),
      RUNS,
    );
  });

  it('never throws anything but a UsageError for arbitrary values at arbitrary keys', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyPath, anyValue), { minLength: 1, maxLength: 6 }), (entries) => {
        const text = stringify(tree(entries));
        void outcome({ configFile: file(text) });
      }),
      RUNS,
    );
  });

  it('never throws anything but a UsageError for arbitrary flag strings', () => {
    const flag = fc.tuple(
      fc.constantFrom(...schemaPaths, ...workloadPaths),
      fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('-1', '0', 'auto', 'aws', 'NaN', 'Infinity', '1e400', ' 5 ', '0x10')),
    );
    fc.assert(
      fc.property(fc.array(flag, { minLength: 1, maxLength: 5 }), (flags) => {
        const overrides: ConfigOverride[] = flags.map(([path, value]) => ({ path, value, flag: `--${path.split('.').pop()!.replace(/_/g, '-')}` }));
        void outcome({ overrides });
      }),
      RUNS,
    );
  });

  it('keeps a __proto__ key in a file from changing every object in the process (found by the property above)', () => {
    const { warnings } = load({ configFile: file('__proto__: { polluted: yes }\nexperiment:\n  __proto__: { name: x }\n  constructor: 1\n') });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(warnings).toHaveLength(3);
    expect(warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^__proto__: unknown key/),
        expect.stringMatching(/^experiment\.__proto__: unknown key/),
        expect.stringMatching(/^experiment\.constructor: unknown key/),
      ]),
    );
  });

  it('reports an alias without its anchor as invalid YAML (found by the property above)', () => {
    expect((outcome({ configFile: file('experiment: *a\n') }) as UsageError).problems).toEqual([expect.stringMatching(/invalid YAML: Unresolved alias/)]);
  });

  it('reports every negative size and count with its path instead of starting', () => {
    const error = outcome({
      overrides: [
        { path: 'workload.mb_size', value: '-64', flag: '--mb-size' },
        { path: 'workload.max_memory', value: -1, flag: '--max-memory' },
        { path: 'checkpoint.strategy.predump_iterations', value: '-3', flag: '--predump-iterations' },
        { path: 'timeouts.dump_s', value: -5, flag: 'timeouts.dump_s' },
      ],
    });
    expect(error).toBeInstanceOf(UsageError);
    const problems = (error as UsageError).problems.join('\n');
    for (const path of ['workload.mb_size', 'workload.max_memory', 'checkpoint.strategy.predump_iterations', 'timeouts.dump_s'])
      expect(problems).toContain(path);
  });

  it('names the unknown strategy, transfer and workload with the choices', () => {
    const error = outcome({
      configFile: file('checkpoint: { strategy: { mode: fastest } }\ntransfer: { method: pigeon }\nworkload: { type: bitcoin }\n'),
    }) as UsageError;
    const problems = error.problems.join('\n');
    expect(problems).toMatch(/checkpoint\.strategy\.mode: unknown checkpoint strategy 'fastest'; choose one of: full/);
    expect(problems).toMatch(/transfer\.method: unknown transfer method 'pigeon'; choose one of: rsync/);
    expect(problems).toMatch(/workload\.type: unknown workload 'bitcoin'; choose one of: memory/);
  });
});

describe('keys no setting reads', () => {
  const seedFile = [
    'experiment:',
    '  name: "seed-style"',
    '  workload_type: "memory"',
    '  save_metrics: true',
    '  log_level: debug',
    'checkpoint:',
    '  stratgy: { mode: full }',
    '  dirs: { working_dir: /srv/w, lazy_dir: /srv/lazy }',
    'workload:',
    '  mb_szie: 64',
    '',
  ].join('\n');

  it('loads a file written for the seed framework and warns about each unknown key, suggesting the near one', () => {
    const { plan, warnings } = load({ configFile: file(seedFile) });
    expect(plan.experiment.name).toBe('seed-style');
    expect(plan.checkpoint.workingDir).toBe('/srv/w');
    expect(warnings).toEqual([
      expect.stringMatching(/^experiment\.log_level: unknown key, ignored \(from .*\.yaml\)$/),
      expect.stringMatching(/^checkpoint\.dirs\.lazy_dir: unknown key, ignored \(from /),
      expect.stringMatching(/^checkpoint\.stratgy: unknown key, ignored; did you mean checkpoint\.strategy\? \(from /),
      expect.stringMatching(/^workload\.mb_szie: unknown key, ignored; did you mean workload\.mb_size\? \(from /),
    ]);
  });

  it('refuses the same file under --strict, naming every key', () => {
    const error = outcome({ configFile: file(seedFile), strict: true }) as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.problems).toHaveLength(4);
    expect(error.problems.join('\n')).toMatch(/workload\.mb_szie: unknown key; did you mean workload\.mb_size\?.*fix: rename or remove it/);
  });

  it('refuses unknown keys when the file itself sets experiment.strict', () => {
    const error = outcome({ configFile: file('experiment: { strict: true }\ntransfer: { mehtod: rsync }\n') }) as UsageError;
    expect(error.problems).toEqual([expect.stringMatching(/^transfer\.mehtod: unknown key; did you mean transfer\.method\?/)]);
  });

  it('points a key at the wrong level to where it belongs', () => {
    const { warnings } = load({ configFile: file('checkpoint: { predump_iterations: 3 }\n') });
    expect(warnings).toEqual([
      expect.stringMatching(/^checkpoint\.predump_iterations: unknown key, ignored; did you mean checkpoint\.strategy\.predump_iterations\?/),
    ]);
  });

  it('reads every key of the servers.yaml criu-lab writes itself, for a lab with storage and for an AWS deploy', () => {
    const key = join(dir, 'id_test');
    const knownHosts = join(dir, 'known_hosts');
    const node = (i: number) => ({ name: `n${i}`, ip: `10.77.9.${10 + i}`, netns: `b1-n${i}`, veth: `vb1-n${i}`, hostPid: 1, dir: '/tmp' });
    const lab = renderLabServers({
      name: 'b1',
      backend: 'namespaces',
      subnet: '10.77.9',
      bridge: 'br-b1',
      stateDir: '/var/lib/criu-lab/b1',
      sshKeyPath: key,
      knownHostsPath: knownHosts,
      serversPath: join(dir, 'lab-servers.yaml'),
      createdAt: '2026-01-01T00:00:00Z',
      bastion: 'n1',
      nodes: [node(1), node(2), node(3)],
      storage: {
        ip: '10.77.9.2',
        s3: { endpointUrl: 'http://10.77.9.2:9000', bucket: 'criu-lab', profile: 'criu-lab-s3' },
        efsMount: '/mnt/efs',
        ebs: { device: '/dev/loop7', mount: '/mnt/ebs' },
      },
    });
    expect(load({ serversFile: file(lab) }).warnings).toEqual([]);
    const aws = renderAwsServers(buildServersDocument(readStackOutputs(MOCKED_APPLY_OUTPUTS, 'criu-lab'), { privateKeyPath: key, knownHostsPath: knownHosts }));
    expect(load({ serversFile: file(aws), strict: true }).warnings).toEqual([]);
  });

  it('loads every shipped experiment file and workload defaults file without a warning', () => {
    for (const name of ['baseline', 'predump', 'pageserver', 'lazy_pages']) {
      expect(load({ configFile: join(repoRoot, 'config/experiments', `${name}.yaml`) }).warnings).toEqual([]);
    }
    for (const type of workloads.names())
      expect({ type, warnings: load({ overrides: [{ path: 'workload.type', value: type, flag: '--workload' }] }).warnings }).toEqual({ type, warnings: [] });
  });

  it('warns that host keys go unchecked when trusting unknown keys is asked for without a known_hosts file', () => {
    const bare = file(
      `nodes:\n  ssh_key: ${join(dir, 'id_test')}\n  trust_unknown_host_keys: true\n  source: { ip: 10.9.0.11 }\n  destination: { ip: 10.9.0.12 }\n`,
    );
    expect(load({ serversFile: bare }).warnings).toEqual([
      expect.stringMatching(/^nodes\.known_hosts: not set and nodes\.trust_unknown_host_keys is on.*fix: use the servers\.yaml written by `criu-lab lab up`/),
    ]);
  });

  it('names the intended key for any one-character typo of a known key', () => {
    const leaves = schemaPaths.filter((p) => !schemaPaths.some((q) => q.startsWith(`${p}.`)) && p.split('.').pop()!.length >= 4);
    const typo = fc.tuple(
      fc.constantFrom(...leaves),
      fc.nat(),
      fc.constantFrom('insert', 'delete', 'replace'),
      fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz_'),
    );
    fc.assert(
      fc.property(typo, ([path, at, edit, letter]) => {
        const keys = path.split('.');
        const name = keys.pop()!;
        const i = at % name.length;
        const wrong =
          edit === 'insert'
            ? name.slice(0, i) + letter + name.slice(i)
            : edit === 'delete'
              ? name.slice(0, i) + name.slice(i + 1)
              : name.slice(0, i) + letter + name.slice(i + 1);
        const wrongPath = [...keys, wrong].join('.');
        fc.pre(!schemaPaths.includes(wrongPath));
        // The hint comes as a warning, or among the problems when the typo left a required key unset.
        const result = outcome({ configFile: file(stringify(tree([[wrongPath, 1]]))) });
        const notes = result instanceof UsageError ? result.problems : result.warnings;
        expect(notes).toContainEqual(expect.stringContaining(`${wrongPath}: unknown key, ignored; did you mean ${keys.map((k) => `${k}.`).join('')}`));
      }),
      { numRuns: 100 },
    );
  });

  it('suggests only keys within a typo of the unknown one', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 6 }), (key, candidates) => {
        const suggestion = closestKey(key, candidates);
        if (suggestion !== undefined) expect(candidates).toContain(suggestion);
      }),
      RUNS,
    );
    expect(closestKey('predump_iteration', ['predump_iterations', 'predump_interval'])).toBe('predump_iterations');
    expect(closestKey('bucket', ['method', 'dest_dir'])).toBeUndefined();
  });
});

describe('the command line on bad input', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [join(repoRoot, 'bin/criu-lab.js'), 'run', '--dry-run', '--servers', servers, ...args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('exits 2 with every problem listed for invalid YAML and a negative size', () => {
    const result = cli(['-c', file('experiment: [unclosed\n'), '--mb-size', '-5']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/invalid YAML/);
  });

  it('exits 2 for an unknown key under --strict and warns without it', () => {
    const typo = file('transfer: { mehtod: rsync }\n');
    const strict = cli(['-c', typo, '--strict']);
    expect(strict.status).toBe(2);
    expect(strict.stderr).toMatch(/transfer\.mehtod: unknown key; did you mean transfer\.method\?/);
    const lenient = cli(['-c', typo]);
    expect(lenient.status).toBe(0);
    expect(lenient.stderr).toMatch(/warning: transfer\.mehtod: unknown key, ignored; did you mean transfer\.method\?/);
  });

  /** A real run (no --dry-run) against loopback addresses on a closed port: it must stop at connect. */
  const run = (nodes: string) =>
    spawnSync(
      process.execPath,
      [
        join(repoRoot, 'bin/criu-lab.js'),
        'run',
        '--servers',
        file(`nodes:\n${nodes}`),
        '-c',
        file('timeouts: { connect_s: 3 }\n'),
        '--trust-unknown-host-keys',
        '--results-dir',
        join(dir, 'results'),
      ],
      { cwd: dir, encoding: 'utf8', timeout: 60_000 },
    );

  it('exits 2 naming nodes.source.ip and the address when nothing answers there', () => {
    const key = join(dir, 'id_real');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const result = run(`  ssh_key: ${key}\n  ssh_port: 1\n  source: { ip: 127.0.0.2 }\n  destination: { ip: 127.0.0.3 }\n`);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /nodes\.(source|destination)\.ip: no SSH server answers at 127\.0\.0\.[23]:1 \(connect ECONNREFUSED .*\); fix: check the address/,
    );
  }, 60_000);

  it('exits 2 naming nodes.ssh_key when the key file is not a private key', () => {
    const result = run(`  ssh_key: ${join(dir, 'id_test')}\n  ssh_port: 1\n  source: { ip: 127.0.0.2 }\n  destination: { ip: 127.0.0.3 }\n`);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /nodes\.ssh_key: .*id_test is not a usable private key \(Unsupported key format\); fix: point nodes\.ssh_key at an OpenSSH private key/,
    );
  }, 60_000);
});
