// rsync node to node over SSH with a key made on the source for this run only (its private
// half never leaves the source), the destination's pinned host key, whole-file, a fast cipher.
// On the destination the key works only from the source's address and only through a gate
// (rsync-gate.sh) that lets it receive into the run's own directories, nothing else.
import { assetPath } from '../../core/package-root.js';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { stagingDir } from '../open-files.js';
import { directoryBytes } from '../criu/images.js';
import { ExternalError } from '../../core/errors.js';
import type { RemoteNode } from '../../core/node.js';
import type { RunContext, RunPaths } from '../run-context.js';
import { ms } from '../units.js';
import { nodeStep, transferMetrics } from './steps.js';
import { LOCAL_IMAGES, localImageDirs, type Transfer, type TransferItem } from './transfer.js';

type Ctx = Pick<RunContext, 'plan' | 'runId' | 'paths'>;

export const GATE_SCRIPT = assetPath('experiments/transfers/rsync-gate.sh');

const keyPath = (c: Ctx) => `${c.paths.sourceControlDir}/transfer_key`;
const knownHostsPath = (c: Ctx) => `${c.paths.sourceControlDir}/known_hosts`;
/** The master connection every rsync of one move shares: one SSH handshake (~0.4 s on a busy host) instead of one per directory. */
const muxPath = (c: Ctx) => `${c.paths.sourceControlDir}/mux`;
/**
 * The gate, carried in the key's line itself: no file on the destination to place, to protect from
 * the copies it allows, or to remove. Base64 keeps its quotes and newlines out of authorized_keys.
 */
const GATE_BASE64 = Buffer.from(readFileSync(GATE_SCRIPT, 'utf8')).toString('base64');
const keyComment = (c: Pick<Ctx, 'runId'>) => `criu-lab-${c.runId}`;

/** Where the run's key may write on the destination: the work dir, the image dir and the open-files staging dir. */
export const receivingDirs = (paths: RunPaths): string[] => [paths.workDir, paths.destImageDir, stagingDir(paths)];

/**
 * Removes only this run's key line from the destination's authorized_keys: the line that ends
 * in " criu-lab-<run id>", compared as a fixed string (awk reads it from the environment, so no
 * character of it is a pattern or a command). Harmless to repeat.
 */
export const removeRunKeyArgv = (runId: string): string[] => [
  'sh',
  '-c',
  'f="$HOME/.ssh/authorized_keys"; [ -f "$f" ] || exit 0; t="$f.criu-lab.$$"; ' +
    'SUFFIX=" $1" awk \'{ s = ENVIRON["SUFFIX"]; n = length($0) - length(s) } n < 0 || substr($0, n + 1) != s\' "$f" >"$t" && chmod 600 "$t" && mv -f "$t" "$f"',
  'sh',
  keyComment({ runId }),
];

const keygenArgv = (c: Ctx) => ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', keyComment(c), '-f', keyPath(c)];

/**
 * The run key's authorized_keys line: usable only from the source's addresses, only through the
 * gate (limited to the run's directories), and with no forwarding or pty.
 */
export function authorizedKeyLine(c: Ctx, fromAddresses: readonly string[], publicKey: string): string {
  // sshd hands the command to the user's shell; inside the option's quotes a `"` is written `\"`.
  const command = [`sh -c \\"$(echo ${GATE_BASE64} | base64 -d)\\" rsync-gate`, c.runId, ...receivingDirs(c.paths)].join(' ');
  return `from="${fromAddresses.join(',')}",command="${command}",restrict ${publicKey}`;
}

const authorizeArgv = (line: string) => ['sh', '-c', 'umask 077 && mkdir -p "$HOME/.ssh" && printf "%s\\n" "$1" >> "$HOME/.ssh/authorized_keys"', 'sh', line];

/**
 * The addresses the destination sees the source connect from: the configured one, and the one
 * the source routes from toward the destination (they differ with several interfaces).
 */
async function sourceAddresses(ctx: RunContext): Promise<string[]> {
  const { plan, source } = ctx;
  const routed = isIP(plan.nodes.destination.ip)
    ? /\bsrc (\S+)/.exec(
        (
          await source.run(['ip', '-o', 'route', 'get', plan.nodes.destination.ip], {
            check: false,
            idempotent: true,
            step: 'rsync prepare',
            timeoutMs: ms(plan.timeouts.commandS),
          })
        ).stdout,
      )?.[1]
    : undefined;
  const addresses = [...new Set([plan.nodes.source.ip, routed].filter((a): a is string => a !== undefined && isIP(a) !== 0))];
  if (addresses.length === 0)
    throw new ExternalError(`cannot tell which address ${source.name} connects to the destination from; set nodes.source.ip to an IP address`, {
      node: source.name,
      step: 'rsync prepare',
    });
  return addresses;
}

