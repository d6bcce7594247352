// Whether both nodes have what the workload's payload needs (python modules, binaries),
// checked in preflight so a missing package is named before anything starts.
import type { RemoteNode } from '../core/node.js';
import type { Requirement, Workload } from './workload.js';

// Looks modules up without importing them (torch takes seconds to import), binaries on PATH.
const PROBE = `import importlib.util, shutil, sys
for arg in sys.argv[1:]:
    kind, name = arg.split(":", 1)
    found = importlib.util.find_spec(name) is not None if kind == "python-module" else shutil.which(name) is not None
    if not found:
        print(arg)
`;

export const requirementsProbeArgv = (requires: readonly Requirement[]): string[] => [
  '/usr/bin/python3',
  '-c',
  PROBE,
  ...requires.map((r) => `${r.kind}:${r.name}`),
];

/** One problem line per requirement `probeOutput` reports missing. */
export function describeMissing(nodeName: string, workloadName: string, requires: readonly Requirement[], probeOutput: string): string[] {
  const missing = new Set(probeOutput.split('\n').map((line) => line.trim()));
  return requires
    .filter((r) => missing.has(`${r.kind}:${r.name}`))
    .map(
      (r) =>
        `${nodeName}: the ${workloadName} workload needs ${r.kind === 'binary' ? 'the program' : 'the python module'} ${r.name} (Debian package ${r.debianPackage}); install it: apt-get install ${r.debianPackage}`,
    );
}

/** How the probe runs on each node: the run's command timeout and abort signal. */
export interface ProbeOptions {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

async function missingOn(node: RemoteNode, workload: Workload, options: ProbeOptions): Promise<string[]> {
  const { requires, name } = workload;
  if (requires.length === 0) return [];
  const probe = await node.run(requirementsProbeArgv(requires), { check: false, step: 'preflight', ...options });
  // A probe that could not run says nothing about the packages; preflight reports python3 itself.
  return probe.exitCode === 0 ? describeMissing(node.name, name, requires, probe.stdout) : [];
}

/** Every requirement of the workload missing on either node, as preflight problems. */
export async function workloadPreflight(nodes: readonly [RemoteNode, RemoteNode], workload: Workload, options: ProbeOptions): Promise<string[]> {
  const [source, destination] = await Promise.all(nodes.map((node) => missingOn(node, workload, options)));
  return [...source!, ...destination!];
}
