// moto (moto_server, the widely used AWS emulator): where it is installed on this host, and
// starting it. The lab's S3 runs it inside the storage node's netns with the lab's bucket made
// (storageDown ends it with the storage node); `infra deploy --rehearsal` runs it on 127.0.0.1 in
// the host's netns and stops it itself. moto keeps everything in memory and answers any credentials.
import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalError } from '../../core/errors.js';

export const MOTO_VERSION = '5.2.1';
/** Points at a moto_server executable, overriding the search. */
export const MOTO_ENV = 'CRIU_LAB_MOTO_SERVER';
export const MOTO_INSTALL_HINT = `install it with \`pip install 'moto[server]==${MOTO_VERSION}'\` (into any Python 3 on PATH or a pyenv version), or set ${MOTO_ENV} to a moto_server executable`;

/** How to start moto: its argv before the host and port options, and where it was found. */
export interface MotoCommand {
  readonly argv: readonly string[];
  readonly found: string;
}

export type MotoSearch = { readonly command: MotoCommand } | { readonly missing: string };

interface SearchEnv {
  readonly env?: NodeJS.ProcessEnv;
  readonly home?: string;
}

/**
 * Finds moto: $CRIU_LAB_MOTO_SERVER if set (and nothing else then), else a moto_server on PATH
 * (pyenv's shims need pyenv itself on PATH, so they are skipped for the versions behind them),
 * else pyenv's versions, newest first: their bin/moto_server, or `python -m moto.server` where
 * the moto package is installed without the script.
 */
export function findMotoServer({ env = process.env, home = homedir() }: SearchEnv = {}): MotoSearch {
  const pinned = env[MOTO_ENV];
  if (pinned) {
    return isExecutable(pinned)
      ? { command: { argv: [pinned], found: `${MOTO_ENV}=${pinned}` } }
      : { missing: `${MOTO_ENV}=${pinned} is not an executable file` };
  }
  const pathDirs = (env['PATH'] ?? '').split(delimiter).filter((dir) => dir && !/\/\.pyenv\/shims\/?$/.test(dir));
  for (const dir of pathDirs) {
    const file = join(dir, 'moto_server');
    if (isExecutable(file)) return { command: { argv: [file], found: file } };
  }
  const versionsDir = join(env['PYENV_ROOT'] || join(home, '.pyenv'), 'versions');
  for (const version of pyenvVersions(versionsDir)) {
    const bin = join(versionsDir, version, 'bin');
    const script = join(bin, 'moto_server');
    if (isExecutable(script)) return { command: { argv: [script], found: script } };
    const python = join(bin, 'python3');
    if (isExecutable(python) && hasMotoPackage(join(versionsDir, version))) {
      return { command: { argv: [python, '-m', 'moto.server'], found: `${python} -m moto.server` } };
    }
  }
  return {
    missing: `looked in $${MOTO_ENV} (unset), for moto_server on PATH (${pathDirs.join(delimiter) || 'empty'}) and in ${versionsDir}/*/bin/ (moto_server, or python3 with the moto package)`,
  };
}

/** Who needs moto, for the error when it is missing: the command, and the emulator's role in it. */
export interface MotoNeed {
  readonly command: string;
  /** Completes "the AWS emulator …", e.g. "the lab's S3 runs on". */
  readonly role: string;
}

const LAB_STORAGE_NEED: MotoNeed = { command: 'lab up --storage', role: "the lab's S3 runs on" };

/** The moto command, or the error the command that needs it fails with: what is needed, where it looked, how to install it. */
export function requireMotoServer(search: MotoSearch = findMotoServer(), need: MotoNeed = LAB_STORAGE_NEED): MotoCommand {
  if ('command' in search) return search.command;
  throw new ExternalError(`${need.command} needs moto_server (moto ${MOTO_VERSION}, the AWS emulator ${need.role}): ${search.missing}`, {
    hint: MOTO_INSTALL_HINT,
  });
}

/** Why moto cannot run here, for tests that skip without it; undefined when it can. */
export function motoMissingReason(): string | undefined {
  const search = findMotoServer();
  return 'missing' in search ? `moto_server (moto ${MOTO_VERSION}) is not installed: ${search.missing}; ${MOTO_INSTALL_HINT}` : undefined;
}

export interface StartMotoOptions {
  /** The network namespace to run in. @default - the host's own, where moto only ever listens on 127.0.0.1 */
  readonly netns?: string;
  readonly address: string;
  readonly port: number;
  /** A bucket to make once moto answers. @default - none */
  readonly bucket?: string;
  readonly logPath: string;
  readonly timeoutMs: number;
  /** What to do when moto fails to start. @default - take the lab down and retry */
  readonly retryHint?: string;
  /** Told moto's pid as soon as it runs, before it answers: an owner that stops it on Ctrl-C needs it then. */
  readonly onSpawn?: (pid: number) => void;
  /**
   * The kernel kills moto when the process that started it dies, even by SIGKILL, where no handler
   * runs (setpriv --pdeathsig). For a moto that lives for one command; a lab's moto outlives `lab up`.
   * @default false
   */
  readonly diesWithOwner?: boolean;
}

