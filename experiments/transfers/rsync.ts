// rsync node to node over SSH with a key made on the source for this run only (its private
// half never leaves the source), the destination's pinned host key, whole-file, a fast cipher.
import { directoryBytes } from '../criu/images.js';
import { ExternalError } from '../errors.js';
import type { RunContext } from '../run-context.js';
import { ms } from '../units.js';
import { nodeStep, transferMetrics, type TimedStep } from './steps.js';
import { localImageDirs, type Transfer, type TransferItem } from './transfer.js';

type Ctx = Pick<RunContext, 'plan' | 'runId' | 'paths'>;

const keyPath = (c: Ctx) => `${c.paths.sourceControlDir}/transfer_key`;
const knownHostsPath = (c: Ctx) => `${c.paths.sourceControlDir}/known_hosts`;
const keyComment = (c: Pick<Ctx, 'runId'>) => `criu-lab-${c.runId}`;

/** Removes only this run's key line from the destination's authorized_keys (its comment carries the run id); harmless to repeat. */
export const removeRunKeyArgv = (runId: string): string[] => ['sh', '-c', 'f="$HOME/.ssh/authorized_keys"; [ ! -f "$f" ] || sed -i "/ $1\\$/d" "$f"', 'sh', keyComment({ runId })];

const keygenArgv = (c: Ctx) => ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', keyComment(c), '-f', keyPath(c)];

/** Authorises the run's key on the destination, restricted to running commands (no forwarding, no pty). */
const authorizeArgv = (publicKey: string) => ['sh', '-c', 'umask 077 && mkdir -p "$HOME/.ssh" && printf "%s\\n" "$1" >> "$HOME/.ssh/authorized_keys"', 'sh', `restrict ${publicKey}`];

/** One rsync call: directories that keep their path go together (-R, one SSH handshake), others alone. */
interface Batch {
  readonly label: string;
  readonly sources: readonly string[];
  readonly destination: string;
  readonly samePath: boolean;
}

export function batchesOf(items: readonly TransferItem[]): Batch[] {
  const same = items.filter((i) => i.from === i.to);
  const moved = items.filter((i) => i.from !== i.to);
  return [
    ...(same.length > 0 ? [{ label: same.map((i) => i.label).join('+'), sources: same.map((i) => i.from), destination: '/', samePath: true }] : []),
    ...moved.map((i) => ({ label: i.label, sources: [`${i.from}/`], destination: `${i.to}/`, samePath: false })),
  ];
}

function rsyncArgv(c: Ctx, batch: Batch): string[] {
  const { plan } = c;
  // Paths are restricted to [A-Za-z0-9._/-] by the config schema, so rsync's own word splitting of -e is safe.
  const ssh = [
    'ssh', '-i', keyPath(c), '-o', `UserKnownHostsFile=${knownHostsPath(c)}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-c', plan.transfer.rsync.cipher, '-p', String(plan.nodes.sshPort),
  ].join(' ');
  return [
    'rsync', '-a', '--whole-file', '--numeric-ids', '--stats', batch.samePath ? '--relative' : '--mkpath',
    ...(plan.transfer.rsync.compress ? ['--compress'] : []),
    // An inert option for the receiving side only, so its argv carries the run id and cleanup finds it.
    `--remote-option=--log-file-format=criu-lab-${c.runId}`,
    // A user other than root writes the root-owned image dirs through sudo on the destination too.
    ...(plan.nodes.sshUser !== 'root' ? ['--rsync-path=sudo -n rsync'] : []),
    '-e', ssh, ...batch.sources, `${plan.nodes.sshUser}@${plan.nodes.destination.ip}:${batch.destination}`,
  ];
}

/** "Total transferred file size: 1,234 bytes" from rsync --stats. */
export function transferredBytes(stats: string): number {
  const match = /Total transferred file size: ([\d,.]+)/.exec(stats);
  return match ? Number(match[1]!.replace(/[,.]/g, '')) : 0;
}

export const rsyncTransfer: Transfer = {
  name: 'rsync',

  imageDirs: localImageDirs,

  async prepare(ctx) {
    const { source, destination, signal } = ctx;
    const timeoutMs = ms(ctx.plan.timeouts.commandS);
    await source.run(['mkdir', '-p', '-m', '700', ctx.paths.sourceControlDir], { step: 'rsync prepare', timeoutMs, signal, idempotent: true });
    await source.run(keygenArgv(ctx), { step: 'rsync key', timeoutMs, signal });
    const publicKey = (await source.readFile(`${keyPath(ctx)}.pub`)).toString('utf8').trim();
    if (!destination.hostKey) throw new ExternalError(`no host key known for ${destination.name}`, { node: destination.name, step: 'rsync prepare' });
    await source.writeFile(knownHostsPath(ctx), `${ctx.plan.nodes.destination.ip} ${destination.hostKey}\n`, 0o600);
    // The key goes to the SSH user's own authorized_keys (the one rsync logs in as), not root's.
    await destination.run(authorizeArgv(publicKey), { step: 'rsync authorize', timeoutMs, signal, asUser: true });
  },

  async move(ctx, items) {
    const steps: TimedStep[] = [];
    for (const batch of batchesOf(items)) {
      const arrived = items.filter((i) => batch.sources.includes(i.from) || batch.sources.includes(`${i.from}/`)).map((i) => i.to);
      const { step, result } = await nodeStep(ctx, ctx.source, batch.label, rsyncArgv(ctx, batch), async () =>
        (await Promise.all(arrived.map((dir) => directoryBytes(ctx.destination, dir)))).reduce((a, b) => a + b, 0),
      );
      steps.push({ ...step, name: `rsync ${batch.label}`, bytes: transferredBytes(result.stdout) });
    }
    return transferMetrics('rsync', steps.reduce((sum, s) => sum + (s.bytes ?? 0), 0), steps);
  },

  async cleanup(ctx) {
    await ctx.destination.run(removeRunKeyArgv(ctx.runId), { check: false, idempotent: true, step: 'rsync cleanup', timeoutMs: ms(ctx.plan.timeouts.commandS), asUser: true });
  },

  describe(ctx, items) {
    return {
      prepare: [
        { on: 'source', argv: keygenArgv(ctx) },
        { on: 'destination', argv: authorizeArgv('<public key from the source>') },
      ],
      move: batchesOf(items).map((batch) => ({ on: 'source', argv: rsyncArgv(ctx, batch) })),
    };
  },
};
