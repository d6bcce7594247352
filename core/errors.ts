// The three kinds of failure a run can end in, each rendered and exited differently:
// the user's input (fix the config or flag), the world (a node, CRIU, the network), our bug.

/** The user's input is wrong: nothing was started. Exit code 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Something outside criu-lab failed: a node, a command, CRIU, the network. Exit code 1. */
export class ExternalError extends Error {
  readonly exitCode = 1;
  constructor(
    message: string,
    readonly details: {
      readonly node?: string;
      readonly step?: string;
      readonly command?: string;
      readonly exitCode?: number | null;
      readonly logTail?: string;
    } = {},
  ) {
    super(message);
    this.name = 'ExternalError';
  }
}

/** The run was interrupted (Ctrl-C, SIGTERM). Exit code 130. */
export class AbortedError extends Error {
  readonly exitCode = 130;
  constructor(reason = 'interrupted') {
    super(reason);
    this.name = 'AbortedError';
  }
}

/** Renders any error for a terminal: usage errors list every problem; external ones name node, step and log tail. */
export function renderError(error: unknown): { text: string; exitCode: number } {
  if (error instanceof UsageError) {
    const lines = [`error: ${error.message}`, ...error.problems.map((p) => `  - ${p}`)];
    return { text: lines.join('\n'), exitCode: error.exitCode };
  }
  if (error instanceof ExternalError) {
    const d = error.details;
    const lines = [`error: ${error.message}`];
    if (d.node) lines.push(`  node:    ${d.node}`);
    if (d.step) lines.push(`  step:    ${d.step}`);
    if (d.command) lines.push(`  command: ${d.command}`);
    if (d.exitCode !== undefined) lines.push(`  exit:    ${d.exitCode}`);
    if (d.logTail) lines.push('  log tail:', ...d.logTail.trimEnd().split('\n').map((l) => `    ${l}`));
    return { text: lines.join('\n'), exitCode: error.exitCode };
  }
  if (error instanceof AbortedError) return { text: `aborted: ${error.message}`, exitCode: error.exitCode };
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  return { text: `internal error (a bug in criu-lab, please report it):\n${text}`, exitCode: 70 };
}
