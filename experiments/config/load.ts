// Loads a Plan: default.yaml < workloads/<type>.yaml < servers.yaml < experiment file < flags,
// with ${VAR} substitution, and reports every problem at once with its dotted path and origin.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../errors.js';
import { workloads } from '../../workloads/registry.js';
import { paramsSchema } from '../../workloads/workload.js';
import type { Plan } from './plan.js';
import { configSchema, type Placement, type RawConfig } from './schema.js';
import { findUnknownKeys, knownKeysOf, type KeyTree } from './unknown-keys.js';

type Tree = Record<string, unknown>;

/** A value set on the command line, at a dotted config path. */
export interface ConfigOverride {
  readonly path: string;
  readonly value: unknown;
  /** How the user wrote it, for messages: `--mb-size`. */
  readonly flag: string;
}

export interface LoadOptions {
  /** Where config/default.yaml and config/workloads/ live. */
  readonly projectRoot: string;
  /** The experiment file (-c). */
  readonly configFile?: string;
  /** servers.yaml; when not given, config/servers.yaml is used if it exists. */
  readonly serversFile?: string;
  readonly overrides?: readonly ConfigOverride[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Refuse keys no schema reads instead of warning about them (--strict, or experiment.strict). @default false */
  readonly strict?: boolean;
}

export interface LoadedPlan {
  readonly plan: Plan;
  readonly warnings: readonly string[];
}

interface Layer {
  readonly source: string;
  readonly data: Tree;
}

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${VAR} and ${VAR:-default} in every string; an unset variable is left in place to be reported if it survives the merge. */
export function substitute(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') return value.replace(VAR, (whole, name: string, fallback?: string) => env[name] ?? fallback ?? whole);
  if (Array.isArray(value)) return value.map((v) => substitute(v, env));
  if (isTree(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, env)]));
  return value;
}

/**
 * Sets an own property, also for keys like `__proto__` a YAML file may hold: plain assignment
 * would reach Object.prototype through them and change every object in the process.
 */
function setOwn(tree: Tree, key: string, value: unknown): void {
  Object.defineProperty(tree, key, { value, enumerable: true, writable: true, configurable: true });
}

const ownChild = (tree: Tree, key: string): unknown => (Object.hasOwn(tree, key) ? tree[key] : undefined);

/** Deep-merges `upper` into `base`, recording which source set each leaf. */
function mergeInto(base: Tree, upper: Tree, source: string, origins: Map<string, string>, prefix = ''): void {
  for (const [key, value] of Object.entries(upper)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const current = ownChild(base, key);
    if (isTree(value) && isTree(current)) {
      mergeInto(current, value, source, origins, path);
      continue;
    }
    for (const known of [...origins.keys()]) if (known.startsWith(`${path}.`)) origins.delete(known);
    setOwn(base, key, isTree(value) ? structuredClone(value) : value);
    origins.set(path, source);
  }
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    if (!isTree(ownChild(node, key))) setOwn(node, key, {});
    node = node[key] as Tree;
  }
  setOwn(node, keys[keys.length - 1]!, value);
}

function getPath(tree: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (isTree(node) ? ownChild(node, key) : undefined), tree);
}

function originOf(path: string, origins: Map<string, string>): string | undefined {
  for (let p = path; p; p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '') {
    const origin = origins.get(p);
    if (origin) return origin;
  }
  return undefined;
}

