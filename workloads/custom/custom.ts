// Bring your own payload: a workload registered by one YAML file in config/workloads/custom/
// (no TypeScript). The file names the script, its interpreter, an argv template with parameters
// and their defaults, extra CRIU flags, files to move and what the script needs on a node.
// A script written for the seed's framework (protocol: seed) runs unchanged; one that follows
// criu-lab's status-file protocol (protocol: status) gets the status-based checks.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import {
  binary,
  check,
  defineWorkload,
  flagBoolean,
  numeric,
  payloadPath,
  pythonModule,
  verdict,
  withProtocol,
  type Requirement,
  type Workload,
  type WorkloadParam,
} from '../workload.js';
import { observedChecks, seedObserver } from './observer.js';

const NAME = /^[a-z0-9_]+$/;
const FLAG = /^--[a-z][a-z0-9-]*$/;
const PLACEHOLDER = /\{([a-z_][a-z0-9_]*)\}/g;

const paramSpec = z.strictObject({
  flag: z.string().regex(FLAG, 'must look like --some-flag'),
  type: z.enum(['integer', 'number', 'string', 'boolean', 'choice']),
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  choices: z.array(z.string()).min(1).optional(),
  description: z.string().default(''),
});

export const definitionSchema = z.strictObject({
  description: z.string().min(1),
  /** The payload script; a relative path is relative to the YAML file. */
  script: z.string().min(1),
  interpreter: z
    .string()
    .regex(/^\/\S+$/, 'must be an absolute path, e.g. /usr/bin/python3')
    .default('/usr/bin/python3'),
  /** Arguments after the script; `{work_dir}`, `{script}` and `{<param>}` are replaced. */
  args: z.array(z.string()).default([]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'), z.string()).default({}),
  params: z.record(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be snake_case'), paramSpec).default({}),
  criu_flags: z.strictObject({ dump: z.array(z.string().regex(/^--/)).default([]), restore: z.array(z.string().regex(/^--/)).default([]) }).prefault({}),
  /** Paths on the source node, outside the work dir, moved with the images; placeholders allowed. */
  move_files: z.array(z.string().min(1)).default([]),
  requires: z
    .array(
      z.union([
        z.strictObject({ python_module: z.string().min(1), package: z.string().min(1) }),
        z.strictObject({ binary: z.string().min(1), package: z.string().min(1) }),
      ]),
    )
    .default([]),
  protocol: z.enum(['seed', 'status']).default('seed'),
});

export type CustomDefinition = z.infer<typeof definitionSchema>;

function paramSchema(name: string, spec: CustomDefinition['params'][string]): z.ZodType {
  if (spec.type === 'choice' && !spec.choices) throw new Error(`params.${name}: a choice needs choices: [...]`);
  const base: z.ZodType =
    spec.type === 'integer'
      ? numeric(z.number().int())
      : spec.type === 'number'
        ? numeric(z.number())
        : spec.type === 'boolean'
          ? flagBoolean()
          : spec.type === 'choice'
            ? z.enum((spec.choices ?? []) as [string, ...string[]])
            : z.string();
  if (spec.default === undefined) return base;
  const parsed = base.safeParse(spec.default);
  if (!parsed.success) throw new Error(`params.${name}.default: ${JSON.stringify(spec.default)} is not a valid ${spec.type}`);
  return base.default(parsed.data);
}

/** Replaces `{name}` in one template word; every name must be known. */
export function fillTemplate(word: string, values: Readonly<Record<string, unknown>>): string {
  return word.replace(PLACEHOLDER, (_, name: string) => String(values[name]));
}

function placeholdersIn(words: readonly string[]): string[] {
  return words.flatMap((w) => [...w.matchAll(PLACEHOLDER)].map((m) => m[1]!));
}

/** Turns a parsed definition into a workload; throws with the reason when it is inconsistent. */
export function customWorkload(name: string, definition: CustomDefinition, definitionFile: string): Workload<Record<string, unknown>> {
  const script = resolve(dirname(definitionFile), definition.script);
  if (!existsSync(script)) throw new Error(`script: ${script} does not exist`);
  const known = new Set(['work_dir', 'script', ...Object.keys(definition.params)]);
  const unknown = placeholdersIn([...definition.args, ...definition.move_files]).filter((p) => !known.has(p));
  if (unknown.length > 0)
    throw new Error(
      `args/move_files: unknown placeholder${unknown.length > 1 ? 's' : ''} ${unknown.map((p) => `{${p}}`).join(', ')}; known: ${[...known].map((p) => `{${p}}`).join(', ')}`,
    );
  const params: WorkloadParam[] = Object.entries(definition.params).map(([key, spec]) => ({
    key,
    flag: spec.flag,
    description: spec.description,
    schema: paramSchema(key, spec),
    isSwitch: spec.type === 'boolean',
  }));
  const requires: Requirement[] = definition.requires.map((r) => ('binary' in r ? binary(r.binary, r.package) : pythonModule(r.python_module, r.package)));
  const values = (params: Readonly<Record<string, unknown>>, workDir: string, scriptDir?: string) => ({
    ...params,
    work_dir: workDir,
    script: payloadPath({ workDir, scriptDir }, basename(script)),
  });
  return defineWorkload<Record<string, unknown>>({
    name,
    description: definition.description,
    params,
    payloadFiles: withProtocol(script),
    // Started in the work dir, which moves with the process, so relative paths the script writes move too.
    startArgv: ({ params, workDir, scriptDir }) => {
      const filled = values(params, workDir, scriptDir);
      return [
        ...(Object.keys(definition.env).length > 0 ? ['env', ...Object.entries(definition.env).map(([k, v]) => `${k}=${v}`)] : []),
        'sh',
        '-c',
        'cd "$1" && shift && exec "$@"',
        'sh',
        workDir,
        definition.interpreter,
        filled.script,
        ...definition.args.map((word) => fillTemplate(word, filled)),
      ];
    },
    criuFlags: definition.criu_flags,
    requires,
    moveFiles: ({ params, workDir }) => definition.move_files.map((path) => fillTemplate(path, values(params, workDir))),
    ...(definition.protocol === 'seed' ? { observer: seedObserver } : {}),
    verify: ({ frozen, restored, resumed, final }) =>
      definition.protocol === 'seed'
        ? verdict(observedChecks(frozen, restored, resumed))
        : verdict([
            check('progress continues', resumed.counter > frozen.counter, `counter ${frozen.counter} at freeze, ${resumed.counter} after restore`),
            check('same process', final.pid === frozen.pid, `pid ${frozen.pid} at freeze, ${final.pid} after restore`),
            check(
              'data intact',
              final['checksum'] === frozen.checksum,
              `checksum ${frozen.checksum.slice(0, 16)}… at freeze, ${String(final['checksum']).slice(0, 16)}… in the final report`,
            ),
          ]),
  });
}

export interface CustomWorkloads {
  readonly workloads: Workload<Record<string, unknown>>[];
  /** The YAML file of each, by workload name. */
  readonly definedIn: Map<string, string>;
  /** One line per file that could not be used: `<file>: <path>: <reason>`. */
  readonly problems: string[];
}

/**
 * Every `<name>.yaml` in dir as a workload named after the file. A file that does not parse,
 * clashes with a taken name, or reuses another workload's flag for a different key is skipped
 * and reported, so one bad file does not stop the others or the built-in workloads.
 */
export function loadCustomWorkloads(dir: string, registered: readonly Workload<Record<string, unknown>>[]): CustomWorkloads {
  const result: CustomWorkloads = { workloads: [], definedIn: new Map(), problems: [] };
  if (!existsSync(dir)) return result;
  const keyOfFlag = new Map(registered.flatMap((w) => w.params.map((p) => [p.flag, p.key] as const)));
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()) {
    const path = join(dir, file);
    const name = file.slice(0, -'.yaml'.length);
    const fail = (reason: string) => result.problems.push(`${path}: ${reason}`);
    if (!NAME.test(name)) {
      fail(`the file name must be <name>.yaml with a name of a-z, 0-9 and _`);
      continue;
    }
    if ([...registered, ...result.workloads].some((w) => w.name === name)) {
      fail(`a workload named ${name} already exists; rename the file`);
      continue;
    }
    const doc = parseDocument(readFileSync(path, 'utf8'));
    if (doc.errors.length > 0) {
      fail(`invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      continue;
    }
    const parsed = definitionSchema.safeParse(doc.toJS() ?? {});
    if (!parsed.success) {
      fail(parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '));
      continue;
    }
    const clash = Object.entries(parsed.data.params).find(([key, spec]) => keyOfFlag.has(spec.flag) && keyOfFlag.get(spec.flag) !== key);
    if (clash) {
      fail(
        `params.${clash[0]}: flag ${clash[1].flag} already sets workload.${keyOfFlag.get(clash[1].flag)} for another workload; pick another flag or use that key`,
      );
      continue;
    }
    try {
      const workload = customWorkload(name, parsed.data, path);
      result.workloads.push(workload);
      result.definedIn.set(name, path);
      for (const p of workload.params) keyOfFlag.set(p.flag, p.key);
    } catch (error) {
      fail((error as Error).message);
    }
  }
  return result;
}
