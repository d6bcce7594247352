// Runs host commands as argv arrays (never a shell string) and returns one result shape,
// success or failure, so callers never parse error strings.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { ExternalError } from '../../core/errors.js';

export interface CommandResult {
  readonly command: readonly string[];
  /** null when the command was killed by a signal (see `signal`). */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface RunOptions {
  /** Throw an ExternalError when the command does not exit 0. @default true */
  readonly check?: boolean;
  /** What the user can do when the command fails; used only with `check`. */
  readonly hint?: string;
  /** @default 30000 */
  readonly timeoutMs?: number;
}

const MISSING_TOOL_HINT = 'install the lab prerequisites with `bash scripts/setup-host.sh` (as root)';

export function run(command: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = command;
  if (file === undefined) throw new TypeError('run() needs a non-empty argv');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 30_000 });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) =>
      reject(new ExternalError(`cannot run ${file}: ${error.message}`, { hint: MISSING_TOOL_HINT })),
    );
    child.on('close', (exitCode, signal) => {
      const result: CommandResult = {
        command,
        exitCode,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        durationMs: performance.now() - started,
      };
      if (exitCode !== 0 && (options.check ?? true)) reject(commandFailed(result, options.hint));
      else resolve(result);
    });
  });
}

function commandFailed(result: CommandResult, hint: string | undefined): ExternalError {
  const status = result.exitCode === null ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
  const output = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n');
  return new ExternalError(`\`${result.command.join(' ')}\` failed (${status})${output ? `: ${output}` : ''}`, {
    hint: hint ?? 'run the command by hand to see the whole output, then `criu-lab lab down` and retry',
  });
}
