// criu-lab as a user installs it: `npm pack` of this checkout, `npm install -g` of the tarball
// into a prefix of its own, and the installed command run from a directory that is not the
// checkout. Payloads, defaults and profiles must come from the package; config/ and results/
// from the working directory. Packing builds dist/ (prepare) and the install fetches the
// dependencies (from npm's cache where it has them): a minute or two.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const root = resolve(import.meta.dirname, '../..');
const execFileAsync = promisify(execFile);
let dir: string;
let prefix: string;
let userDir: string;

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The installed command, by its bin link, from the user's directory; a failing run resolves with its code. */
function criuLab(...args: string[]): Promise<Outcome> {
  return execFileAsync(join(prefix, 'bin', 'criu-lab'), args, { cwd: userDir, env: { ...process.env, NO_COLOR: '1' } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: Outcome) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-package-'));
  prefix = join(dir, 'prefix');
  userDir = join(dir, 'elsewhere');
  mkdirSync(userDir);
  // A compiled file whose source was deleted, as an incremental tsc leaves behind: packing must not ship it.
  mkdirSync(join(root, 'dist', 'experiments'), { recursive: true });
  writeFileSync(join(root, 'dist', 'experiments', 'deleted-long-ago.js'), 'export {};\n');
  await execFileAsync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  const tarball = readdirSync(dir).find((name) => name.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack wrote no tarball into ${dir}`);
  await execFileAsync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', join(dir, tarball)], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  });
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('ships the build and the runtime files, and no sources or tests', () => {
    const installed = join(prefix, 'lib', 'node_modules', 'criu-lab');
    for (const file of [
      'dist/experiments/cli.js',
      'workloads/memory/payload.py',
      'workloads/payload_protocol.py',
      'config/default.yaml',
      'config/profiles.yaml',
      'config/prices.yaml',
    ])
      expect(existsSync(join(installed, file))).toBe(true);
    for (const file of ['experiments/cli.ts', 'test', 'tsconfig.json', 'dist/.tsbuildinfo']) expect(existsSync(join(installed, file))).toBe(false);
  });

  it('ships no compiled file whose source is gone (prepack builds dist/ from scratch; tsc alone keeps stale output)', () => {
    const installed = join(prefix, 'lib', 'node_modules', 'criu-lab');
    const compiled = (readdirSync(join(installed, 'dist'), { recursive: true }) as string[]).filter((file) => file.endsWith('.js'));
    expect(compiled.length).toBeGreaterThan(50);
    expect(compiled.filter((file) => !existsSync(join(root, file.replace(/\.js$/, '.ts'))))).toEqual([]);
  });

  it('prints its help from any directory', async () => {
    const help = await criuLab('--help');
    expect(help).toMatchObject({ code: 0, stderr: '' });
    for (const command of ['run', 'lab', 'init', 'workloads']) expect(help.stdout).toContain(`  ${command}`);
  });

  it('lists the built-in workloads with their defaults', async () => {
    const listing = await criuLab('workloads');
    expect(listing.code).toBe(0);
    expect(listing.stdout).toMatch(/^memory: /m);
    expect(listing.stdout).toMatch(/--mb-size\s+default 256/);
  });

  it("plans a run from the working directory's servers.yaml with the package's payload and defaults", async () => {
    mkdirSync(join(userDir, 'config'), { recursive: true });
    writeFileSync(join(userDir, 'key'), '');
    writeFileSync(join(userDir, 'config/servers.yaml'), 'nodes:\n  ssh_key: key\n  source:\n    ip: 10.77.0.11\n  destination:\n    ip: 10.77.0.12\n');
    const plan = await criuLab('run', '--dry-run', '--mb-size', '64');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('config/servers.yaml < flags');
    expect(plan.stdout).toContain(join(prefix, 'lib/node_modules/criu-lab/workloads/memory/payload.py'));
    expect(plan.stdout).toContain(`"resultsDir": "${join(userDir, 'results')}"`);
  });

  it("registers the user's own workloads from config/workloads/custom/ in the working directory", async () => {
    mkdirSync(join(userDir, 'config/workloads/custom'), { recursive: true });
    writeFileSync(join(userDir, 'config/workloads/custom/spin.sh'), '#!/bin/sh\nwhile :; do sleep 1; done\n');
    writeFileSync(
      join(userDir, 'config/workloads/custom/spin.yaml'),
      'description: sleeps forever\nscript: spin.sh\ninterpreter: /bin/sh\nparams:\n  naps:\n    flag: --naps\n    type: integer\n    default: 3\n',
    );
    const listing = await criuLab('workloads');
    expect(listing.code).toBe(0);
    expect(listing.stdout).toMatch(/^spin: sleeps forever/m);
    expect(listing.stdout).toContain('(from config/workloads/custom/spin.yaml)');
    const plan = await criuLab('run', '--dry-run', '--workload', 'spin', '--naps', '5');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(join(userDir, 'config/workloads/custom/spin.sh'));
  });

  it('writes a starter config/ once, and refuses to overwrite it without --force', async () => {
    rmSync(join(userDir, 'config'), { recursive: true, force: true });
    const first = await criuLab('init');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('wrote config/default.yaml');
    expect(readFileSync(join(userDir, 'config/default.yaml'), 'utf8')).toContain('#   name: "default-experiment"');
    const again = await criuLab('init');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('config/default.yaml: exists');
    expect((await criuLab('init', '--force')).code).toBe(0);
    // The starter's default.yaml, all commented out, leaves the package's defaults in force.
    expect((await criuLab('run', '--dry-run', '--source-ip', '10.77.0.11', '--dest-ip', '10.77.0.12')).code).toBe(0);
  });
});
