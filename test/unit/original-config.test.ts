// The original Python framework's config files (test/fixtures/original, same keys and values
// as ddps-lab/criu-test-workload's) load unchanged, and every key they hold has its effect on
// the plan, or is recorded as accepted without one.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { loadPlan, substitute, type LoadOptions } from '../../experiments/config/load.js';
import { ORIGINAL_ALIASES } from '../../experiments/config/original.js';
import type { Plan } from '../../experiments/config/plan.js';
import { problemsFrom } from '../support/problems.js';

const repoRoot = resolve(import.meta.dirname, '../..');
const ORIGINAL = join(repoRoot, 'test/fixtures/original');
const ORIGINAL_FILES = [
  'default.yaml',
  'experiments/baseline_predump.yaml',
  'experiments/efs_transfer.yaml',
  'experiments/lazy_pages.yaml',
  'workloads/memory.yaml',
];
const ENV = { SOURCE_NODE_IP: '10.0.1.10', DEST_NODE_IP: '10.0.1.11' };
let projectRoot: string;
let dir: string;
let key: string;
let fileCount = 0;

function file(text: string): string {
  const path = join(dir, `f${fileCount++}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** A servers.yaml with a key file that exists, so a real run's plan can be loaded. */
function servers(extra = ''): string {
  return file(`nodes:\n  ssh_user: ubuntu\n  ssh_key: ${key}\n  source: { ip: 10.0.1.10, name: a }\n  destination: { ip: 10.0.1.11, name: c }\n${extra}`);
}

function load(options: Partial<LoadOptions> = {}) {
  return loadPlan({ projectRoot, env: ENV, cwd: dir, serversFile: servers(), ...options });
}

/** The plan of a -c file holding `yaml`. */
const planOf = (yaml: string, options: Partial<LoadOptions> = {}): Plan => load({ configFile: file(yaml), ...options }).plan;

const problemsOf = (options: Partial<LoadOptions>) => problemsFrom(() => load(options));

/** Every leaf key of a YAML file, dotted. */
function leafPaths(tree: unknown, prefix = ''): string[] {
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) return [prefix];
  return Object.entries(tree).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-original-'));
  projectRoot = join(dir, 'project');
  cpSync(join(repoRoot, 'config/default.yaml'), join(projectRoot, 'config/default.yaml'));
  cpSync(join(repoRoot, 'config/workloads'), join(projectRoot, 'config/workloads'), { recursive: true });
  key = file('not really a key');
});

describe("the original's files, unchanged", () => {
  it.each(ORIGINAL_FILES)('plans %s with its servers.yaml.example and no key file, with no unknown key even under --strict', (name) => {
    const { plan, warnings, wouldRefuse } = load({
      configFile: join(ORIGINAL, name),
      serversFile: join(ORIGINAL, 'servers.yaml.example'),
      purpose: 'dry-run',
      strict: true,
    });
    expect(warnings.filter((w) => w.includes('unknown key'))).toEqual([]);
    expect(plan.nodes.sshUser).toBe('ubuntu');
    // At most the key file (~/.ssh/id_ed25519), when this machine has none, is what a real run would refuse.
    expect(wouldRefuse.filter((w) => !w.startsWith('nodes.ssh_key: no such file'))).toEqual([]);
  });

  it('shows the 4096 MiB heap cap of lazy_pages.yaml', () => {
    const { plan } = load({ configFile: join(ORIGINAL, 'experiments/lazy_pages.yaml'), purpose: 'dry-run' });
    expect(plan.workload.params).toMatchObject({ mb_size: 256, interval: 5, max_memory: 4096, check_lazy_loading: true });
    expect(plan.checkpoint.strategy).toMatchObject({ mode: 'predump', predumpIterations: 4, lazyPages: true, pageServerPort: 22222 });
  });

  it("still refuses, under --strict, a key that is neither criu-lab's nor the original's", () => {
    const problems = problemsOf({ configFile: file('logging: { level: INFO, colour: true }\n'), strict: true });
    expect(problems).toEqual([expect.stringMatching(/^logging\.colour: unknown key/)]);
  });
});

/** Each key of the original's files: a -c file that sets it, and what the plan shows for it. */
const EFFECTS: readonly (readonly [string, string, (plan: Plan) => void])[] = [
  ['experiment.name', 'experiment: { name: baseline-predump }', (p) => expect(p.experiment.name).toBe('baseline-predump')],
  ['experiment.workload_type', 'experiment: { workload_type: matmul }', (p) => expect(p.workload.type).toBe('matmul')],
  ['experiment.description', 'experiment: { description: "Baseline with pre-dumps" }', (p) => expect(p.experiment.description).toBe('Baseline with pre-dumps')],
  ['experiment.save_metrics', 'experiment: { save_metrics: false }', (p) => expect(p.experiment.saveMetrics).toBe(false)],
  ['experiment.metrics_file', 'experiment: { metrics_file: results/m.json }', (p) => expect(p.experiment.metricsFile).toBe(join(dir, 'results/m.json'))],
  ['nodes.ssh_user', 'nodes: { ssh_user: ubuntu }', (p) => expect(p.nodes.sshUser).toBe('ubuntu')],
  ['nodes.ssh_key', 'nodes: { ssh_key: "~/.ssh/other" }', (p) => expect(p.nodes.sshKey).toBe(join(homedir(), '.ssh/other'))],
  ['nodes.source.ip', 'nodes: { source: { ip: 10.0.1.20 } }', (p) => expect(p.nodes.source.ip).toBe('10.0.1.20')],
  ['nodes.source.name', 'nodes: { source: { name: source-node } }', (p) => expect(p.nodes.source.name).toBe('source-node')],
  ['nodes.destination.ip', 'nodes: { destination: { ip: 10.0.1.21 } }', (p) => expect(p.nodes.destination.ip).toBe('10.0.1.21')],
  ['nodes.destination.name', 'nodes: { destination: { name: dest-node } }', (p) => expect(p.nodes.destination.name).toBe('dest-node')],
  [
    'checkpoint.dirs.working_dir',
    'checkpoint: { dirs: { working_dir: /tmp/criu_checkpoint } }',
    (p) => expect(p.checkpoint.workingDir).toBe('/tmp/criu_checkpoint'),
  ],
  ['checkpoint.strategy.mode', 'checkpoint: { strategy: { mode: predump } }', (p) => expect(p.checkpoint.strategy.mode).toBe('predump')],
  [
    'checkpoint.strategy.predump_iterations',
    'checkpoint: { strategy: { predump_iterations: 4 } }',
    (p) => expect(p.checkpoint.strategy.predumpIterations).toBe(4),
  ],
  ['checkpoint.strategy.predump_interval', 'checkpoint: { strategy: { predump_interval: 3 } }', (p) => expect(p.checkpoint.strategy.predumpIntervalS).toBe(3)],
  [
    'checkpoint.strategy.sync_after_predump',
    'checkpoint: { strategy: { sync_after_predump: true } }',
    (p) => expect(p.checkpoint.strategy.syncAfterPredump).toBe(true),
  ],
  [
    'checkpoint.strategy.lazy_pages',
    'checkpoint: { strategy: { mode: predump, lazy_pages: true } }',
    (p) => expect(p.checkpoint.strategy.lazyPages).toBe(true),
  ],
  [
    'checkpoint.strategy.page_server_port',
    'checkpoint: { strategy: { page_server_port: 22222 } }',
    (p) => expect(p.checkpoint.strategy.pageServerPort).toBe(22222),
  ],
  [
    'checkpoint.strategy.wait_before_dump',
    'checkpoint: { strategy: { mode: full, wait_before_dump: 30 } }',
    (p) => expect(p.experiment.trigger).toEqual({ kind: 'wait', seconds: 30 }),
  ],
  ['transfer.method', 'transfer: { method: efs }', (p) => expect(p.transfer.method).toBe('efs')],
  ['transfer.dest_dir', 'transfer: { dest_dir: /tmp/criu_checkpoint }', (p) => expect(p.transfer.destDir).toBe('/tmp/criu_checkpoint')],
  ['transfer.efs_mount', 'transfer: { efs_mount: /mnt/shared }', (p) => expect(p.transfer.efsMount).toBe('/mnt/shared')],
  ['workload.type', 'workload: { type: redis }', (p) => expect(p.workload.type).toBe('redis')],
  ['workload.mb_size', 'workload: { mb_size: 64 }', (p) => expect(p.workload.params['mb_size']).toBe(64)],
  ['workload.interval', 'workload: { interval: 2.5 }', (p) => expect(p.workload.params['interval']).toBe(2.5)],
  ['workload.max_memory_mb', 'workload: { max_memory_mb: 4096 }', (p) => expect(p.workload.params['max_memory']).toBe(4096)],
  ['workload.mode', 'workload: { type: video, mode: file }', (p) => expect(p.workload.params['video_mode']).toBe('file')],
  ['workload.check_lazy_loading', 'workload: { check_lazy_loading: true }', (p) => expect(p.workload.params['check_lazy_loading']).toBe(true)],
  ['workload.working_dir', 'workload: { working_dir: /mnt/efs/criu_checkpoint }', (p) => expect(p.checkpoint.workingDir).toBe('/mnt/efs/criu_checkpoint')],
  ['workload.readiness.file_path', 'workload: { readiness: { file_path: ready_now } }', (p) => expect(p.workload.readyFile).toBe('ready_now')],
  ['workload.readiness.timeout', 'workload: { readiness: { timeout: 300 } }', (p) => expect(p.timeouts.readyS).toBe(300)],
  ['paths.scripts_dir', 'paths: { scripts_dir: /tmp/criu_checkpoint }', (p) => expect(p.checkpoint.scriptsDir).toBe('/tmp/criu_checkpoint')],
  ['paths.data_dir', 'paths: { data_dir: /tmp/criu_data }', (p) => expect(p.checkpoint.dataDir).toBe('/tmp/criu_data')],
  [
    'paths.data_setup.method',
    'paths: { data_setup: { method: generate } }',
    (p) => expect(p.experiment.inertKeys).toEqual([{ path: 'paths.data_setup', reason: expect.stringMatching(/generates its own data/) }]),
  ],
  [
    'migration.metrics',
    'migration: { metrics: [checkpoint_time, restore_time] }',
    (p) => expect(p.experiment.inertKeys).toEqual([{ path: 'migration.metrics', reason: expect.stringMatching(/every phase/) }]),
  ],
  [
    'migration.success_criteria.process_running',
    'migration: { success_criteria: { process_running: false } }',
    (p) => expect(p.experiment.successCriteria).toEqual({ processRunning: false, dataIntegrity: true }),
  ],
  [
    'migration.success_criteria.data_integrity_check',
    'migration: { success_criteria: { data_integrity_check: false } }',
    (p) => expect(p.experiment.successCriteria).toEqual({ processRunning: true, dataIntegrity: false }),
  ],
  ['logging.level', 'logging: { level: WARNING }', (p) => expect(p.experiment.logLevel).toBe('warning')],
  [
    'logging.format',
    'logging: { format: "%(message)s" }',
    (p) => expect(p.experiment.inertKeys).toEqual([{ path: 'logging.format', reason: expect.stringMatching(/logging\.level/) }]),
  ],
];

describe('each original key', () => {
  it('has a row here for every key the original files hold', () => {
    const keys = new Set(
      ORIGINAL_FILES.flatMap((name) => leafPaths(parse(readFileSync(join(ORIGINAL, name), 'utf8')))).filter((k) => !k.startsWith('presets.')),
    );
    expect([...keys].filter((k) => !EFFECTS.some(([path]) => k === path || k.startsWith(`${path}.`)))).toEqual([]);
  });

  it.each(EFFECTS)('%s takes effect on the plan and is recorded in resolvedConfig', (path, yaml, effect) => {
    const plan = planOf(`${yaml}\n`, { purpose: 'dry-run' });
    effect(plan);
    // An original name is recorded under the criu-lab key it sets.
    const recordedAs = ORIGINAL_ALIASES.find((a) => a.from === path)?.to ?? path;
    expect(
      recordedAs.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], plan.experiment.resolvedConfig),
    ).toBeDefined();
  });

  it('starts the pre-dumps right after ready when wait_before_dump is set, as the original does', () => {
    expect(planOf('checkpoint: { strategy: { mode: predump, wait_before_dump: 30 } }\n').experiment.trigger).toEqual({ kind: 'ready' });
  });

  it('says which key and file disagree when one file sets both names of a setting', () => {
    expect(problemsOf({ configFile: file('workload: { max_memory_mb: 4096, max_memory: 2048 }\n') })).toEqual([
      expect.stringMatching(/^workload\.max_memory_mb: 4096 disagrees with workload\.max_memory: 2048 in f\d+\.yaml/),
    ]);
  });
});

describe('the migration trigger', () => {
  const triggerOf = (yaml: string) => planOf(`${yaml}\n`).experiment.trigger;

  it('is warm unless a key asks otherwise', () => expect(triggerOf('{}')).toEqual({ kind: 'warm' }));

  it('waits for a target RSS, over wait_before_dump', () => {
    expect(triggerOf('checkpoint: { strategy: { wait_before_dump: 30, target_memory_mb: 2048 } }')).toEqual({ kind: 'rss', targetMb: 2048 });
  });

  it("takes experiment.migrate_after over the original's keys", () => {
    expect(triggerOf('experiment: { migrate_after: 5 }\ncheckpoint: { strategy: { target_memory_mb: 2048 } }')).toEqual({ kind: 'wait', seconds: 5 });
  });

  it('follows experiment.trigger when set', () => {
    expect(triggerOf('experiment: { trigger: ready, migrate_after: 5 }')).toEqual({ kind: 'ready' });
    expect(triggerOf('experiment: { trigger: wait }\ncheckpoint: { strategy: { mode: predump, wait_before_dump: 12 } }')).toEqual({
      kind: 'wait',
      seconds: 12,
    });
  });

  it('says what a wait or rss trigger lacks', () => {
    expect(problemsOf({ configFile: file('experiment: { trigger: rss }\n') })).toEqual([
      expect.stringMatching(/^experiment\.trigger: rss needs checkpoint\.strategy\.target_memory_mb \(from f\d+\.yaml\)/),
    ]);
    expect(problemsOf({ configFile: file('experiment: { trigger: wait }\n') })).toEqual([
      expect.stringMatching(/^experiment\.trigger: wait needs the seconds in experiment\.migrate_after/),
    ]);
  });
});

describe('the precedence of servers.yaml', () => {
  const nodesFile = 'nodes: { source: { ip: 10.9.9.1 }, destination: { ip: 10.9.9.2 } }\n';

  it('lets the -c file name the nodes over servers.yaml by default (criu-lab)', () => {
    expect(planOf(nodesFile).nodes.source.ip).toBe('10.9.9.1');
  });

  it("lets servers.yaml's nodes win with experiment.servers_precedence: servers (the original's order)", () => {
    const plan = planOf(`${nodesFile}experiment: { servers_precedence: servers }\n`);
    expect([plan.nodes.source.ip, plan.nodes.destination.ip]).toEqual(['10.0.1.10', '10.0.1.11']);
  });
});

describe('presets', () => {
  const preset = (name: string, configFile?: string) => load({ configFile, overrides: [{ path: 'workload.preset', value: name, flag: '--preset' }] });

  it("selects the memory workload's presets by name", () => {
    expect(preset('small').plan.workload.params).toMatchObject({ mb_size: 128, interval: 2, max_memory: 1024 });
    expect(preset('lazy_test').plan.workload.params).toMatchObject({ mb_size: 256, max_memory: 4096, check_lazy_loading: true });
    expect(preset('xlarge').plan.sources).toContain('preset xlarge of project/config/workloads/memory.yaml');
  });

  it('sits below the -c file and flags, and says when the file overrides it', () => {
    const { plan, warnings } = preset('small', file('workload: { mb_size: 64 }\n'));
    expect(plan.workload.params).toMatchObject({ mb_size: 64, max_memory: 1024 });
    expect(warnings).toContainEqual(expect.stringMatching(/^workload\.mb_size: set over preset small .*\(from f\d+\.yaml\)/));
    const flagged = load({
      overrides: [
        { path: 'workload.preset', value: 'small', flag: '--preset' },
        { path: 'workload.mb_size', value: '32', flag: '--mb-size' },
      ],
    });
    expect(flagged.plan.workload.params['mb_size']).toBe(32);
    expect(flagged.warnings.filter((w) => w.includes('preset'))).toEqual([]);
  });

  it("reads the presets of a -c file written like the original's memory.yaml", () => {
    const own = file('presets:\n  tiny: { mb_size: 8, max_memory_mb: 64 }\n');
    expect(preset('tiny', own).plan.workload.params).toMatchObject({ mb_size: 8, max_memory: 64 });
  });

  it('lists the presets that exist when the name is unknown', () => {
    expect(problemsOf({ overrides: [{ path: 'workload.preset', value: 'huge', flag: '--preset' }] })).toEqual([
      "workload.preset: no preset 'huge' for the memory workload (from --preset); choose one of: small, medium, large, xlarge, lazy_test",
    ]);
    expect(problemsOf({ configFile: file('workload: { type: matmul, preset: small }\n') })).toEqual([
      expect.stringMatching(
        /^workload\.preset: no preset 'small' for the matmul workload \(from f\d+\.yaml\); no file defines presets; add `presets:` to .*matmul\.yaml/,
      ),
    ]);
  });
});

describe('a dry run', () => {
  it('plans without the key file a real run needs, and names what a real run would refuse', () => {
    const missing = file('nodes: { ssh_key: /nonexistent/key, known_hosts: /nonexistent/known_hosts }\n');
    const { wouldRefuse } = load({ configFile: missing, purpose: 'dry-run' });
    expect(wouldRefuse).toEqual([
      expect.stringMatching(/^nodes\.ssh_key: no such file \/nonexistent\/key/),
      expect.stringMatching(/^nodes\.known_hosts: no such file/),
    ]);
    expect(problemsOf({ configFile: missing })).toEqual([
      expect.stringMatching(/^nodes\.ssh_key: no such file/),
      expect.stringMatching(/^nodes\.known_hosts: no such file/),
    ]);
  });
});

describe('page_server_port on AWS', () => {
  const aws = 'aws: { region: us-west-2, stack: criu-lab }\n';

  it('refuses a port the security groups keep closed between AWS nodes, naming the range', () => {
    const port = file('checkpoint: { strategy: { page_server_port: 22222 } }\n');
    expect(problemsOf({ serversFile: servers(aws), configFile: port })).toEqual([
      expect.stringMatching(
        /^checkpoint\.strategy\.page_server_port: 22222 is closed between AWS nodes \(their security groups open 27000-27099\) \(from f\d+\.yaml\)/,
      ),
    ]);
    expect(load({ serversFile: servers(aws), configFile: port, purpose: 'dry-run' }).wouldRefuse).toHaveLength(1);
  });

  it('takes any port on the lab, and a port in the range on AWS', () => {
    expect(planOf('checkpoint: { strategy: { page_server_port: 22222 } }\n').checkpoint.strategy.pageServerPort).toBe(22222);
    expect(
      load({ serversFile: servers(aws), configFile: file('checkpoint: { strategy: { page_server_port: 27050 } }\n') }).plan.checkpoint.strategy.pageServerPort,
    ).toBe(27050);
  });
});

describe('errors name the file and key that set the value', () => {
  it('names experiment.workload_type in the -c file, not default.yaml', () => {
    expect(problemsOf({ configFile: file('experiment: { workload_type: nosuch }\n') })).toEqual([
      expect.stringMatching(/^workload\.type: unknown workload 'nosuch'; .* \(from f\d+\.yaml, key experiment\.workload_type\)$/),
    ]);
  });

  it("names the original's key when its value is wrong", () => {
    expect(problemsOf({ configFile: file('workload: { max_memory_mb: -1 }\n') })).toEqual([
      expect.stringMatching(/^workload\.max_memory: .*-1.* \(from f\d+\.yaml, key workload\.max_memory_mb\)$/),
    ]);
  });
});

describe("the original's validations", () => {
  it('refuses memory blocks larger than the heap cap, naming both keys', () => {
    expect(problemsOf({ configFile: file('workload: { mb_size: 512, max_memory_mb: 256 }\n') })).toEqual([
      expect.stringMatching(/^workload\.mb_size: 512 MiB blocks cannot exceed workload\.max_memory \(256 MiB\) \(from f\d+\.yaml\); fix: /),
    ]);
  });

  it("refuses a matmul matrix above the original's 16384", () => {
    expect(problemsOf({ configFile: file('workload: { type: matmul, matrix_size: 20000 }\n') })).toEqual([
      expect.stringMatching(/^workload\.matrix_size: .*16384.*20000/),
    ]);
  });
});

describe('$VAR without braces', () => {
  it('is read like ${VAR}', () => {
    expect(substitute({ a: '$X/key', b: 'p-$X-${Y:-q}', c: '$UNSET' }, { X: 'x' })).toEqual({ a: 'x/key', b: 'p-x-q', c: '$UNSET' });
    expect(planOf('nodes: { ssh_key: $KEYFILE }\n', { env: { ...ENV, KEYFILE: key } }).nodes.sshKey).toBe(key);
  });

  it('is reported when unset, with the file that uses it', () => {
    expect(problemsOf({ configFile: file('transfer: { dest_dir: $NOPE/img }\n') })).toEqual([
      expect.stringMatching(/^transfer\.dest_dir: environment variable NOPE is not set \(from f\d+\.yaml\)/),
    ]);
  });
});
