// rsync node to node. By default over SSH with a key made on the source for this run only (its
// private half never leaves the source), the destination's pinned host key, whole-file, a fast
// cipher. On the destination the key works only from the source's address and only through a gate
// (rsync-gate.sh) that lets it receive into the run's own directories, nothing else. With
// transfer.encrypt false it talks to a per-run rsync daemon in the clear instead (rsync-daemon.ts);
// with transfer.streams N each directory's files are split by size between N rsyncs at once, each
// over its own SSH connection (one connection is one cipher process, one core).
import { assetPath } from '../../core/package-root.js';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { stagingDir } from '../open-files.js';
import { directoryBytes } from '../criu/images.js';
import { ExternalError } from '../../core/errors.js';
import type { RemoteNode } from '../../core/node.js';
import type { RunContext, RunPaths } from '../run-context.js';
import { ms } from '../units.js';
import { daemonConfig, daemonDir, daemonUrl, newDaemonPassword, passwordPath, secretsLine, startDaemonArgv, stopDaemonArgv } from './rsync-daemon.js';
import { nodeStep, transferMetrics } from './steps.js';
import { LOCAL_IMAGES, localImageDirs, type SessionOptions, type Transfer, type TransferItem } from './transfer.js';
import type { RsyncSettings } from '../metrics.js';
import { z } from 'zod';
import { leftoversProblems } from './shared-storage.js';

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

// One node-timed command for the whole move. Over SSH: one master connection per stream (opened
// together), closed at the end, also on failure. Then each directory in turn: with one stream a
// plain rsync into its path (which the gate or the daemon's module checks); with several, its
// regular files largest first, each to the stream with the fewest bytes so far, and every stream
// an rsync that leaves out the other streams' files (as anchored exclude patterns, wildcards
// escaped; a name rsync cannot match that way only travels twice). Links and other non-regular
// files go with stream 0. The directory tree goes first, in one rsync of directories only: rsyncs
// started together would race to mkdir the same path, and the loser fails with "File exists".
const MOVE_SCRIPT = [
  'streams=$1 ssh=$2 target=$3 mux=$4 count=$5; shift 5; options=("${@:1:count}"); shift "$count"',
  'via() { if [ "$streams" -eq 1 ]; then echo "$mux"; else echo "$mux.$1"; fi; }',
  'if [ -n "$ssh" ]; then',
  '  pids=(); for ((k = 0; k < streams; k++)); do $ssh -o ControlPath="$(via $k)" -o ControlMaster=yes -o ControlPersist=yes -N -f "$target" & pids+=($!); done',
  '  trap \'for ((k = 0; k < streams; k++)); do $ssh -o ControlPath="$(via $k)" -O exit "$target" 2>/dev/null; done\' EXIT',
  '  for p in "${pids[@]}"; do wait "$p" || exit; done',
  'fi',
  'copy() { k=$1; shift; if [ -n "$ssh" ]; then rsync "${options[@]}" -e "$ssh -o ControlPath=$(via $k)" "$@"; else rsync "${options[@]}" "$@"; fi; }',
  'while [ $# -gt 0 ]; do',
  '  if [ "$streams" -eq 1 ]; then copy 0 "$1/" "$2" || exit; shift 2; continue; fi',
  '  lists="$mux.lists"; rm -rf "$lists"; mkdir -p "$lists" || exit',
  '  (cd "$1" && find . -mindepth 1 ! -type d -printf \'%s\\t%y\\t%P\\n\') | sort -t "$(printf \'\\t\')" -k1,1nr | awk -F \'\\t\' -v n="$streams" -v lists="$lists" \'',
  '    BEGIN { for (i = 0; i < n; i++) printf "" > (lists "/" i) }',
  '    { k = 0; if ($2 == "f") { for (i = 1; i < n; i++) if (sum[i] < sum[k]) k = i; sum[k] += $1 }',
  '      p = $3; if (p ~ /[][*?]/) gsub(/[][*?\\\\]/, "\\\\\\\\&", p)',
  '      for (i = 0; i < n; i++) if (i != k) print "/" p >> (lists "/" i) }\' || exit',
  '  copy 0 --include="*/" --exclude="*" "$1/" "$2" || exit',
  '  pids=(); for ((k = 0; k < streams; k++)); do copy "$k" --exclude-from="$lists/$k" "$1/" "$2" & pids+=($!); done',
  '  failed=0; for p in "${pids[@]}"; do wait "$p" || failed=1; done',
  '  rm -rf "$lists"; [ "$failed" -eq 0 ] || exit 1; shift 2',
  'done',
].join('\n');

