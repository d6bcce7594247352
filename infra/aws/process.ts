// Runs one external command (cdktf, terraform, the aws CLI, criu-lab run) as a child process,
// never through a shell, and returns one result shape for success and failure alike.
import { spawn } from 'node:child_process';

export interface CommandResult {
  readonly command: readonly string[];
  /** The exit code; 127 when the program could not be started, 128+n when killed by signal n. */
  readonly exitCode: number;
  /** The last OUTPUT_TAIL_BYTES of stdout and stderr, interleaved as they came. */
  readonly output: string;
  readonly durationMs: number;
}

export interface RunOptions {
  readonly cwd?: string;
  /** Added to the parent's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Also pass the output through to this process's stdout/stderr as it comes. @default false */
  readonly echo?: boolean;
}

export type CommandRunner = (command: readonly string[], options?: RunOptions) => Promise<CommandResult>;

const OUTPUT_TAIL_BYTES = 64 * 1024;

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export const runCommand: CommandRunner = (command, options = {}) => {
  const started = Date.now();
  const [program, ...args] = command;
  if (program === undefined) throw new Error('internal: runCommand needs a program');
  let output = '';
  const keep = (chunk: Buffer, echo: NodeJS.WriteStream) => {
    if (options.echo) echo.write(chunk);
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  return new Promise((resolve) => {
    const child = spawn(program, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => keep(chunk, process.stdout));
    child.stderr.on('data', (chunk: Buffer) => keep(chunk, process.stderr));
    child.on('error', (error) => {
      resolve({ command, exitCode: 127, output: `${output}${error.message}\n`, durationMs: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      const exitCode = code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0);
      resolve({ command, exitCode, output, durationMs: Date.now() - started });
    });
  });
};
