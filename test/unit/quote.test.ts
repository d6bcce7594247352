import { execFileSync } from 'node:child_process';
import { describe, expect, it } from '@jest/globals';
import { quoteArg, quoteArgv } from '../../core/quote.js';

/** Runs a quoted command line through a real shell and returns the argv the shell saw. */
function argvSeenByShell(argv: string[]): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${quoteArgv(argv)}`]);
  return out.toString('utf8').split('\0').slice(0, -1);
}

describe('quoteArgv', () => {
  const hostile = [
    '1; touch /tmp/criu-lab-pwned',
    '$(touch /tmp/criu-lab-pwned)',
    '`touch /tmp/criu-lab-pwned`',
    "it's",
    '"double" \\back\\slash',
    'a\nnewline',
    '*',
    '~root',
    '--flag=value with spaces',
    '',
    '$HOME ${PATH} $((1+1))',
    '| & > < ! # %',
  ];

  it('keeps every hostile value a single literal argument', () => {
    expect(argvSeenByShell(['printf', ...hostile]).slice(1)).toEqual(hostile);
  });

  it('leaves plain words unquoted, so commands stay readable in logs', () => {
    expect(quoteArgv(['criu', 'dump', '-t', '42', '-D', '/srv/criu-lab/img/x'])).toBe('criu dump -t 42 -D /srv/criu-lab/img/x');
  });

  it('quotes the empty string instead of dropping it', () => {
    expect(quoteArg('')).toBe("''");
  });

  it('refuses a NUL byte, which no shell argument can hold', () => {
    expect(() => quoteArg('a\0b')).toThrow(/NUL/);
  });

  it('refuses an empty argv', () => {
    expect(() => quoteArgv([])).toThrow(/empty/);
  });
});
