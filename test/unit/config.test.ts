import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { loadPlan, substitute, type LoadOptions } from '../../experiments/config/load.js';
import { problemsFrom } from '../support/problems.js';

const repoRoot = resolve(import.meta.dirname, '../..');
/** A copy of the shipped config/ without a servers.yaml, so a developer's lab does not leak in. */
let projectRoot: string;
let dir: string;
let key: string;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function servers(extra = ''): string {
  return file(
    `servers-${Math.random().toString(36).slice(2)}.yaml`,
    `nodes:\n  ssh_user: root\n  ssh_key: ${key}\n  source: { ip: 10.9.0.11, name: n1 }\n  destination: { ip: 10.9.0.12, name: n2 }\n${extra}`,
  );
}

function load(options: Partial<LoadOptions> = {}) {
  return loadPlan({ projectRoot, env: {}, cwd: dir, serversFile: servers(), ...options }).plan;
}

/** The problems a load reports, or [] when it succeeds. */
const problemsOf = (options: Partial<LoadOptions>) => problemsFrom(() => load(options));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-config-'));
  projectRoot = join(dir, 'project');
  cpSync(join(repoRoot, 'config/default.yaml'), join(projectRoot, 'config/default.yaml'));
  cpSync(join(repoRoot, 'config/workloads'), join(projectRoot, 'config/workloads'), { recursive: true });
  key = file('id_test', 'not really a key');
});

describe('loading a plan', () => {
  it('uses the seed defaults when only servers.yaml is given', () => {
    const plan = load();
    expect(plan.workload).toEqual({ type: 'memory', params: { mb_size: 256, interval: 5, max_memory: 8192 }, readyFile: 'checkpoint_ready' });
    expect(plan.checkpoint.strategy).toMatchObject({
      mode: 'full',
      predumpIterations: 8,
      predumpIntervalS: 10,
      predumpIntervalFrom: 'end',
      syncAfterPredump: false,
      lazyPages: false,
      pageServerPort: 27000,
    });
    expect(plan.checkpoint).toMatchObject({ scriptsDir: undefined, dataDir: undefined });
    expect(plan.experiment).toMatchObject({
      trigger: { kind: 'warm' },
      description: undefined,
      metricsFile: undefined,
      logLevel: 'info',
      cleanup: true,
      successCriteria: { processRunning: true, dataIntegrity: true },
      inertKeys: [],
    });
    expect(plan.transfer).toMatchObject({
      method: 'rsync',
      s3Prefix: 'criu-checkpoints',
      streams: 1,
      encrypt: true,
      rsync: { cipher: 'aes128-gcm@openssh.com', compress: false, daemonPort: 28873 },
    });
    expect(plan.nodes.source).toEqual({ ip: '10.9.0.11', name: 'n1' });
  });

  it('applies default.yaml < workloads/<type>.yaml < servers.yaml < experiment file < flags', () => {
    const experiment = file('exp.yaml', 'experiment: { name: exp }\nworkload: { mb_size: 128 }\nnodes: { destination: { ip: 10.9.0.99 } }\n');
    expect(load({ configFile: experiment }).workload.params['mb_size']).toBe(128);
    expect(load({ configFile: experiment }).nodes.destination.ip).toBe('10.9.0.99');
    const plan = load({
      configFile: experiment,
      overrides: [
        { path: 'workload.mb_size', value: '64', flag: '--mb-size' },
        { path: 'nodes.destination.ip', value: '10.9.0.50', flag: '--dest-ip' },
      ],
    });
    expect(plan.workload.params['mb_size']).toBe(64);
    expect(plan.nodes.destination.ip).toBe('10.9.0.50');
    expect(plan.experiment.name).toBe('exp');
    expect(plan.sources).toEqual(['project/config/default.yaml', 'project/config/workloads/memory.yaml', expect.stringMatching(/^servers-/), 'exp.yaml']);
  });

  it('takes node addresses from the environment when servers.yaml is absent', () => {
    const plan = loadPlan({
      projectRoot,
      cwd: dir,
      serversFile: undefined,
      configFile: file('keyonly.yaml', `nodes: { ssh_key: ${key} }\n`),
      env: { SOURCE_NODE_IP: '10.9.1.1', DEST_NODE_IP: '10.9.1.2' },
    }).plan;
    expect([plan.nodes.source.ip, plan.nodes.destination.ip]).toEqual(['10.9.1.1', '10.9.1.2']);
  });

  it('substitutes ${VAR} and ${VAR:-default}, leaving unset variables visible', () => {
    expect(substitute({ a: '${X}', b: ['${Y:-dflt}'], c: 'p-${Z}-q' }, { X: 'x' })).toEqual({ a: 'x', b: ['dflt'], c: 'p-${Z}-q' });
  });

  it('reads the S3 bucket from AWS_S3_BUCKET', () => {
    expect(loadPlan({ projectRoot, cwd: dir, serversFile: servers(), env: { AWS_S3_BUCKET: 'my-bucket' } }).plan.transfer.s3Bucket).toBe('my-bucket');
  });

  it('lets the highest layer that names a workload type decide it', () => {
    const experiment = file('type.yaml', 'experiment: { workload_type: memory }\n');
    expect(load({ configFile: experiment }).workload.type).toBe('memory');
  });

  it('returns a frozen plan', () => {
    const plan = load();
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.nodes.source)).toBe(true);
    expect(Object.isFrozen(plan.workload.params)).toBe(true);
  });
});

