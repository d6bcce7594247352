// The core every folder shares: the one process runner and the one error renderer.
import { describe, expect, it } from '@jest/globals';
import { AbortedError, ExternalError, renderError, UsageError } from '../../core/errors.js';
import { runProcess, shellExitCode } from '../../core/process.js';

describe('the process runner', () => {
  it('returns one result shape: exit code, stdout, stderr, their interleaved output and the duration', async () => {
    const result = await runProcess(['sh', '-c', 'echo out; echo err >&2']);
    expect(result).toMatchObject({ command: ['sh', '-c', 'echo out; echo err >&2'], exitCode: 0, signal: null, stdout: 'out\n', stderr: 'err\n' });
    expect(result.output).toContain('out\n');
    expect(result.output).toContain('err\n');
    expect(result.durationMs).toBeGreaterThan(0);
  });

  it('fails with an ExternalError naming the command, its exit and its output tail, with the hint given', async () => {
    const failing = runProcess(['sh', '-c', 'echo no space left >&2; exit 3'], { hint: 'free some disk' });
    await expect(failing).rejects.toBeInstanceOf(ExternalError);
    await expect(failing).rejects.toMatchObject({ message: '`sh -c echo no space left >&2; exit 3` failed (exit 3): no space left', hint: 'free some disk' });
  });

  it('with check: false returns the failure as a result, 128+n when killed by signal n', async () => {
    expect((await runProcess(['sh', '-c', 'exit 3'], { check: false })).exitCode).toBe(3);
    const killed = await runProcess(['sh', '-c', 'kill -TERM $$'], { check: false });
    expect(killed).toMatchObject({ exitCode: null, signal: 'SIGTERM' });
    expect(shellExitCode(killed)).toBe(143);
  });

  it('says a program that is not installed cannot run: an error with its own hint, or exit 127', async () => {
    await expect(runProcess(['criu-lab-no-such-program'], { missingProgramHint: 'install it' })).rejects.toMatchObject({
      message: expect.stringMatching(/^cannot run criu-lab-no-such-program: /),
      hint: 'install it',
    });
    const missing = await runProcess(['criu-lab-no-such-program'], { check: false });
    expect(shellExitCode(missing)).toBe(127);
    expect(missing.output).toMatch(/ENOENT/);
  });

  it('stops a command at its timeout', async () => {
    const slow = await runProcess(['sleep', '5'], { timeoutMs: 100, check: false });
    expect(slow.signal).toBe('SIGTERM');
    expect(slow.durationMs).toBeLessThan(4_000);
  });
});

describe('the error renderer', () => {
  it('lists every problem of a usage error and its hint, exit 2', () => {
    expect(renderError(new UsageError('invalid lab options', ['--nodes must be from 2 to 8'], { hint: 'fix the options named above' }))).toEqual({
      text: 'error: invalid lab options\n  - --nodes must be from 2 to 8\nhint: fix the options named above',
      exitCode: 2,
    });
  });

  it('names node, step, command, exit and log tail of an external error, exit 1', () => {
    const details = { node: 'n1', step: 'dump', command: 'criu dump -t 42', exitCode: 1, logTail: 'Error (criu/cr-dump.c)' };
    expect(renderError(new ExternalError('dump failed on n1 (exit 1)', details))).toEqual({
      text: [
        'error: dump failed on n1 (exit 1)',
        '  node:    n1',
        '  step:    dump',
        '  command: criu dump -t 42',
        '  exit:    1',
        '  log tail:',
        '    Error (criu/cr-dump.c)',
      ].join('\n'),
      exitCode: 1,
    });
  });

  it('renders an interruption as such, exit 130, and anything else as our bug, exit 70', () => {
    expect(renderError(new AbortedError('SIGINT'))).toEqual({ text: 'aborted: SIGINT', exitCode: 130 });
    const bug = renderError(new TypeError('x is undefined'));
    expect(bug.exitCode).toBe(70);
    expect(bug.text).toMatch(/^internal error \(a bug in criu-lab, please report it\):\nTypeError: x is undefined/);
  });
});
