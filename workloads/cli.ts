// `criu-lab workloads`: every workload with its parameters (flag, config key, default), what it
// needs on a node and the CRIU flags it adds; the YAML-registered ones say which file they are.
// The registry (every workload, zod, yaml) loads in the action, not for the help of other commands.
import { relative } from 'node:path';
import type { Command } from 'commander';
import type { Workload } from './workload.js';

export interface WorkloadListing {
  readonly name: string;
  readonly description: string;
  /** The YAML file for a bring-your-own workload; undefined for a built-in one. */
  readonly definedIn: string | undefined;
  readonly params: readonly { readonly flag: string; readonly key: string; readonly default: unknown; readonly description: string }[];
  readonly requires: readonly string[];
  readonly criuFlags: Workload['criuFlags'];
}

export async function listWorkloads(): Promise<WorkloadListing[]> {
  const [{ customWorkloads, workloads }, { paramDefault }] = await Promise.all([import('./registry.js'), import('./workload.js')]);
  return workloads.all().map((w) => ({
    name: w.name,
    description: w.description,
    definedIn: customWorkloads.definedIn.get(w.name),
    params: w.params.map((p) => ({
      flag: p.flag,
      key: `workload.${p.key}`,
      default: paramDefault(p) ?? (p.isSwitch ? false : undefined),
      description: p.description,
    })),
    requires: w.requires.map((r) => `${r.kind === 'binary' ? '' : 'python module '}${r.name} (${r.debianPackage})`),
    criuFlags: w.criuFlags,
  }));
}

function render(listing: readonly WorkloadListing[], skipped: readonly string[]): string {
  const lines: string[] = [];
  const show = (value: unknown) => (value === undefined ? '(none)' : String(value));
  for (const w of listing) {
    lines.push(`${w.name}: ${w.description}${w.definedIn ? ` (from ${relative(process.cwd(), w.definedIn)})` : ''}`);
    const flagWidth = Math.max(0, ...w.params.map((p) => p.flag.length));
    const defaultWidth = Math.max(0, ...w.params.map((p) => show(p.default).length));
    for (const p of w.params) lines.push(`  ${p.flag.padEnd(flagWidth)}  default ${show(p.default).padEnd(defaultWidth)}  ${p.key}: ${p.description}`);
    if (w.requires.length > 0) lines.push(`  needs on both nodes: ${w.requires.join(', ')}`);
    const criu = [...w.criuFlags.dump.map((f) => `dump ${f}`), ...w.criuFlags.restore.map((f) => `restore ${f}`)];
    if (criu.length > 0) lines.push(`  CRIU flags: ${criu.join(', ')}`);
    lines.push('');
  }
  for (const problem of skipped) lines.push(`skipped: ${problem}`);
  return lines.join('\n').trimEnd();
}

export function registerWorkloadCommands(program: Command): Command {
  return program
    .command('workloads')
    .description('list the workloads with their parameters and defaults (each parameter is a `run` flag and a key under workload:)')
    .option('--json', 'print the list as JSON')
    .action(async (flags: { json?: boolean }) => {
      const listing = await listWorkloads();
      const { customWorkloads } = await import('./registry.js');
      process.stdout.write(
        `${flags.json ? JSON.stringify({ workloads: listing, skipped: customWorkloads.problems }, null, 2) : render(listing, customWorkloads.problems)}\n`,
      );
    });
}
