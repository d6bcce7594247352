// A standalone script written for the original framework, run by naming it (`--script x.py --
// --its-flag 1`, or workload.script in a config) with no YAML registration: the same machinery
// as a YAML-registered custom workload (protocol seed), its definition built in memory.
import { existsSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { UsageError } from '../../core/errors.js';
import type { Registry } from '../../core/registry.js';
import type { Workload } from '../workload.js';
import { customWorkload, definitionSchema } from './custom.js';

/** Interpreters by file extension; a script of another kind needs a YAML registration naming its interpreter. */
const INTERPRETERS: Readonly<Record<string, string>> = { '.py': '/usr/bin/python3', '.sh': '/bin/sh' };

/** The script and args each script workload was registered with. */
const registered = new Map<string, string>();

/** `script_<file name>`: the workload name a script runs under, in results and metrics. */
export const scriptWorkloadName = (scriptPath: string): string =>
  `script_${basename(scriptPath, extname(scriptPath))
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')}`;

/**
 * The workload for `scriptPath` (absolute) with `args` after its --working_dir, registered in
 * `registry` under scriptWorkloadName (replacing none: the same script with other args is a usage error).
 * `origin` names the flag or config key, for errors.
 */
export function registerScriptWorkload(
  registry: Registry<Workload<Record<string, unknown>>>,
  scriptPath: string,
  args: readonly string[],
  origin: string,
): string {
  const interpreter = INTERPRETERS[extname(scriptPath)];
  if (!existsSync(scriptPath))
    throw new UsageError('cannot run the script', [
      `${origin}: no such file ${scriptPath}; fix: check the path (relative paths are from the current directory, or from the config file that names it)`,
    ]);
  if (!interpreter)
    throw new UsageError('cannot run the script', [
      `${origin}: ${scriptPath} is neither .py nor .sh; fix: register it with a YAML file in config/workloads/custom/ that names its interpreter`,
    ]);
  const name = scriptWorkloadName(scriptPath);
  // Loading the same plan twice (a sweep, a test) registers nothing new.
  const key = JSON.stringify([scriptPath, args]);
  if (registered.get(name) === key && registry.has(name)) return name;
  if (registry.has(name))
    throw new UsageError('cannot run the script', [
      `${origin}: a workload named ${name} is already registered; fix: rename the script, or run the registered workload with --workload ${name}`,
    ]);
  // Braces would read as placeholders of the argv template: an argument is passed as written.
  if (args.some((arg) => /\{[a-z_][a-z0-9_]*\}/.test(arg)))
    throw new UsageError('cannot run the script', [
      `${origin}: an argument like {name} is reserved for placeholders; fix: register the script with a YAML file`,
    ]);
  const definition = definitionSchema.parse({
    description: `standalone script ${basename(scriptPath)} (the original framework's protocol: checkpoint_ready, checkpoint_flag)`,
    script: scriptPath,
    interpreter,
    args: ['--working_dir', '{work_dir}', ...args],
    protocol: 'seed',
  });
  registry.register(customWorkload(name, definition, resolve(scriptPath)));
  registered.set(name, key);
  return name;
}
