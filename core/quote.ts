// The one place where an argv array becomes a shell command line. Every value is
// single-quoted, so nothing a user puts in a parameter can reach a shell unquoted.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell. */
export function quoteArg(arg: string): string {
  if (arg.includes('\0')) throw new TypeError('a command argument cannot contain a NUL byte');
  if (arg !== '' && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Turns an argv array into a command line a POSIX shell runs as exactly that argv. */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) throw new TypeError('cannot quote an empty argv');
  return argv.map(quoteArg).join(' ');
}