describe('placement', () => {
  const zones = (azA: number, azC: number) =>
    `all_nodes:\n  az_a: [${Array.from({ length: azA }, (_, i) => `{ ip: 10.9.0.${11 + i}, name: a${i} }`).join(', ')}]\n  az_c: [${Array.from({ length: azC }, (_, i) => `{ ip: 10.9.1.${11 + i}, name: c${i} }`).join(', ')}]\n`;
  const placed = (placement: string, azA: number, azC: number) =>
    load({ serversFile: servers(zones(azA, azC)), overrides: [{ path: 'experiment.placement', value: placement, flag: '--placement' }] });

  it('picks two nodes of one zone for same-az', () => {
    const plan = placed('same-az', 2, 1);
    expect([plan.nodes.source.name, plan.nodes.destination.name, plan.experiment.placement]).toEqual(['a0', 'a1', 'same-az']);
  });

  it('picks the first node of two zones for cross-az', () => {
    const plan = placed('cross-az', 2, 1);
    expect([plan.nodes.source.name, plan.nodes.destination.name, plan.experiment.placement]).toEqual(['a0', 'c0', 'cross-az']);
  });

  it('infers the placement of the configured pair from all_nodes', () => {
    expect(load({ serversFile: servers(zones(2, 1)) }).experiment.placement).toBe('same-az');
    expect(load().experiment.placement).toBeUndefined();
  });

  it('says what is missing when the zones cannot give the pair', () => {
    expect(problemsOf({ serversFile: servers(zones(1, 1)), overrides: [{ path: 'experiment.placement', value: 'same-az', flag: '--placement' }] })).toEqual([
      expect.stringMatching(
        /^experiment\.placement: same-az needs two nodes in one zone of all_nodes \(servers\.yaml has az_a: 1, az_c: 1\) \(from --placement\); fix: .*lab up --nodes 4/,
      ),
    ]);
    expect(problemsOf({ overrides: [{ path: 'experiment.placement', value: 'sideways', flag: '--placement' }] })).toEqual([
      'experiment.placement: must be one of: same-az, cross-az, got "sideways" (from --placement)',
    ]);
  });
});

