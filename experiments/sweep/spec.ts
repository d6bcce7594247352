// A sweep file (config/sweeps/<name>.yaml) parsed at the edge into a frozen SweepSpec: which
// plan settings vary (matrix = cross product, zip = side by side), how often, on which infra
// and how fresh. Every problem is reported at once with its dotted path, nothing starts.
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { deepFreeze } from '../../core/freeze.js';
import { configSchema } from '../config/load.js';
import { hasKeyPath, knownKeysOf } from '../config/unknown-keys.js';
import { UsageError } from '../../core/errors.js';
import { workloads } from '../../workloads/registry.js';
import { labNodesFor, placementsOf } from './pairs.js';

export const FRESH_POLICIES = ['per-cell', 'per-run', 'never'] as const;
export type FreshPolicy = (typeof FRESH_POLICIES)[number];
export const BACKENDS = ['lab', 'aws', 'none'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** One plan setting: a dotted config path and its value, as a flag would set it. */
export interface Setting {
  readonly path: string;
  readonly value: unknown;
}

export interface DeadlineSearch {
  /** The setting that grows (workload.max_memory, workload.num_keys, workload.num_rows). */
  readonly sizePath: string;
  readonly low: number;
  readonly high: number;
  /** Bisection stops when the bracket is this narrow; probes are multiples of it above `low`. */
  readonly resolution: number;
  readonly deadlinesS: readonly number[];
}

export interface SweepSpec {
  readonly name: string;
  /** The sweep file, absolute. */
  readonly file: string;
  /** The experiment file every run loads (the -c layer), absolute. */
  readonly experiment: string | undefined;
  /** Settings every run gets. */
  readonly settings: readonly Setting[];
  /** Axes of the cross product, outermost first. */
  readonly matrix: readonly { readonly path: string; readonly values: readonly unknown[] }[];
  /** Settings that vary together: row i takes the i-th value of every path. */
  readonly zip: readonly { readonly path: string; readonly values: readonly unknown[] }[];
  readonly repetitions: number;
  readonly fresh: FreshPolicy;
  readonly infra: {
    readonly backend: BackendName;
    readonly lab: { readonly name: string; readonly nodes: number };
    readonly aws: { readonly config: string; readonly bootTimeoutMin: number };
    /** servers.yaml for backend `none` (given, used as is); for lab and aws the sweep writes its own. */
    readonly servers: string | undefined;
  };
  /** The sweep's own directory: sweep.json, samples.jsonl, runs/. */
  readonly dir: string;
  /** Measure the raw link with iperf3 once per profile and node pair. */
  readonly measureLink: boolean;
  readonly deadline: DeadlineSearch | undefined;
  /** Runs at once, each on its own node pair (experiments/sweep/pairs.ts); 1 = one after another. */
  readonly parallel: number;
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const pathKey = z.string().regex(/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+$/, 'must be a dotted config path such as workload.max_memory');

const fileSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be letters, digits and . _ -')
    .optional(),
  experiment: z.string().min(1).optional(),
  settings: z.record(pathKey, scalar).default({}),
  matrix: z.record(pathKey, z.array(scalar).min(1, 'needs at least one value')).default({}),
  zip: z.record(pathKey, z.array(scalar).min(1, 'needs at least one value')).default({}),
  repetitions: z.number().int().min(1).max(1000).default(1),
  fresh: z.enum(FRESH_POLICIES, { error: `must be one of: ${FRESH_POLICIES.join(', ')}` }).default('never'),
  infra: z
    .strictObject({
      backend: z.enum(BACKENDS, { error: `must be one of: ${BACKENDS.join(', ')}` }).default('lab'),
      lab: z
        .strictObject({
          name: z
            .string()
            .regex(/^[a-z0-9]{1,8}$/, 'must be 1 to 8 characters from a-z and 0-9')
            .default('sweep'),
          nodes: z.number().int().min(2).max(8).default(3),
        })
        .prefault({}),
      aws: z.strictObject({ config: z.string().default('config/infra.yaml'), boot_timeout_min: z.number().positive().default(30) }).prefault({}),
      servers: z.string().min(1).optional(),
    })
    .prefault({}),
  results_dir: z.string().min(1).default('results/sweeps'),
  measure_link: z.boolean().default(true),
  parallel: z.number().int().min(1).max(16).default(1),
  deadline: z
    .strictObject({
      size: pathKey,
      low: z.number().positive(),
      high: z.number().positive(),
      resolution: z.number().positive(),
      deadlines_s: z.array(z.number().positive()).min(1).default([30, 120]),
    })
    .optional(),
});

const CONFIG_KEYS = knownKeysOf(configSchema);

/** A workload parameter is known to the workload the run uses; everything else must be in the config schema. */
export function unknownPathProblem(path: string, workloadType: string): string | undefined {
  const [section, key, ...deeper] = path.split('.');
  if (section === 'workload') {
    if (key === 'type' && deeper.length === 0) return undefined;
    if (!workloads.has(workloadType)) return undefined; // reported by the plan's own validation
    const params = workloads.get(workloadType).params.map((p) => p.key);
    return params.includes(key ?? '') && deeper.length === 0 ? undefined : `workload ${workloadType} has no parameter '${key}'; it has: ${params.join(', ')}`;
  }
  return hasKeyPath(CONFIG_KEYS, path.split('.')) ? undefined : 'is not a configuration setting (see the table in README.md)';
}

function entries(record: Record<string, readonly unknown[]>) {
  return Object.entries(record).map(([path, values]) => ({ path, values }));
}

export interface SpecOverrides {
  readonly resultsDir?: string;
  readonly servers?: string;
  readonly parallel?: number;
}

