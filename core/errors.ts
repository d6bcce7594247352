// The one error family of criu-lab, and its one renderer. Three kinds of failure, each rendered
// and exited differently: the user's input (fix the config or flag), the world (a node, CRIU,
// AWS, the lab's host), our bug. The exit codes are listed in the README ("Exit codes").

/** What every expected failure carries: its exit code and, when there is one, what the user can do about it. */
export abstract class CriuLabError extends Error {
  abstract readonly exitCode: number;
  /** How to fix it, printed as `hint:` under the error. */
  readonly hint: string | undefined;

  protected constructor(message: string, hint: string | undefined) {
    super(message);
    this.name = new.target.name;
    this.hint = hint;
  }
}

/** The user's input is wrong: nothing was started. Exit code 2. */
export class UsageError extends CriuLabError {
  readonly exitCode = 2;
  constructor(
    message: string,
    /** Every problem at once, each naming its key or flag, so the user fixes them in one go. */
    readonly problems: readonly string[] = [],
    options: { readonly hint?: string } = {},
  ) {
    super(message, options.hint);
  }
}

/** Something outside criu-lab failed: a node, a command, CRIU, the network, AWS, the lab's host. Exit code 1. */
export class ExternalError extends CriuLabError {
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly details: {
      readonly node?: string;
      readonly step?: string;
      readonly command?: string;
      readonly exitCode?: number | null;
      /** The tail of the failing command's log or output. */
      readonly logTail?: string;
      readonly hint?: string;
    } = {},
  ) {
    super(message, details.hint);
  }
}

/** The run was interrupted (Ctrl-C, SIGTERM). Exit code 130. */
export class AbortedError extends CriuLabError {
  readonly exitCode = 130;
  constructor(reason = 'interrupted') {
    super(reason, undefined);
  }
}

/** Exit code of an error that is none of the above: a bug in criu-lab. */
export const INTERNAL_ERROR_EXIT_CODE = 70;

/** The most log lines an error shows; the whole log is in the results dir or the command's own output. */
const LOG_TAIL_LINES = 30;

/** Renders any error for a terminal: usage errors list every problem; external ones name node, step and log tail; each its hint. */
export function renderError(error: unknown): { text: string; exitCode: number } {
  if (error instanceof AbortedError) return { text: `aborted: ${error.message}`, exitCode: error.exitCode };
  if (error instanceof CriuLabError) {
    const lines = [`error: ${error.message}`];
    if (error instanceof UsageError) lines.push(...error.problems.map((p) => `  - ${p}`));
    if (error instanceof ExternalError) {
      const d = error.details;
      if (d.node) lines.push(`  node:    ${d.node}`);
      if (d.step) lines.push(`  step:    ${d.step}`);
      if (d.command) lines.push(`  command: ${d.command}`);
      if (d.exitCode !== undefined) lines.push(`  exit:    ${d.exitCode}`);
      if (d.logTail?.trim())
        lines.push(
          '  log tail:',
          ...d.logTail
            .trimEnd()
            .split('\n')
            .slice(-LOG_TAIL_LINES)
            .map((l) => `    ${l}`),
        );
    }
    if (error.hint) lines.push(`hint: ${error.hint}`);
    return { text: lines.join('\n'), exitCode: error.exitCode };
  }
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { text: `internal error (a bug in criu-lab, please report it):\n${text}`, exitCode: INTERNAL_ERROR_EXIT_CODE };
}

/**
 * Runs a command's action and reports its failure through renderError, setting the exit code:
 * for command groups that may run without the main program's handler (tests register them alone).
 */
export async function reportErrors(action: () => Promise<number | void>, write: (text: string) => void = (text) => console.error(text)): Promise<void> {
  try {
    const exitCode = await action();
    if (exitCode !== undefined) process.exitCode = exitCode;
  } catch (error) {
    const { text, exitCode } = renderError(error);
    write(text);
    process.exitCode = exitCode;
  }
}
