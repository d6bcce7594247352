// The lab's host commands (ip, tc, ssh-keygen, mount, ...) through the one process runner of
// core/process.ts, with the lab's defaults: a failure is an error, 30 s at most, and a program
// that is not installed points at the lab's setup script.
import { runProcess, type ProcessOptions, type ProcessResult } from '../../core/process.js';

const MISSING_TOOL_HINT = 'install the lab prerequisites with `bash scripts/setup-host.sh` (as root)';
const FAILED_HINT = 'run the command by hand to see the whole output, then `criu-lab lab down` and retry';

export function run(command: readonly string[], options: Pick<ProcessOptions, 'check' | 'hint' | 'timeoutMs'> = {}): Promise<ProcessResult> {
  return runProcess(command, { timeoutMs: 30_000, missingProgramHint: MISSING_TOOL_HINT, ...options, hint: options.hint ?? FAILED_HINT });
}