describe('configuration errors', () => {
  it('reports three mistakes at once, each with its path and the file it came from', () => {
    const bad = file('three.yaml', 'checkpoint: { strategy: { mode: fastest } }\ntransfer: { method: pigeon }\nworkload: { mb_size: -5 }\n');
    const problems = problemsOf({ configFile: bad });
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(
      /^checkpoint\.strategy\.mode: unknown checkpoint strategy 'fastest'; choose one of: full, predump, pageserver, lazy \(from three\.yaml\)/,
    );
    expect(problems[1]).toMatch(/^transfer\.method: unknown transfer method 'pigeon'.*\(from three\.yaml\)/);
    expect(problems[2]).toMatch(/^workload\.mb_size: .*-5.*\(from three\.yaml\)/);
  });

  it('refuses rsync streams and the unencrypted daemon for another transfer method, naming each key', () => {
    const problems = problemsOf({
      configFile: file('streams.yaml', 'transfer: { method: efs, streams: 4, encrypt: false }\n'),
    });
    expect(problems).toEqual([
      expect.stringMatching(/^transfer\.streams: applies to transfer\.method rsync only, not efs; leave it at 1 \(from streams\.yaml\)/),
      expect.stringMatching(/^transfer\.encrypt: false applies to transfer\.method rsync only, not efs; leave it true/),
    ]);
  });

  it('names the flag of a stream count out of range and a cipher OpenSSH does not offer', () => {
    const problems = problemsOf({
      overrides: [
        { path: 'transfer.streams', value: '0', flag: '--streams' },
        { path: 'transfer.rsync.cipher', value: 'rc4', flag: '--cipher' },
      ],
    });
    expect(problems).toEqual([
      expect.stringMatching(/^transfer\.streams: .*(>=|at least) ?1.*\(from --streams\)/),
      expect.stringMatching(/^transfer\.rsync\.cipher: must be an OpenSSH cipher: aes128-gcm@openssh\.com, .*\(from --cipher\)/),
    ]);
  });

  it('rejects a shell injection in a numeric flag and names the flag', () => {
    const problems = problemsOf({ overrides: [{ path: 'workload.mb_size', value: '1; touch /tmp/x', flag: '--mb-size' }] });
    expect(problems).toEqual(['workload.mb_size: expected number, got "1; touch /tmp/x" (from --mb-size)']);
  });

  it('names an unset environment variable, the file that uses it, and how to fix it', () => {
    const problems = problemsOf({ serversFile: undefined, configFile: file('k.yaml', `nodes: { ssh_key: ${key} }\n`) });
    expect(problems).toEqual([
      expect.stringMatching(/^nodes\.source\.ip: environment variable SOURCE_NODE_IP is not set \(from .*config\/default\.yaml\); fix: run `criu-lab lab up`/),
      expect.stringMatching(/^nodes\.destination\.ip: environment variable DEST_NODE_IP is not set/),
    ]);
  });

  it('reports invalid YAML with the file name', () => {
    expect(problemsOf({ configFile: file('broken.yaml', 'experiment: [unclosed\n') })).toEqual([expect.stringMatching(/^broken\.yaml: invalid YAML/)]);
  });

  it('reports a file whose top level is not a mapping', () => {
    expect(problemsOf({ configFile: file('list.yaml', '- a\n- b\n') })).toEqual(['list.yaml: must be a YAML mapping (key: value) at the top level']);
  });

  it('reports a missing experiment file and a missing servers file', () => {
    expect(problemsOf({ configFile: join(dir, 'nope.yaml') })).toEqual(['nope.yaml: file not found; check the path']);
    expect(problemsOf({ serversFile: join(dir, 'gone.yaml') })).toEqual(expect.arrayContaining(['gone.yaml: file not found; check the path']));
  });

  it('reports wrong types, bad addresses, relative paths and out-of-range ports', () => {
    const bad = file(
      'types.yaml',
      [
        'experiment: { save_metrics: "yes" }',
        'nodes: { ssh_port: 70000, source: { ip: "not an ip!" } }',
        'checkpoint: { dirs: { working_dir: relative/dir } }',
        'workload: { interval: zero }',
      ].join('\n'),
    );
    const problems = problemsOf({ configFile: bad });
    expect(problems).toEqual(
      expect.arrayContaining([
        'experiment.save_metrics: expected boolean, got "yes" (from types.yaml)',
        expect.stringMatching(/^nodes\.ssh_port: .*70000.* \(from types\.yaml\)/),
        'nodes.source.ip: is not an IP address or host name (from types.yaml)',
        expect.stringMatching(/^checkpoint\.dirs\.working_dir: must be an absolute path.*\(from types\.yaml\)/),
        'workload.interval: expected number, got "zero" (from types.yaml)',
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('rejects an unknown workload', () => {
    expect(problemsOf({ overrides: [{ path: 'workload.type', value: 'bitcoin', flag: '--workload' }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^workload\.type: unknown workload 'bitcoin'; choose one of: memory, .*dataproc.* \(from --workload\)/)]),
    );
  });

  it('rejects the same node as source and destination', () => {
    const same = file('same.yaml', 'nodes: { destination: { ip: 10.9.0.11 } }\n');
    expect(problemsOf({ configFile: same })).toEqual([expect.stringMatching(/^nodes\.destination\.ip: is the same address as nodes\.source\.ip/)]);
  });

  it('rejects a missing SSH key file and says how to get one', () => {
    expect(problemsOf({ configFile: file('nokey.yaml', 'nodes: { ssh_key: /nonexistent/key }\n') })).toEqual([
      expect.stringMatching(/^nodes\.ssh_key: no such file \/nonexistent\/key \(from nokey\.yaml\); fix: .*lab up/),
    ]);
  });
});