/** Reads and validates a sweep file; throws a UsageError listing every problem. */
export function loadSweepSpec(file: string, overrides: SpecOverrides = {}, cwd: string = process.cwd()): SweepSpec {
  const absolute = resolve(cwd, file);
  if (!existsSync(absolute)) throw new UsageError(`no sweep file at ${absolute}`, [`${file}: file not found; sweeps live in config/sweeps/`]);
  const doc = parseDocument(readFileSync(absolute, 'utf8'));
  if (doc.errors.length > 0)
    throw new UsageError(
      `${file} is not valid YAML`,
      doc.errors.map((e) => e.message.split('\n')[0]!),
    );
  const parsed = fileSchema.safeParse(doc.toJS() ?? {}, { reportInput: true });
  if (!parsed.success) {
    throw new UsageError(
      `the sweep file ${file} has ${parsed.error.issues.length} problem${parsed.error.issues.length === 1 ? '' : 's'}; nothing was started`,
      parsed.error.issues.map((issue) => `${issue.path.join('.') || '(top level)'}: ${issue.message}`),
    );
  }
  const raw = parsed.data;
  const problems: string[] = [];
  const zipLengths = new Set(Object.values(raw.zip).map((values) => values.length));
  if (zipLengths.size > 1)
    problems.push(
      `zip: every list must have the same length (got ${Object.entries(raw.zip)
        .map(([p, v]) => `${p}: ${v.length}`)
        .join(', ')})`,
    );
  const varying = [...Object.keys(raw.matrix), ...Object.keys(raw.zip)];
  const allPaths = [...Object.keys(raw.settings), ...varying, ...(raw.deadline ? [raw.deadline.size] : [])];
  for (const path of new Set(allPaths)) {
    const places = [
      ['settings', raw.settings],
      ['matrix', raw.matrix],
      ['zip', raw.zip],
    ]
      .filter(([, r]) => path in (r as object))
      .map(([n]) => n);
    if (places.length > 1) problems.push(`${path}: set in ${places.join(' and ')}; a setting may vary in one place only`);
    if (path === 'experiment.results_dir') problems.push(`${path}: the sweep decides where each run's results go (results_dir of the sweep file)`);
  }
  const workloadTypes = new Set<string>([
    String(raw.settings['workload.type'] ?? raw.settings['experiment.workload_type'] ?? 'memory'),
    ...(raw.matrix['workload.type'] ?? []).map(String),
    ...(raw.zip['workload.type'] ?? []).map(String),
  ]);
  for (const path of new Set(allPaths))
    for (const type of workloadTypes) {
      const problem = unknownPathProblem(path, type);
      if (problem) {
        problems.push(`${path}: ${problem}`);
        break;
      }
    }
  if (raw.deadline) {
    const d = raw.deadline;
    if (d.low >= d.high) problems.push(`deadline.low: must be below deadline.high (${d.low} >= ${d.high})`);
    if (varying.includes(d.size)) problems.push(`deadline.size: ${d.size} is searched by the bisection; take it out of matrix and zip`);
  }
  if (raw.fresh !== 'never' && raw.infra.backend === 'none')
    problems.push(`fresh: ${raw.fresh} needs infra the sweep can recreate (infra.backend lab or aws), not none`);
  const servers = overrides.servers ?? raw.infra.servers;
  if (raw.infra.backend === 'none' && !servers)
    problems.push('infra.servers: backend none runs on existing nodes; name their servers.yaml here or pass --servers');
  const profileSet = 'experiment.profile' in raw.settings || 'experiment.profile' in raw.matrix || 'experiment.profile' in raw.zip;
  if (raw.infra.backend === 'aws' && profileSet)
    problems.push('experiment.profile: bandwidth profiles emulate placements on the lab; on AWS the placement (experiment.placement) is real');
  const parallel = overrides.parallel ?? raw.parallel;
  if (parallel > 1 && raw.fresh === 'per-run')
    problems.push(`parallel: ${parallel} runs at once on one set of nodes; fresh: per-run recreates them for every run (use per-cell or never)`);
  if (parallel > 1 && raw.infra.backend === 'lab') {
    const placements = placementsOf({
      settings: Object.entries(raw.settings).map(([path, value]) => ({ path, value })),
      matrix: entries(raw.matrix),
      zip: entries(raw.zip),
    });
    if (labNodesFor(parallel, placements) === undefined)
      problems.push(
        `parallel: ${parallel} disjoint ${placements.join(' and ') || 'same-az and cross-az'} pairs need more than the lab's 8 nodes; at most 4 pairs fit`,
      );
  }
  if (problems.length > 0)
    throw new UsageError(`the sweep file ${file} has ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was started`, problems);

  const name = raw.name ?? basename(absolute).replace(/\.ya?ml$/, '');
  const fromProject = (p: string) => resolve(cwd, p);
  return deepFreeze({
    name,
    file: absolute,
    experiment: raw.experiment ? fromProject(raw.experiment) : undefined,
    settings: Object.entries(raw.settings).map(([path, value]) => ({ path, value })),
    matrix: entries(raw.matrix),
    zip: entries(raw.zip),
    repetitions: raw.repetitions,
    fresh: raw.fresh,
    infra: {
      backend: raw.infra.backend,
      lab: raw.infra.lab,
      aws: { config: fromProject(raw.infra.aws.config), bootTimeoutMin: raw.infra.aws.boot_timeout_min },
      servers: servers ? resolve(cwd, servers) : undefined,
    },
    dir: resolve(cwd, overrides.resultsDir ?? raw.results_dir, name),
    measureLink: raw.measure_link,
    parallel,
    deadline: raw.deadline
      ? {
          sizePath: raw.deadline.size,
          low: raw.deadline.low,
          high: raw.deadline.high,
          resolution: raw.deadline.resolution,
          deadlinesS: raw.deadline.deadlines_s,
        }
      : undefined,
  });
}
