// Loads a Plan: default.yaml < workloads/<type>.yaml < its preset < servers.yaml < experiment file < flags,
// with ${VAR} / $VAR substitution and the original framework's key names (original.ts), and reports
// every problem at once with its dotted path and origin.
import { existsSync, readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { dirname, join, relative, resolve } from 'node:path';
import { deepFreeze } from '../../core/freeze.js';
import { expandHome } from '../../core/paths.js';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { UsageError } from '../../core/errors.js';
import { workloads } from '../../workloads/registry.js';
import { paramsSchema } from '../../workloads/workload.js';
import { registerScriptWorkload } from '../../workloads/custom/script.js';
import { toPlan, type MigrationTrigger, type NodePair, type Plan } from './plan.js';
import { configSchemaOf, workloadKeysSchemaOf, type RawConfig, type RegisteredNames } from './schema.js';
import { strategies } from '../strategies/registry.js';
import { transfers } from '../transfers/registry.js';
import { INERT_KEYS, inertRootOf, ORIGINAL_ALIASES, type Alias } from './original.js';
import { PAGE_SERVER_PORTS } from '../../infra/aws/props.js';
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
  /** criu-lab's package root (core/package-root.ts), with the default config/default.yaml and config/workloads/. */
  readonly projectRoot: string;
  /** The experiment file (-c). */
  readonly configFile?: string;
  /** servers.yaml; when not given, config/servers.yaml under `cwd` is used if it exists. */
  readonly serversFile?: string;
  readonly overrides?: readonly ConfigOverride[];
  readonly env?: NodeJS.ProcessEnv;
  /** The user's directory: its config/servers.yaml, and its own config/default.yaml and config/workloads/<type>.yaml over the package's. @default process.cwd() */
  readonly cwd?: string;
  /** Refuse keys no schema reads instead of warning about them (--strict, or experiment.strict). @default false */
  readonly strict?: boolean;
  /** 'dry-run': what only a real run needs (key files, ports open between AWS nodes) lands in `wouldRefuse` instead of refusing. @default 'run' */
  readonly purpose?: 'run' | 'dry-run';
}

export interface LoadedPlan {
  readonly plan: Plan;
  readonly warnings: readonly string[];
  /** What a real run would refuse; only a dry run gets a plan with any (see LoadOptions.purpose). */
  readonly wouldRefuse: readonly string[];
}

interface Layer {
  readonly source: string;
  readonly data: Tree;
}

const isTree = (value: unknown): value is Tree => typeof value === 'object' && value !== null && !Array.isArray(value);