/** How the run's rsync is set up: the settings metrics.json records with the transfer. */
export function rsyncSettings(plan: Ctx['plan']): RsyncSettings {
  const { streams, encrypt, rsync } = plan.transfer;
  return encrypt
    ? { streams, encrypt, channel: 'ssh', cipher: rsync.cipher, compress: rsync.compress }
    : { streams, encrypt, channel: 'daemon', daemonPort: rsync.daemonPort, compress: rsync.compress };
}

function sshCommand(c: Ctx): string {
  const { plan } = c;
  // Paths are restricted to [A-Za-z0-9._/-] by the config schema, so rsync's own word splitting of -e is safe.
  return [
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
    '-c',
    plan.transfer.rsync.cipher,
    '-p',
    String(plan.nodes.sshPort),
  ].join(' ');
}

/** Where an item goes: `user@host:path/` over SSH, or the daemon's module URL. */
function destinationOf(c: Ctx, item: TransferItem): string {
  const { plan } = c;
  if (plan.transfer.encrypt) return `${plan.nodes.sshUser}@${plan.nodes.destination.ip}:${item.to}/`;
  const url = daemonUrl(plan.nodes.destination.ip, plan.transfer.rsync.daemonPort, c.runId, receivingDirs(c.paths), item.to);
  if (url === undefined) throw new ExternalError(`rsync daemon: ${item.to} is not inside a directory of run ${c.runId}`, { step: 'rsync move' });
  return url;
}

export function moveArgv(c: Ctx, items: readonly TransferItem[]): string[] {
  const { plan } = c;
  const options = [
    '-a',
    '--whole-file',
    '--numeric-ids',
    '--stats',
    '--mkpath',
    ...(plan.transfer.rsync.compress ? ['--compress'] : []),
    // Over SSH an inert option for the receiving side only, so its argv carries the run id and cleanup
    // finds it (a daemon refuses it; its own argv carries the run's path). To the daemon, the
    // password from a 0600 file on the source, never in an argv.
    plan.transfer.encrypt ? `--remote-option=--log-file-format=criu-lab-${c.runId}` : `--password-file=${passwordPath(c.paths)}`,
  ];
  const encrypted = plan.transfer.encrypt;
  return [
    'bash',
    '-c',
    MOVE_SCRIPT,
    'bash',
    String(plan.transfer.streams),
    encrypted ? sshCommand(c) : '',
    encrypted ? `${plan.nodes.sshUser}@${plan.nodes.destination.ip}` : '',
    muxPath(c),
    String(options.length),
    ...options,
    ...items.flatMap((i) => [i.from, destinationOf(c, i)]),
  ];
}

/** "Total transferred file size: 1,234 bytes" from rsync --stats, summed over every rsync of a move. */
export function transferredBytes(stats: string): number {
  return [...stats.matchAll(/Total transferred file size: ([\d,.]+)/g)].reduce((sum, m) => sum + Number(m[1]!.replace(/[,.]/g, '')), 0);
}

const removeRunKey = (destination: RemoteNode, runId: string, timeoutMs: number) =>
  destination.run(removeRunKeyArgv(runId), { check: false, idempotent: true, step: 'rsync cleanup', timeoutMs, asUser: true });

const stopDaemon = (destination: RemoteNode, paths: RunPaths, timeoutMs: number) =>
  destination.run(stopDaemonArgv(paths), { check: false, idempotent: true, step: 'rsync cleanup', timeoutMs });

/** The run's part of the leftovers record: whether a daemon may be running on the destination (its directory follows from the run's paths). */
const leftoversSchema = z.strictObject({ daemon: z.literal(true) });

/** Over SSH: the run key, authorized on the destination for the run's directories only. */
async function prepareSsh(ctx: RunContext): Promise<void> {
  const { source, destination, signal } = ctx;
  const timeoutMs = ms(ctx.plan.timeouts.commandS);
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
}