export interface StartedMoto {
  /** moto's process, the leader of its own process group (see stopMoto). */
  readonly pid: number;
  readonly endpoint: string;
  /** How long it took to answer. */
  readonly startupMs: number;
}

/** Starts moto, in the netns if one is given, waits until it answers, and makes the bucket if one is named. */
export async function startMoto(command: MotoCommand, options: StartMotoOptions): Promise<StartedMoto> {
  const { netns, address, port, bucket, logPath, timeoutMs } = options;
  // Without a netns moto shares the host's network: loopback only, never an address others reach.
  if (netns === undefined && address !== '127.0.0.1') throw new Error(`internal: moto in the host's netns on ${address}, not 127.0.0.1`);
  const endpoint = `http://${address}:${port}`;
  const hint = options.retryHint ?? `see ${logPath}; \`criu-lab lab down\`, then retry`;
  const argv = [
    ...(options.diesWithOwner === true ? ['setpriv', '--pdeathsig', 'KILL', '--'] : []),
    ...(netns === undefined ? [] : ['ip', 'netns', 'exec', netns]),
    ...command.argv,
    ...['--host', address, '--port', String(port)],
  ];
  const started = performance.now();
  const log = openSync(logPath, 'a');
  let exited: string | undefined;
  let pid: number | undefined;
  try {
    const child = spawn(argv[0] ?? '', argv.slice(1), {
      // Its own process group: a Ctrl-C at the terminal does not reach it, its owner stops it.
      detached: true,
      stdio: ['ignore', log, log],
      // No AWS settings of this host reach it; unbuffered so its log is current.
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', PYTHONUNBUFFERED: '1' },
    });
    pid = child.pid;
    if (pid !== undefined) options.onSpawn?.(pid);
    child.once('exit', (code, signal) => (exited = signal ?? `code ${code}`));
    child.once('error', (error) => (exited = error.message));
    child.unref();
  } finally {
    closeSync(log);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited !== undefined || pid === undefined) {
      throw motoError(`moto_server (${command.found}) exited (${exited ?? 'no pid'}) before it answered on ${endpoint}`, logPath, hint);
    }
    const answered = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (answered) break;
    if (Date.now() > deadline) {
      killMoto(pid);
      throw motoError(`moto_server (${command.found}) did not answer on ${endpoint} within ${timeoutMs / 1000} s`, logPath, hint);
    }
    await sleep(100);
  }
  const startupMs = performance.now() - started;
  if (bucket !== undefined) {
    // moto starts empty. Its server mode checks no signatures: a plain path-style CreateBucket (us-east-1, no body).
    const created = await fetch(`${endpoint}/${bucket}`, { method: 'PUT', signal: AbortSignal.timeout(10_000) });
    if (!created.ok) throw motoError(`moto did not create the lab's bucket ${bucket}: HTTP ${created.status} ${await created.text()}`, logPath, hint);
  }
  return { pid, endpoint, startupMs };
}

/**
 * Kills a moto startMoto started, with the process group it leads, at once: it keeps nothing
 * worth a graceful stop. Synchronous, so a signal handler can call it; false when it was gone.
 */
export function killMoto(pid: number): boolean {
  try {
    process.kill(-pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/** Kills moto and waits until its process is gone (reaped, not a zombie), at most `timeoutMs`. */
export async function stopMoto(pid: number, timeoutMs = 5000): Promise<void> {
  killMoto(pid);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(50);
  }
  throw new ExternalError(`moto_server (pid ${pid}) is still there ${timeoutMs / 1000} s after SIGKILL`);
}

/** A TCP port on 127.0.0.1 nothing listens on right now, for a moto of its own. */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('internal: a TCP server on 127.0.0.1 has no port');
  return address.port;
}

function motoError(message: string, logPath: string, hint: string): ExternalError {
  const tail = existsSync(logPath) ? readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-10).join('\n') : '(no log)';
  return new ExternalError(`${message}\n${tail}`, { hint });
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** pyenv's version directories, newest first (3.12.1 before 3.11.7 before 3.9.18). */
function pyenvVersions(versionsDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(versionsDir);
  } catch {
    return [];
  }
  const key = (name: string) =>
    name
      .split(/[^0-9]+/)
      .filter(Boolean)
      .map(Number);
  return names.sort((a, b) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < Math.max(ka.length, kb.length); i++) if ((ka[i] ?? -1) !== (kb[i] ?? -1)) return (kb[i] ?? -1) - (ka[i] ?? -1);
    return a.localeCompare(b);
  });
}

/** The moto package in one of a Python prefix's site-packages, with the server module. */
function hasMotoPackage(prefix: string): boolean {
  const lib = join(prefix, 'lib');
  try {
    return readdirSync(lib).some((dir) => dir.startsWith('python3') && existsSync(join(lib, dir, 'site-packages', 'moto', 'server.py')));
  } catch {
    return false;
  }
}