// ${VAR}, ${VAR:-default}, or $VAR as the original framework also reads it.
const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Replaces ${VAR}, ${VAR:-default} and $VAR in every string; an unset variable is left in place to be reported if it survives the merge. */
export function substitute(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string')
    return value.replace(
      VAR,
      (whole, braced: string | undefined, fallback: string | undefined, bare: string | undefined) => env[(braced ?? bare)!] ?? fallback ?? whole,
    );
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

function deletePath(tree: Tree, path: string): void {
  const parent = getPath(tree, path.split('.').slice(0, -1).join('.'));
  if (isTree(parent)) delete parent[path.split('.').at(-1)!];
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

function substituted(layer: Layer | undefined, env: NodeJS.ProcessEnv): Layer | undefined {
  return layer && { source: layer.source, data: substitute(layer.data, env) as Tree };
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

/** The workload type a file names, and the key that names it. */
function workloadTypeOf(layer: Tree): { type: string; key: string } | undefined {
  for (const key of ['workload.type', 'experiment.workload_type']) {
    const type = getPath(layer, key);
    if (type !== undefined) return typeof type === 'string' ? { type, key } : undefined;
  }
  return undefined;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const input = (issue as { input?: unknown }).input;
  if (issue.code === 'invalid_type') return input === undefined ? 'is required but not set' : `expected ${issue.expected}, got ${JSON.stringify(input)}`;
  if (issue.code === 'custom' || input === undefined) return issue.message;
  return `${issue.message.replace(/^Invalid input: /, '')}, got ${JSON.stringify(input)}`;
}

const REGISTERED: RegisteredNames = { workloads: () => workloads.names(), strategies: () => strategies.names(), transfers: () => transfers.names() };
/** The config schema over the names the registries hold. */
export const configSchema = configSchemaOf(REGISTERED);
const workloadKeysSchema = workloadKeysSchemaOf(REGISTERED);

const CONFIG_KEYS = knownKeysOf(configSchema) as KeyTree;
const WORKLOAD_KEYS = knownKeysOf(workloadKeysSchema) as KeyTree;

const FLAG_HINTS: Record<string, string> = {
  'nodes.source.ip': 'run `criu-lab lab up` (it writes config/servers.yaml), pass --source-ip, or export SOURCE_NODE_IP',
  'nodes.destination.ip': 'run `criu-lab lab up` (it writes config/servers.yaml), pass --dest-ip, or export DEST_NODE_IP',
  'nodes.ssh_key': 'set nodes.ssh_key to the private key for the nodes (servers.yaml from `criu-lab lab up` sets it)',
};

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
  const wouldRefuse: string[] = [];
  // What only a real run needs (key files on this machine, ports the nodes' firewall opens): a dry run is told, not refused.
  const refuse = options.purpose === 'dry-run' ? wouldRefuse : problems;
  const read = (path: string, required: boolean) => substituted(readLayer(path, display(path), problems, required), env);

  // The package's file, then the working directory's own (`criu-lab init` writes one) over it; in the checkout they are one file.
  const ownLayer = (relativePath: string) => (resolve(cwd, relativePath) === join(root, relativePath) ? undefined : read(resolve(cwd, relativePath), false));
  const defaults = read(join(root, 'config/default.yaml'), true);
  const ownDefaults = ownLayer('config/default.yaml');
  const serversPath = options.serversFile ? resolve(cwd, options.serversFile) : resolve(cwd, 'config/servers.yaml');
  const servers = read(serversPath, options.serversFile !== undefined);
  const experiment = options.configFile ? read(resolve(cwd, options.configFile), true) : undefined;
  const flags: Layer = { source: 'command line', data: {} };
  const flagOrigins = new Map<string, string>();
  for (const override of options.overrides ?? []) {
    setPath(flags.data, override.path, override.value);
    flagOrigins.set(override.path, override.flag);
  }
  const originIn = (layer: Layer, key: string, path: string) =>
    layer === flags ? (flagOrigins.get(key) ?? layer.source) : key === path ? layer.source : `${layer.source}, key ${key}`;

  // The workload type decides which workload defaults file joins the stack: the highest layer that names one wins.
  const layersLowToHigh = [defaults, ownDefaults, servers, experiment, flags].filter((l): l is Layer => l !== undefined);
  // workload.script: a standalone script of the original framework becomes a workload of its own (relative to the file that names it).
  const baseOf = (layer: Layer) => (layer === experiment && options.configFile ? dirname(resolve(cwd, options.configFile)) : layer === defaults ? root : cwd);
  const scripted = [...layersLowToHigh].reverse().find((l) => typeof getPath(l.data, 'workload.script') === 'string');
  let scriptType: string | undefined;
  if (scripted) {
    const args = getPath(scripted.data, 'workload.script_args') ?? [];
    if (!Array.isArray(args)) problems.push(`workload.script_args: must be a list of arguments (from ${scripted.source})`);
    else {
      const script = resolve(baseOf(scripted), String(substitute(getPath(scripted.data, 'workload.script'), env)));
      try {
        scriptType = registerScriptWorkload(
          workloads,
          script,
          args.map((a) => String(substitute(a, env))),
          `workload.script (from ${scripted.source})`,
        );
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        problems.push(...error.problems);
      }
    }
  }
  const named = highest([defaults, ownDefaults, servers, experiment, flags], workloadTypeOf);
  const workloadType = scriptType ?? named?.value.type ?? 'memory';
  const workloadFile = join(root, 'config/workloads', `${workloadType}.yaml`);
  const knownName = /^[a-z0-9_]+$/.test(workloadType);
  const workloadLayer = knownName ? read(workloadFile, false) : undefined;
  const ownWorkloadLayer = knownName ? ownLayer(`config/workloads/${workloadType}.yaml`) : undefined;
  const preset = presetLayer(
    workloadType,
    [defaults, ownDefaults, workloadLayer, ownWorkloadLayer, servers, experiment, flags],
    display(workloadFile),
    originIn,
    problems,
  );

  const merged: Tree = {};
  const origins = new Map<string, string>();
  for (const layer of [defaults, ownDefaults, workloadLayer, ownWorkloadLayer, preset, servers, experiment].filter((l): l is Layer => l !== undefined)) {
    const renamed = applyAliases(layer, problems);
    mergeInto(merged, layer.data, layer.source, origins);
    for (const { from, to } of renamed) if (origins.get(to) === layer.source) origins.set(to, originIn(layer, from, to));
  }
  // experiment.servers_precedence: servers: servers.yaml's nodes win over the -c file (the original framework's order).
  if (servers && highest([defaults, ownDefaults, servers, experiment, flags], (data) => getPath(data, 'experiment.servers_precedence'))?.value === 'servers')
    for (const key of ['nodes', 'all_nodes'])
      if (isTree(servers.data[key])) mergeInto(merged, { [key]: structuredClone(servers.data[key]) }, servers.source, origins);
  mergeInto(merged, flags.data, flags.source, origins);
  for (const [path, flag] of flagOrigins) origins.set(path, flag);
  setPath(merged, 'workload.type', workloadType);
  setPath(merged, 'experiment.workload_type', workloadType);
  if (named) for (const path of ['workload.type', 'experiment.workload_type']) origins.set(path, originIn(named.layer, named.value.key, path));

  const where = (path: string) => {
    const origin = originOf(path, origins);
    return origin ? ` (from ${origin})` : '';
  };
  // A preset sits below the -c file: a key both set is the file's, which is easy to miss (a flag's is meant).
  for (const key of Object.keys(isTree(preset?.data['workload']) ? preset.data['workload'] : {}))
    if (originOf(`workload.${key}`, origins) !== preset?.source && !flagOrigins.has(`workload.${key}`))
      warnings.push(`workload.${key}: set over ${preset?.source}${where(`workload.${key}`)}; fix: remove it there to take the preset's`);
  const hint = (path: string) => (FLAG_HINTS[path] ? `; fix: ${FLAG_HINTS[path]}` : '');

  const unresolved = new Set<string>();
  const findUnresolved = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      const names = [...value.matchAll(VAR)].map((m) => m[1] ?? m[3]);
      if (names.length > 0) {
        unresolved.add(path);
        problems.push(`${path}: environment variable ${names.join(', ')} is not set${where(path)}${hint(path)}`);
      }
    } else if (isTree(value)) for (const [k, v] of Object.entries(value)) findUnresolved(v, path ? `${path}.${k}` : k);
  };
  findUnresolved(merged, '');

  const workload = workloads.has(workloadType) ? workloads.get(workloadType) : undefined;
  const strict = options.strict === true || getPath(merged, 'experiment.strict') === true;
  // `workload:` takes the chosen workload's own parameters besides the keys every workload has.
  const workloadKeys = workload ? { ...WORKLOAD_KEYS, ...Object.fromEntries(workload.params.map((p) => [p.key, 'leaf' as const])) } : 'any';
  const ignoredKeys: string[] = [];
  for (const { path, suggestion } of findUnknownKeys(merged, { ...CONFIG_KEYS, workload: workloadKeys })) {
    if (inertRootOf(path)) continue;
    const meant = suggestion ? `; did you mean ${suggestion}?` : '';
    if (strict) problems.push(`${path}: unknown key${meant}${where(path)}; fix: rename or remove it, or run without --strict to ignore it`);
    else ignoredKeys.push(`${path}: unknown key, ignored${meant}${where(path)}`);
  }
  warnings.push(...ignoredKeys);
  const inertKeys = Object.entries(INERT_KEYS)
    .filter(([path]) => getPath(merged, path) !== undefined)
    .map(([path, reason]) => ({ path, reason }));

  if (getPath(merged, 'nodes.known_hosts') === undefined && getPath(merged, 'nodes.trust_unknown_host_keys') === true)
    warnings.push(
      "nodes.known_hosts: not set and nodes.trust_unknown_host_keys is on, so whatever answers at the nodes' addresses is trusted (the run records it); fix: use the servers.yaml written by `criu-lab lab up` or `criu-lab infra deploy`",
    );

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
    if (result.success) {
      params = result.data;
      // The workload's checks across its parameters (the original's validate_config).
      for (const { key, message, fix } of workload.validate?.(params) ?? [])
        problems.push(`workload.${key}: ${message}${where(`workload.${key}`)}; fix: ${fix}`);
    } else
      for (const issue of result.error.issues) {
        const path = ['workload', ...issue.path].join('.');
        problems.push(`${path}: ${describeIssue(issue)}${where(path)}`);
      }
  }

  // Checks across keys run on whatever parsed, so they are reported together with schema errors.
  const sourceIp = getPath(merged, 'nodes.source.ip');
  if (typeof sourceIp === 'string' && sourceIp === getPath(merged, 'nodes.destination.ip') && !unresolved.has('nodes.source.ip'))
    problems.push(`nodes.destination.ip: is the same address as nodes.source.ip (${sourceIp})${where('nodes.destination.ip')}; a migration needs two nodes`);
  for (const [path, fix] of [
    ['nodes.ssh_key', hint('nodes.ssh_key')],
    ['nodes.known_hosts', ''],
  ] as const) {
    const file = getPath(merged, path);
    if (typeof file === 'string' && !unresolved.has(path) && !existsSync(expandHome(file, cwd)))
      refuse.push(`${path}: no such file ${expandHome(file, cwd)}${where(path)}${fix}`);
  }
  const port = parsed.success ? parsed.data.checkpoint.strategy.page_server_port : undefined;
  if (parsed.success && parsed.data.aws && port !== undefined && (port < PAGE_SERVER_PORTS.fromPort || port > PAGE_SERVER_PORTS.toPort)) {
    const range = `${PAGE_SERVER_PORTS.fromPort}-${PAGE_SERVER_PORTS.toPort}`;
    refuse.push(
      `checkpoint.strategy.page_server_port: ${port} is closed between AWS nodes (their security groups open ${range})${where('checkpoint.strategy.page_server_port')}; fix: set it to a port in ${range}`,
    );
  }

  const pair = parsed.success ? choosePair(parsed.data, where('experiment.placement')) : undefined;
  if (pair && 'problem' in pair) problems.push(pair.problem);
  const trigger = parsed.success ? triggerOf(parsed.data, where('experiment.trigger')) : undefined;
  if (trigger && 'problem' in trigger) problems.push(trigger.problem);

  if (problems.length > 0 || !parsed.success) {
    // A misspelt key is often why a required one is missing: the hint goes with the errors.
    problems.push(...ignoredKeys);
    throw new UsageError(`the configuration has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was started`, problems);
  }
  const sources = [defaults, ownDefaults, workloadLayer, ownWorkloadLayer, preset, servers, experiment]
    .filter((l): l is Layer => l !== undefined)
    .map((l) => l.source);
  const chosen = pair && !('problem' in pair) ? pair : undefined;
  const resolved = { resolvedConfig: structuredClone(merged), inertKeys, trigger: trigger && !('problem' in trigger) ? trigger : { kind: 'warm' as const } };
  return { plan: deepFreeze(toPlan(parsed.data, workloadType, params, sources, cwd, chosen, resolved)), warnings, wouldRefuse };
}