function readLayer(path: string, label: string, problems: string[], required: boolean): Layer | undefined {
  if (!existsSync(path)) {
    if (required) problems.push(`${label}: file not found; check the path`);
    return undefined;
  }
  const doc = parseDocument(readFileSync(path, 'utf8'), { prettyErrors: true });
  if (doc.errors.length > 0) {
    for (const error of doc.errors) problems.push(`${label}: invalid YAML: ${error.message.split('\n')[0]}`);
    return undefined;
  }
  let data: unknown;
  try {
    // toJS resolves aliases, which can still fail: an alias before its anchor, or too many of them (a YAML bomb).
    data = doc.toJS() ?? {};
  } catch (error) {
    problems.push(`${label}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
    return undefined;
  }
  if (!isTree(data)) {
    problems.push(`${label}: must be a YAML mapping (key: value) at the top level`);
    return undefined;
  }
  return { source: label, data };
}

function workloadTypeOf(layer: Tree): string | undefined {
  const fromWorkload = getPath(layer, 'workload.type');
  const fromExperiment = getPath(layer, 'experiment.workload_type');
  const type = fromWorkload ?? fromExperiment;
  return typeof type === 'string' ? type : undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === 'invalid_type') return input === undefined ? 'is required but not set' : `expected ${issue.expected}, got ${JSON.stringify(input)}`;
  if (issue.code === 'custom' || input === undefined) return issue.message;
  return `${issue.message.replace(/^Invalid input: /, '')}, got ${JSON.stringify(input)}`;
}

const CONFIG_KEYS = knownKeysOf(configSchema) as KeyTree;

const FLAG_HINTS: Record<string, string> = {
  'nodes.source.ip': 'run `criu-lab lab up` (it writes config/servers.yaml), pass --source-ip, or export SOURCE_NODE_IP',
  'nodes.destination.ip': 'run `criu-lab lab up` (it writes config/servers.yaml), pass --dest-ip, or export DEST_NODE_IP',
  'nodes.ssh_key': 'set nodes.ssh_key to the private key for the nodes (servers.yaml from `criu-lab lab up` sets it)',
};

function expandHome(path: string, cwd: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(cwd, path);
}

export function loadPlan(options: LoadOptions): LoadedPlan {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const root = options.projectRoot;
  const display = (path: string) => {
    const rel = relative(cwd, path);
    return rel.startsWith('..') ? path : rel;
  };
  const problems: string[] = [];
  const warnings: string[] = [];

  const defaults = readLayer(join(root, 'config/default.yaml'), display(join(root, 'config/default.yaml')), problems, true);
  const serversPath = options.serversFile ? resolve(cwd, options.serversFile) : join(root, 'config/servers.yaml');
  const servers = readLayer(serversPath, display(serversPath), problems, options.serversFile !== undefined);
  const experimentPath = options.configFile ? resolve(cwd, options.configFile) : undefined;
  const experiment = experimentPath ? readLayer(experimentPath, display(experimentPath), problems, true) : undefined;
  const flags: Layer = { source: 'command line', data: {} };
  const flagOrigins = new Map<string, string>();
  for (const override of options.overrides ?? []) {
    setPath(flags.data, override.path, override.value);
    flagOrigins.set(override.path, override.flag);
  }

  // The workload type decides which workload defaults file joins the stack: the highest layer that names one wins.
  const layersLowToHigh = [defaults, servers, experiment, flags].filter((l): l is Layer => l !== undefined);
  const workloadType = [...layersLowToHigh].reverse().map((l) => workloadTypeOf(l.data)).find((t) => t !== undefined) ?? 'memory';
  const workloadFile = join(root, 'config/workloads', `${workloadType}.yaml`);
  const workloadLayer = /^[a-z0-9_]+$/.test(workloadType) ? readLayer(workloadFile, display(workloadFile), problems, false) : undefined;

  const merged: Tree = {};
  const origins = new Map<string, string>();
  for (const layer of [defaults, workloadLayer, servers, experiment].filter((l): l is Layer => l !== undefined)) {
    mergeInto(merged, substitute(layer.data, env) as Tree, layer.source, origins);
  }
  mergeInto(merged, flags.data, flags.source, origins);
  for (const [path, flag] of flagOrigins) origins.set(path, flag);
  setPath(merged, 'workload.type', workloadType);
  setPath(merged, 'experiment.workload_type', workloadType);

  const where = (path: string) => {
    const origin = originOf(path, origins);
    return origin ? ` (from ${origin})` : '';
  };
  const hint = (path: string) => (FLAG_HINTS[path] ? `; fix: ${FLAG_HINTS[path]}` : '');

  const unresolved = new Set<string>();
  const findUnresolved = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      const names = [...value.matchAll(VAR)].map((m) => m[1]);
      if (names.length > 0) {
        unresolved.add(path);
        problems.push(`${path}: environment variable ${names.join(', ')} is not set${where(path)}${hint(path)}`);
      }
    } else if (isTree(value)) for (const [k, v] of Object.entries(value)) findUnresolved(v, path ? `${path}.${k}` : k);
  };
  findUnresolved(merged, '');

  const workload = workloads.has(workloadType) ? workloads.get(workloadType) : undefined;
  const strict = options.strict === true || getPath(merged, 'experiment.strict') === true;
  // `workload:` takes the chosen workload's own parameters besides its type.
  const workloadKeys = workload ? Object.fromEntries(['type', ...workload.params.map((p) => p.key)].map((key) => [key, 'leaf' as const])) : 'any';
  const ignoredKeys: string[] = [];
  for (const { path, suggestion } of findUnknownKeys(merged, { ...CONFIG_KEYS, workload: workloadKeys })) {
    const meant = suggestion ? `; did you mean ${suggestion}?` : '';
    if (strict) problems.push(`${path}: unknown key${meant}${where(path)}; fix: rename or remove it, or run without --strict to ignore it`);
    else ignoredKeys.push(`${path}: unknown key, ignored${meant}${where(path)}`);
  }
  warnings.push(...ignoredKeys);

  if (getPath(merged, 'nodes.known_hosts') === undefined && getPath(merged, 'nodes.trust_unknown_host_keys') === true)
    warnings.push('nodes.known_hosts: not set and nodes.trust_unknown_host_keys is on, so whatever answers at the nodes\' addresses is trusted (the run records it); fix: use the servers.yaml written by `criu-lab lab up` or `criu-lab infra deploy`');

  const parsed = configSchema.safeParse(merged, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.join('.');
      if ([...unresolved].some((u) => u === path || u.startsWith(`${path}.`))) continue;
      const missing = issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined;
      problems.push(`${path}: ${describeIssue(issue)}${where(path)}${missing ? hint(path) : ''}`);
    }
  }

  let params: Record<string, unknown> = {};
  if (workload) {
    const { type: _type, ...rawParams } = (merged['workload'] as Tree) ?? {};
    const result = paramsSchema(workload).safeParse(rawParams, { reportInput: true });
    if (result.success) params = result.data;
    else
      for (const issue of result.error.issues) {
        const path = ['workload', ...issue.path].join('.');
        problems.push(`${path}: ${describeIssue(issue)}${where(path)}`);
      }
  }

  // Checks across keys run on whatever parsed, so they are reported together with schema errors.
  const sourceIp = getPath(merged, 'nodes.source.ip');
  if (typeof sourceIp === 'string' && sourceIp === getPath(merged, 'nodes.destination.ip') && !unresolved.has('nodes.source.ip'))
    problems.push(`nodes.destination.ip: is the same address as nodes.source.ip (${sourceIp})${where('nodes.destination.ip')}; a migration needs two nodes`);
  for (const [path, fix] of [['nodes.ssh_key', hint('nodes.ssh_key')], ['nodes.known_hosts', '']] as const) {
    const file = getPath(merged, path);
    if (typeof file === 'string' && !unresolved.has(path) && !existsSync(expandHome(file, cwd))) problems.push(`${path}: no such file ${expandHome(file, cwd)}${where(path)}${fix}`);
  }

  const pair = parsed.success ? choosePair(parsed.data, where('experiment.placement')) : undefined;
  if (pair && 'problem' in pair) problems.push(pair.problem);

  if (problems.length > 0 || !parsed.success) {
    // A misspelt key is often why a required one is missing: the hint goes with the errors.
    problems.push(...ignoredKeys);
    throw new UsageError(`the configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was started`, problems);
  }
  const sources = [defaults, workloadLayer, servers, experiment].filter((l): l is Layer => l !== undefined).map((l) => l.source);
  const chosen = pair && !('problem' in pair) ? pair : undefined;
  return { plan: deepFreeze(toPlan(parsed.data, workloadType, params, sources, cwd, chosen)), warnings };
}

interface Pair {
  readonly source: { ip: string; name: string };
  readonly destination: { ip: string; name: string };
  readonly placement: Placement | undefined;
}

/** The node pair: picked from all_nodes by experiment.placement, else nodes.source/destination with their placement inferred. */
function choosePair(raw: RawConfig, origin: string): Pair | { problem: string } | undefined {
  const zones = Object.entries(raw.all_nodes ?? {}).filter(([, nodes]) => nodes.length > 0);
  const wanted = raw.experiment.placement;
  const counts = zones.map(([zone, nodes]) => `${zone}: ${nodes.length}`).join(', ') || 'no all_nodes';
  if (wanted === 'same-az') {
    const zone = zones.find(([, nodes]) => nodes.length >= 2);
    if (!zone) return { problem: `experiment.placement: same-az needs two nodes in one zone of all_nodes (servers.yaml has ${counts})${origin}; fix: \`criu-lab lab up --nodes 4\`, or more nodes per zone in config/infra.yaml` };
    return { source: zone[1][0]!, destination: zone[1][1]!, placement: 'same-az' };
  }
  if (wanted === 'cross-az') {
    if (zones.length < 2) return { problem: `experiment.placement: cross-az needs nodes in two zones of all_nodes (servers.yaml has ${counts})${origin}; fix: \`criu-lab lab up --nodes 2\` or more` };
    return { source: zones[0]![1][0]!, destination: zones[1]![1][0]!, placement: 'cross-az' };
  }
  const zoneOf = (ip: string) => zones.find(([, nodes]) => nodes.some((n) => n.ip === ip))?.[0];
  const [from, to] = [zoneOf(raw.nodes.source.ip), zoneOf(raw.nodes.destination.ip)];
  return from && to ? { source: { ip: raw.nodes.source.ip, name: raw.nodes.source.name ?? 'source' }, destination: { ip: raw.nodes.destination.ip, name: raw.nodes.destination.name ?? 'destination' }, placement: from === to ? 'same-az' : 'cross-az' } : undefined;
}

