// `criu-lab init`: a starter config/ in the working directory for a criu-lab installed as a
// command. The package's own defaults keep applying beneath it (config/load.ts layers the
// working directory's config/default.yaml over the package's), so the starter only says what
// can be changed; results/ and the servers.yaml of `lab up` land beside it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { UsageError } from '../core/errors.js';
import { assetPath } from '../core/package-root.js';

/** One file init writes: its path under the working directory and its text. */
interface StarterFile {
  readonly path: string;
  readonly text: string;
}

const DEFAULTS_HEADER = `# Your settings, over criu-lab's own defaults (${assetPath('config/default.yaml')}),
# which apply beneath this file and are shown below commented out: uncomment a key (and the keys
# above it) to change it. Later layers: config/workloads/<type>.yaml, config/servers.yaml (written
# by \`criu-lab lab up\`), the experiment file (-c), command-line flags.
`;

/** The package's default.yaml with every setting commented out; its own comments stay as they are. */
const commentedOut = (text: string) =>
  text
    .split('\n')
    .map((line) => (line.trim() === '' || line.trimStart().startsWith('#') ? line : `# ${line}`))
    .join('\n');

async function starterFiles(): Promise<StarterFile[]> {
  const read = (path: string) => readFile(assetPath(path), 'utf8');
  return [
    { path: 'config/default.yaml', text: `${DEFAULTS_HEADER}\n${commentedOut(await read('config/default.yaml'))}` },
    { path: 'config/experiments/baseline.yaml', text: await read('config/experiments/baseline.yaml') },
    { path: 'config/sweeps/placement.yaml', text: await read('config/sweeps/placement.yaml') },
  ];
}

export interface InitResult {
  /** The files written, relative to the directory. */
  readonly written: readonly string[];
}

/** Writes the starter files into `dir`; refuses, writing nothing, when one exists and `force` is not set. */
export async function initProject(dir: string, force: boolean): Promise<InitResult> {
  const files = await starterFiles();
  const existing = files.filter((f) => existsSync(join(dir, f.path)));
  if (existing.length > 0 && !force)
    throw new UsageError(
      `${existing.length} of the starter files exist in ${dir}; nothing was written`,
      existing.map((f) => `${f.path}: exists; fix: move it away, or pass --force to overwrite it`),
    );
  for (const file of files) {
    const path = join(dir, file.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, file.text);
  }
  return { written: files.map((f) => relative(dir, join(dir, f.path))) };
}

/** What to do next, after the files init wrote. */
export function describeInit(result: InitResult): string {
  return [
    ...result.written.map((path) => `wrote ${path}`),
    '',
    'next:',
    `  bash ${assetPath('scripts/setup-host.sh')}   # once per machine, as root: CRIU, sshd, rsync, python3-numpy, ...`,
    '  criu-lab lab up                                  # two lab nodes; writes config/servers.yaml here',
    '  criu-lab run -c config/experiments/baseline.yaml # results/ here',
    '  criu-lab lab down',
  ].join('\n');
}