/** In the clear: the run's daemon on the destination, its password on both nodes (0600, written over SFTP), recorded before it starts. */
async function prepareDaemon(ctx: RunContext, remember: SessionOptions['remember']): Promise<void> {
  const { source, destination, signal, plan, paths } = ctx;
  const timeoutMs = ms(plan.timeouts.commandS);
  const dirs = receivingDirs(paths);
  const password = newDaemonPassword();
  await source.writeFile(passwordPath(paths), `${password}\n`, 0o600);
  await destination.run(['mkdir', '-p', '-m', '700', paths.sourceControlDir, daemonDir(paths)], { step: 'rsync daemon', timeoutMs, signal, idempotent: true });
  await destination.writeFile(`${daemonDir(paths)}/rsyncd.conf`, daemonConfig(paths, ctx.runId, dirs, await sourceAddresses(ctx)), 0o600);
  await destination.writeFile(`${daemonDir(paths)}/rsyncd.secrets`, secretsLine(password), 0o600);
  await remember?.({ daemon: true });
  const { daemonPort } = plan.transfer.rsync;
  const started = await destination.run(startDaemonArgv(paths, plan.nodes.destination.ip, daemonPort, dirs), {
    step: 'rsync daemon',
    timeoutMs,
    signal,
    check: false,
  });
  // The daemon's own log says why (a taken port, an address not on the node): the error carries it and names the setting.
  if (started.exitCode !== 0)
    throw new ExternalError(
      `transfer.rsync.daemon_port: ${started.stderr.trim().split('\n').join('; ') || `the rsync daemon did not start on ${destination.name}`}; free port ${daemonPort} on ${destination.name} or set another transfer.rsync.daemon_port`,
      { node: destination.name, step: 'rsync daemon' },
    );
}

export const rsyncTransfer: Transfer = {
  name: 'rsync',
  capabilities: LOCAL_IMAGES,

  imageDirs: localImageDirs,

  open(ctx, options = {}) {
    return {
      name: 'rsync',
      capabilities: LOCAL_IMAGES,

      async prepare() {
        await ctx.source.run(['mkdir', '-p', '-m', '700', ctx.paths.sourceControlDir], {
          step: 'rsync prepare',
          timeoutMs: ms(ctx.plan.timeouts.commandS),
          signal: ctx.signal,
          idempotent: true,
        });
        await (ctx.plan.transfer.encrypt ? prepareSsh(ctx) : prepareDaemon(ctx, options.remember));
      },

      async move(items) {
        const label = items.map((i) => i.label).join('+');
        const { step, result } = await nodeStep(ctx, ctx.source, label, moveArgv(ctx, items), async () =>
          (await Promise.all(items.map((i) => directoryBytes(ctx.destination, i.to)))).reduce((a, b) => a + b, 0),
        );
        const bytes = transferredBytes(result.stdout);
        return { ...transferMetrics('rsync', bytes, [{ ...step, name: `rsync ${label}`, bytes }]), rsync: rsyncSettings(ctx.plan) };
      },

      async cleanup() {
        const timeoutMs = ms(ctx.plan.timeouts.commandS);
        if (ctx.plan.transfer.encrypt) await removeRunKey(ctx.destination, ctx.runId, timeoutMs);
        else {
          await stopDaemon(ctx.destination, ctx.paths, timeoutMs);
          await ctx.source.run(['rm', '-f', passwordPath(ctx.paths)], { check: false, idempotent: true, step: 'rsync cleanup', timeoutMs });
        }
      },
    };
  },

  // Outside the run's directories rsync leaves its key line (found by the run id) or its daemon (found by the run's paths).
  checkLeftovers: (leftovers) => leftoversProblems(leftoversSchema, leftovers),

  async cleanLeftovers({ nodes, runId, paths, leftovers, commandTimeoutMs }) {
    if (!nodes.destination) return;
    await removeRunKey(nodes.destination, runId, commandTimeoutMs);
    if (leftoversSchema.safeParse(leftovers).success) await stopDaemon(nodes.destination, paths, commandTimeoutMs);
  },
};
