// Before anything starts on the nodes: CRIU present, `criu check` passing, the same CRIU
// version on both sides, the payload's interpreter there, and the strategy's own conditions.
import { ExternalError } from './errors.js';
import { CRIU, parseCriuVersion } from './criu/commands.js';
import type { RemoteNode } from './remote/node.js';
import { ms, type RunContext } from './run-context.js';
import type { Strategy } from './strategies/strategy.js';
import { tail } from './remote/ssh.js';

export const preflightCommands = (): string[][] => [[CRIU, '--version'], [CRIU, 'check'], ['uname', '-r']];

interface NodeFacts {
  readonly criu?: string;
  readonly kernel: string;
  readonly problems: string[];
}

async function inspect(node: RemoteNode, ctx: RunContext): Promise<NodeFacts> {
  const timeoutMs = ms(ctx.plan.timeouts.commandS);
  const run = (argv: string[]) => node.run(argv, { check: false, timeoutMs, signal: ctx.signal, step: 'preflight' });
  const [version, criuCheck, kernel] = await Promise.all(preflightCommands().map(run));
  const problems: string[] = [];
  const criu = parseCriuVersion(version!.stdout);
  if (version!.exitCode !== 0 || !criu) problems.push(`${node.name}: criu not found or not runnable (${tail(version!.stderr, 2) || `exit ${version!.exitCode}`}); run scripts/setup-host.sh on it`);
  else if (criuCheck!.exitCode !== 0) problems.push(`${node.name}: \`criu check\` failed:\n${tail(criuCheck!.stdout + criuCheck!.stderr, 8)}`);
  const python = await run(['test', '-x', '/usr/bin/python3']);
  if (python.exitCode !== 0) problems.push(`${node.name}: /usr/bin/python3 is missing (payloads need it); run scripts/setup-host.sh`);
  return { criu, kernel: kernel!.stdout.trim(), problems };
}

/** Returns the versions to record; throws with every problem found on either node. */
export async function preflight(ctx: RunContext, strategy: Strategy): Promise<Record<string, string>> {
  const [source, destination] = await Promise.all([inspect(ctx.source, ctx), inspect(ctx.destination, ctx)]);
  const problems = [...source!.problems, ...destination!.problems];
  if (source!.criu && destination!.criu && source!.criu !== destination!.criu)
    problems.push(`CRIU versions differ: ${source!.criu} on ${ctx.source.name}, ${destination!.criu} on ${ctx.destination.name}; install the same version on both`);
  problems.push(...(await strategy.preflight(ctx)));
  if (problems.length > 0) throw new ExternalError(`preflight found ${problems.length} problem${problems.length === 1 ? '' : 's'}; nothing was started:\n  - ${problems.join('\n  - ')}`, { step: 'preflight' });
  return { criu: source!.criu!, kernelSource: source!.kernel, kernelDestination: destination!.kernel, node: process.version };
}