// One node-timed command for the whole move: a master connection, then one rsync per directory
// (each into its own path, which the gate checks), then the master closed, also on failure.
const MOVE_SCRIPT = [
  'ssh=$1 target=$2 count=$3; shift 3; options=("${@:1:count}"); shift "$count"',
  '$ssh -o ControlMaster=yes -o ControlPersist=yes -N -f "$target" || exit',
  'trap \'$ssh -O exit "$target" 2>/dev/null\' EXIT',
  'while [ $# -gt 0 ]; do rsync "${options[@]}" -e "$ssh" "$1/" "$target:$2/" || exit; shift 2; done',
].join('\n');

function moveArgv(c: Ctx, items: readonly TransferItem[]): string[] {
  const { plan } = c;
  // Paths are restricted to [A-Za-z0-9._/-] by the config schema, so rsync's own word splitting of -e is safe.
  const ssh = [
    'ssh',
    '-i',
    keyPath(c),
    '-o',
    `UserKnownHostsFile=${knownHostsPath(c)}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'BatchMode=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    `ControlPath=${muxPath(c)}`,
    '-c',
    plan.transfer.rsync.cipher,
    '-p',
    String(plan.nodes.sshPort),
  ].join(' ');
  const options = [
    '-a',
    '--whole-file',
    '--numeric-ids',
    '--stats',
    '--mkpath',
    ...(plan.transfer.rsync.compress ? ['--compress'] : []),
    // An inert option for the receiving side only, so its argv carries the run id and cleanup finds it.
    `--remote-option=--log-file-format=criu-lab-${c.runId}`,
  ];
  return [
    'bash',
    '-c',
    MOVE_SCRIPT,
    'bash',
    ssh,
    `${plan.nodes.sshUser}@${plan.nodes.destination.ip}`,
    String(options.length),
    ...options,
    ...items.flatMap((i) => [i.from, i.to]),
  ];
}

/** "Total transferred file size: 1,234 bytes" from rsync --stats, summed over every rsync of a move. */
export function transferredBytes(stats: string): number {
  return [...stats.matchAll(/Total transferred file size: ([\d,.]+)/g)].reduce((sum, m) => sum + Number(m[1]!.replace(/[,.]/g, '')), 0);
}

const removeRunKey = (destination: RemoteNode, runId: string, timeoutMs: number) =>
  destination.run(removeRunKeyArgv(runId), { check: false, idempotent: true, step: 'rsync cleanup', timeoutMs, asUser: true });

export const rsyncTransfer: Transfer = {
  name: 'rsync',
  capabilities: LOCAL_IMAGES,

  imageDirs: localImageDirs,

  open(ctx) {
    return {
      name: 'rsync',
      capabilities: LOCAL_IMAGES,

      async prepare() {
        const { source, destination, signal } = ctx;
        const timeoutMs = ms(ctx.plan.timeouts.commandS);
        await source.run(['mkdir', '-p', '-m', '700', ctx.paths.sourceControlDir], { step: 'rsync prepare', timeoutMs, signal, idempotent: true });
        await source.run(keygenArgv(ctx), { step: 'rsync key', timeoutMs, signal });
        const publicKey = (await source.readFile(`${keyPath(ctx)}.pub`)).toString('utf8').trim();
        if (!destination.hostKey) throw new ExternalError(`no host key known for ${destination.name}`, { node: destination.name, step: 'rsync prepare' });
        await source.writeFile(knownHostsPath(ctx), `${ctx.plan.nodes.destination.ip} ${destination.hostKey}\n`, 0o600);
        // The key goes to the SSH user's own authorized_keys (the one rsync logs in as), not root's;
        // its gate runs rsync through sudo when that user is not root.
        await destination.run(authorizeArgv(authorizedKeyLine(ctx, await sourceAddresses(ctx), publicKey)), {
          step: 'rsync authorize',
          timeoutMs,
          signal,
          asUser: true,
        });
      },

      async move(items) {
        const label = items.map((i) => i.label).join('+');
        const { step, result } = await nodeStep(ctx, ctx.source, label, moveArgv(ctx, items), async () =>
          (await Promise.all(items.map((i) => directoryBytes(ctx.destination, i.to)))).reduce((a, b) => a + b, 0),
        );
        const bytes = transferredBytes(result.stdout);
        return transferMetrics('rsync', bytes, [{ ...step, name: `rsync ${label}`, bytes }]);
      },

      async cleanup() {
        await removeRunKey(ctx.destination, ctx.runId, ms(ctx.plan.timeouts.commandS));
      },
    };
  },

  // The run key is the only thing rsync leaves outside the run's directories; the run id finds it.
  checkLeftovers: () => [],

  async cleanLeftovers({ nodes, runId, commandTimeoutMs }) {
    if (nodes.destination) await removeRunKey(nodes.destination, runId, commandTimeoutMs);
  },
};
