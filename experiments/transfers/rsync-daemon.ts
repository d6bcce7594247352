// The unencrypted path of the rsync transfer (transfer.encrypt false): an rsync daemon started for
// one run on the destination, bound to the destination's address, one module per directory the
// run receives into, a password made for the run, and only the source's addresses allowed. Its
// files (config, secrets, pid, log) sit in a 0700 directory under the run's control directory on
// the destination; stopping it removes them. The daemon and its connections carry that path, and
// so the run id, in their argv, so the run's process cleanup finds them too.
import { randomBytes } from 'node:crypto';
import type { RunPaths } from '../run-context.js';

/** The daemon's own directory on the destination (the run's control directory exists there too, for TLS certificates). */
export const daemonDir = (paths: Pick<RunPaths, 'sourceControlDir'>): string => `${paths.sourceControlDir}/rsyncd`;
const configPath = (paths: Pick<RunPaths, 'sourceControlDir'>) => `${daemonDir(paths)}/rsyncd.conf`;
/** The password file on the source: rsync reads it with --password-file, so the password is in no argv. */
export const passwordPath = (paths: Pick<RunPaths, 'sourceControlDir'>): string => `${paths.sourceControlDir}/rsyncd.password`;

/** The user the run's password belongs to (a daemon user, not a system one). */
const DAEMON_USER = 'criu-lab';

/** A fresh password for one run's daemon: 32 hex digits, so it needs no quoting in the secrets file. */
export const newDaemonPassword = (): string => randomBytes(16).toString('hex');

/** The module of the i-th receiving directory: named after the run, so two runs' daemons never share one. */
export const moduleName = (runId: string, index: number): string => `${runId}-${index}`;

/** The secrets file's line (`user:password`), 0600 on the destination; the daemon refuses it otherwise (strict modes). */
export const secretsLine = (password: string): string => `${DAEMON_USER}:${password}\n`;

/**
 * rsyncd.conf for one run. Root on the destination writes root-owned images and keeps their
 * owners (numeric ids), chrooted into each module; nothing is listed, and a connection needs the
 * run's password and one of the source's addresses.
 */
export function daemonConfig(paths: RunPaths, runId: string, receivingDirs: readonly string[], sourceAddresses: readonly string[]): string {
  const dir = daemonDir(paths);
  return [
    `pid file = ${dir}/rsyncd.pid`,
    `log file = ${dir}/rsyncd.log`,
    'use chroot = yes',
    'numeric ids = yes',
    'uid = 0',
    'gid = 0',
    'read only = no',
    'list = no',
    `auth users = ${DAEMON_USER}`,
    `secrets file = ${dir}/rsyncd.secrets`,
    'strict modes = yes',
    `hosts allow = ${sourceAddresses.join(' ')}`,
    'hosts deny = *',
    ...receivingDirs.flatMap((path, i) => [`[${moduleName(runId, i)}]`, `path = ${path}`]),
    '',
  ].join('\n');
}

/** Where an item's destination path is reached through the daemon: its module and the path inside it. */
export function daemonUrl(address: string, port: number, runId: string, receivingDirs: readonly string[], to: string): string | undefined {
  const index = receivingDirs.findIndex((dir) => to === dir || to.startsWith(`${dir}/`));
  if (index < 0) return undefined;
  const inside = to.slice(receivingDirs[index]!.length).replace(/^\/+/, '');
  const host = address.includes(':') ? `[${address}]` : address;
  return `rsync://${DAEMON_USER}@${host}:${port}/${moduleName(runId, index)}/${inside ? `${inside}/` : ''}`;
}

// Made in one command: the module directories (the daemon chdirs into them at each connection),
// then the daemon, which forks into the background and returns before it listens; so wait until
// the port's listener is the daemon of its pid file (another program may hold the port), and show
// the daemon's log when it never is (a taken port, a bad address).
const START_SCRIPT = [
  'conf=$1 dir=$2 address=$3 port=$4; shift 4',
  'mkdir -p -- "$@" || exit',
  // stdin from /dev/null: a daemon whose stdin is a socket thinks inetd started it (and node's and some sshds' pipes are socketpairs).
  'rsync --daemon --config="$conf" --address="$address" --port="$port" </dev/null || exit',
  'i=0; until p=$(cat "$dir/rsyncd.pid" 2>/dev/null) && ss -H -l -t -n -p "sport = :$port" | grep -q "pid=$p,"; do',
  '  i=$((i+1)); if [ "$i" -ge 250 ]; then echo "the rsync daemon did not listen on $address:$port within 5 s" >&2; tail -n 5 "$dir/rsyncd.log" >&2; exit 1; fi',
  '  sleep 0.02',
  'done',
].join('\n');

export const startDaemonArgv = (paths: RunPaths, address: string, port: number, receivingDirs: readonly string[]): string[] => [
  'sh',
  '-c',
  START_SCRIPT,
  'sh',
  configPath(paths),
  daemonDir(paths),
  address,
  String(port),
  ...receivingDirs,
];

// The daemon and every connection it forked carry `--config=<dir>/rsyncd.conf` in their argv;
// "[r]sync" keeps the pattern from matching this shell's own argv. Harmless to repeat.
const STOP_SCRIPT = [
  'dir=$1; pattern="[r]sync --daemon --config=$dir/rsyncd.conf"',
  'pkill -TERM -f "$pattern"; i=0',
  'while pgrep -f "$pattern" >/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done',
  'pkill -KILL -f "$pattern"; rm -rf -- "$dir"',
].join('\n');

/** Stops the run's daemon (and its connections) and removes its directory; harmless when it never started. */
export const stopDaemonArgv = (paths: Pick<RunPaths, 'sourceControlDir'>): string[] => ['sh', '-c', STOP_SCRIPT, 'sh', daemonDir(paths)];
