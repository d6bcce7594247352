// The one runner of host commands (the lab's ip/tc/ssh-keygen, cdktf, terraform, the aws CLI,
// criu-lab itself): an argv array, never a shell string, and one result shape for success and
// failure alike, so callers never parse error strings. Commands on nodes go through core/node.ts.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { performance } from 'node:perf_hooks';
import { ExternalError } from './errors.js';

export interface ProcessResult {
  readonly command: readonly string[];
  /** null when the command was killed by a signal (see `signal`), or could not be started. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The last OUTPUT_TAIL_BYTES of stdout and stderr interleaved as they came; a failure to start says why here. */
  readonly output: string;
  readonly durationMs: number;
}

export interface ProcessOptions {
  /** Throw an ExternalError when the command cannot start or does not exit 0. @default true */
  readonly check?: boolean;
  /** What the user can do when the command fails; the error's hint, used with `check`. */
  readonly hint?: string;
  /** What the user can do when the program cannot be started (not installed). @default the `hint` */
  readonly missingProgramHint?: string;
  /** SIGTERM after this long. @default no limit */
  readonly timeoutMs?: number;
  readonly cwd?: string;
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Also pass the output through to this process's stdout/stderr as it comes. @default false */
  readonly echo?: boolean;
}

export type ProcessRunner = (command: readonly string[], options?: ProcessOptions) => Promise<ProcessResult>;

const OUTPUT_TAIL_BYTES = 64 * 1024;

export const runProcess: ProcessRunner = (command, options = {}) => {
  const [program, ...args] = command;
  if (program === undefined) throw new TypeError('runProcess needs a non-empty argv');
  const started = performance.now();
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  let output = '';
  const keep = (into: Buffer[], echo: NodeJS.WriteStream) => (chunk: Buffer) => {
    into.push(chunk);
    if (options.echo) echo.write(chunk);
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      // Always this module's view of process.env: a test's sandboxed environment reaches the child too.
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
    });
    child.stdout.on('data', keep(stdout, process.stdout));
    child.stderr.on('data', keep(stderr, process.stderr));
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null, startError?: Error) => {
      const result: ProcessResult = {
        command,
        exitCode,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        output: startError ? `${output}${startError.message}\n` : output,
        durationMs: performance.now() - started,
      };
      if (options.check === false || exitCode === 0) resolve(result);
      else if (startError) {
        const hint = options.missingProgramHint ?? options.hint;
        reject(new ExternalError(`cannot run ${program}: ${startError.message}`, { command: command.join(' '), hint }));
      } else reject(commandFailed(result, options.hint));
    };
    child.on('error', (error) => finish(null, null, error));
    child.on('close', (exitCode, signal) => finish(exitCode, signal));
  });
};

/** The exit status as a shell reports it: the exit code, 128+n when killed by signal n, 127 when it could not start. */
export function shellExitCode(result: ProcessResult): number {
  if (result.exitCode !== null) return result.exitCode;
  return result.signal ? 128 + (constants.signals[result.signal] ?? 0) : 127;
}

function commandFailed(result: ProcessResult, hint: string | undefined): ExternalError {
  const status = result.exitCode === null ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
  const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n');
  return new ExternalError(`\`${result.command.join(' ')}\` failed (${status})${tail ? `: ${tail}` : ''}`, { hint });
}