/** The value `pick` finds in the highest layer that has one, with that layer. */
function highest<T>(layers: readonly (Layer | undefined)[], pick: (data: Tree) => T | undefined): { layer: Layer; value: T } | undefined {
  for (const layer of [...layers].reverse()) {
    const value = layer ? pick(layer.data) : undefined;
    if (layer && value !== undefined) return { layer, value };
  }
  return undefined;
}

/**
 * The preset workload.preset names, as a layer just above the workload file: from the
 * `presets:` of any file (a higher file's preset of the same name wins). Every layer's
 * `presets:` is taken out here: only the chosen one joins the merge.
 */
function presetLayer(
  type: string,
  layers: readonly (Layer | undefined)[],
  workloadFile: string,
  originIn: (layer: Layer, key: string, path: string) => string,
  problems: string[],
): Layer | undefined {
  const presets = new Map<string, { values: unknown; source: string }>();
  for (const layer of layers) {
    if (!layer || !Object.hasOwn(layer.data, 'presets')) continue;
    const defined = layer.data['presets'];
    delete layer.data['presets'];
    if (!isTree(defined)) problems.push(`presets: must be a mapping of preset names to workload settings (from ${layer.source})`);
    else for (const [name, values] of Object.entries(defined)) presets.set(name, { values, source: layer.source });
  }
  const chosen = highest(layers, (data) => getPath(data, 'workload.preset'));
  if (!chosen) return undefined;
  const name = String(chosen.value);
  const origin = originIn(chosen.layer, 'workload.preset', 'workload.preset');
  const preset = presets.get(name);
  if (!preset) {
    const known = [...presets.keys()];
    problems.push(
      `workload.preset: no preset '${name}' for the ${type} workload (from ${origin}); ${known.length > 0 ? `choose one of: ${known.join(', ')}` : `no file defines presets; add \`presets:\` to ${workloadFile}`}`,
    );
    return undefined;
  }
  if (!isTree(preset.values)) {
    problems.push(`presets.${name}: must be a mapping of workload settings (from ${preset.source})`);
    return undefined;
  }
  return { source: `preset ${name} of ${preset.source}`, data: { workload: structuredClone(preset.values) } };
}

/** Moves the original's key names in one file onto criu-lab's (see original.ts); both names set differently in one file is a problem. */
function applyAliases(layer: Layer, problems: string[]): Alias[] {
  const renamed: Alias[] = [];
  for (const alias of ORIGINAL_ALIASES) {
    const value = getPath(layer.data, alias.from);
    if (value === undefined) continue;
    deletePath(layer.data, alias.from);
    const own = getPath(layer.data, alias.to);
    if (own !== undefined && !isDeepStrictEqual(own, value))
      problems.push(
        `${alias.from}: ${JSON.stringify(value)} disagrees with ${alias.to}: ${JSON.stringify(own)} in ${layer.source}; both set the same thing; fix: keep one`,
      );
    else {
      setPath(layer.data, alias.to, value);
      renamed.push(alias);
    }
  }
  return renamed;
}

/**
 * When the migration starts: experiment.trigger when set, else the first of migrate_after,
 * target_memory_mb and wait_before_dump that is set (the original's wait_before_dump only
 * delays full dumps: its pre-dumps start right after ready), else when the workload is warm.
 */
function triggerOf(raw: RawConfig, origin: string): MigrationTrigger | { problem: string } {
  const { migrate_after: after } = raw.experiment;
  const { wait_before_dump: waitS, target_memory_mb: targetMb, mode } = raw.checkpoint.strategy;
  const waited = after ?? (waitS !== undefined && mode !== 'predump' ? waitS : undefined);
  switch (raw.experiment.trigger) {
    case 'warm':
    case 'ready':
      return { kind: raw.experiment.trigger };
    case 'wait': {
      const seconds = after ?? waitS;
      if (seconds === undefined)
        return {
          problem: `experiment.trigger: wait needs the seconds in experiment.migrate_after or checkpoint.strategy.wait_before_dump${origin}; fix: set one (--migrate-after, --wait-before-dump)`,
        };
      return { kind: 'wait', seconds };
    }
    case 'rss':
      if (targetMb === undefined)
        return { problem: `experiment.trigger: rss needs checkpoint.strategy.target_memory_mb${origin}; fix: set it (--target-memory-mb)` };
      return { kind: 'rss', targetMb };
    case undefined:
      if (after !== undefined) return { kind: 'wait', seconds: after };
      if (targetMb !== undefined) return { kind: 'rss', targetMb };
      if (waitS !== undefined) return waited === undefined ? { kind: 'ready' } : { kind: 'wait', seconds: waited };
      return { kind: 'warm' };
  }
}

/** The node pair: picked from all_nodes by experiment.placement, else nodes.source/destination with their placement inferred. */
function choosePair(raw: RawConfig, origin: string): NodePair | { problem: string } | undefined {
  const zones = Object.entries(raw.all_nodes ?? {}).filter(([, nodes]) => nodes.length > 0);
  const wanted = raw.experiment.placement;
  const counts = zones.map(([zone, nodes]) => `${zone}: ${nodes.length}`).join(', ') || 'no all_nodes';
  if (wanted === 'same-az') {
    const zone = zones.find(([, nodes]) => nodes.length >= 2);
    if (!zone)
      return {
        problem: `experiment.placement: same-az needs two nodes in one zone of all_nodes (servers.yaml has ${counts})${origin}; fix: \`criu-lab lab up --nodes 4\`, or more nodes per zone in config/infra.yaml`,
      };
    return { source: zone[1][0]!, destination: zone[1][1]!, placement: 'same-az' };
  }
  if (wanted === 'cross-az') {
    if (zones.length < 2)
      return {
        problem: `experiment.placement: cross-az needs nodes in two zones of all_nodes (servers.yaml has ${counts})${origin}; fix: \`criu-lab lab up --nodes 2\` or more`,
      };
    return { source: zones[0]![1][0]!, destination: zones[1]![1][0]!, placement: 'cross-az' };
  }
  const zoneOf = (ip: string) => zones.find(([, nodes]) => nodes.some((n) => n.ip === ip))?.[0];
  const [from, to] = [zoneOf(raw.nodes.source.ip), zoneOf(raw.nodes.destination.ip)];
  return from && to
    ? {
        source: { ip: raw.nodes.source.ip, name: raw.nodes.source.name ?? 'source' },
        destination: { ip: raw.nodes.destination.ip, name: raw.nodes.destination.name ?? 'destination' },
        placement: from === to ? 'same-az' : 'cross-az',
      }
    : undefined;
}