function toPlan(raw: RawConfig, workloadType: string, params: Record<string, unknown>, sources: string[], cwd: string, pair: Pair | undefined): Plan {
  const { nodes, checkpoint, transfer, timeouts } = raw;
  return {
    experiment: {
      name: raw.experiment.name,
      saveMetrics: raw.experiment.save_metrics,
      resultsDir: resolve(cwd, raw.experiment.results_dir),
      migrateAfterS: raw.experiment.migrate_after,
      placement: pair?.placement,
      profile: raw.experiment.profile,
    },
    nodes: {
      sshUser: nodes.ssh_user,
      sshKey: expandHome(nodes.ssh_key, cwd),
      sshPort: nodes.ssh_port,
      knownHosts: nodes.known_hosts ? expandHome(nodes.known_hosts, cwd) : undefined,
      trustUnknownHostKeys: nodes.trust_unknown_host_keys,
      bastion: nodes.bastion
        ? { ip: nodes.bastion.ip, name: nodes.bastion.name, sshUser: nodes.bastion.ssh_user ?? nodes.ssh_user, sshPort: nodes.bastion.ssh_port ?? nodes.ssh_port }
        : undefined,
      source: pair?.source ?? { ip: nodes.source.ip, name: nodes.source.name ?? 'source' },
      destination: pair?.destination ?? { ip: nodes.destination.ip, name: nodes.destination.name ?? 'destination' },
    },
    checkpoint: {
      workingDir: checkpoint.dirs.working_dir,
      checkpointDir: checkpoint.dirs.checkpoint_dir,
      strategy: {
        mode: checkpoint.strategy.mode,
        predumpIterations: checkpoint.strategy.predump_iterations,
        predumpIntervalS: checkpoint.strategy.predump_interval,
        lazyPages: checkpoint.strategy.lazy_pages,
        pageServerPort: checkpoint.strategy.page_server_port,
        tls: checkpoint.strategy.tls,
        deadline: checkpoint.strategy.deadline,
      },
    },
    transfer: {
      method: transfer.method,
      destDir: transfer.dest_dir,
      s3Bucket: transfer.s3_bucket,
      s3Prefix: transfer.s3_prefix,
      efsMount: transfer.efs_mount,
      ebsMount: transfer.ebs_mount,
      rsync: { cipher: transfer.rsync.cipher, compress: transfer.rsync.compress },
      keepImages: transfer.keep_images,
      s3: {
        endpointUrl: transfer.s3.endpoint_url,
        profile: transfer.s3.profile,
        region: transfer.s3.region,
        partSizeMb: transfer.s3.part_size_mb,
        maxConcurrency: transfer.s3.max_concurrency,
      },
      ebs: { volume: transfer.ebs.volume, waitS: transfer.ebs.wait_s },
    },
    aws: raw.aws ? { region: raw.aws.region, stack: raw.aws.stack, ebsVolumes: raw.aws.ebs_volumes } : undefined,
    workload: { type: workloadType, params },
    timeouts: {
      connectS: timeouts.connect_s,
      commandS: timeouts.command_s,
      readyS: timeouts.ready_s,
      dumpS: timeouts.dump_s,
      transferS: timeouts.transfer_s,
      restoreS: timeouts.restore_s,
      verifyS: timeouts.verify_s,
    },
    sources,
  };
}

/** Freezes a value and everything it holds: a Plan (or a sweep spec) cannot change once built. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
