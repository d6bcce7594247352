// One lab node's processes and files: its private directories and keys, the detached
// `unshare` that gives it PID/mount/UTS namespaces with tini and sshd, and how to stop it.
import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExternalError } from '../../core/errors.js';
import { ensureKeyPair } from './keys.js';
import type { NodeLayout } from './layout.js';
import { netnsPids } from './network.js';
import { quoteArgv as shellCommand } from '../../core/quote.js';
import { readSshBanner, renderSshdConfig, SSH_PORT } from './sshd.js';

/** The lab key pair: its public half is authorised for root on every node; the private half stays on the controller (runs make their own node-to-node keys). */
export interface LabKey {
  readonly privateKeyPath: string;
  readonly publicKey: string;
}

/** Makes the node's directories, keys and sshd_config; returns the node's host public key line. */
export async function prepareNodeFiles(node: NodeLayout, labKey: LabKey): Promise<string> {
  const sshDir = join(node.rootDir, '.ssh');
  await mkdir(node.srvDir, { recursive: true });
  await mkdir(node.tmpDir, { recursive: true });
  await chmod(node.tmpDir, 0o1777);
  await mkdir(sshDir, { recursive: true });
  await chmod(node.rootDir, 0o700);
  await chmod(sshDir, 0o700);
  await writeFile(join(sshDir, 'authorized_keys'), `${labKey.publicKey}\n`, { mode: 0o600 });
  await writeFile(node.sshdConfigPath, renderSshdConfig(node));
  return ensureKeyPair(node.hostKeyPath, `criu-lab node ${node.name}`);
}

/** Pins every lab node's host key inside the node, for `ssh`/`rsync` with StrictHostKeyChecking=yes. */
export async function writeNodeKnownHosts(node: NodeLayout, knownHosts: string): Promise<void> {
  await writeFile(join(node.rootDir, '.ssh', 'known_hosts'), knownHosts, { mode: 0o600 });
}

/**
 * The script the node's first shell runs inside its new namespaces: bind the private dirs
 * over the shared root filesystem, name the host, then become tini with sshd under it.
 */
/** Where node n<index> starts allocating PIDs: 500 000 apart, within pid_max 4 194 304 (set by setup-host.sh). */
export function nodePidBase(index: number): number {
  return index * 500_000;
}

export function nodeInitScript(node: NodeLayout): string {
  const steps = [
    // CRIU restores a process with its PID, so the destination must have it free. Nodes that all
    // count from 1 collide at once; real machines rarely do. Each node allocates from its own range.
    ['sh', '-c', 'echo "$1" > /proc/sys/kernel/ns_last_pid', 'sh', String(nodePidBase(node.index))],
    ['mount', '--bind', node.srvDir, '/srv'],
    ['mount', '--bind', node.tmpDir, '/tmp'],
    // Also covers the host's /root, where every lab's private key lives (layout.ts, labKeyDir).
    ['mount', '--bind', node.rootDir, '/root'],
    ['hostname', node.name],
  ].map(shellCommand);
  const init = shellCommand(['tini', '-s', '--', '/usr/sbin/sshd', '-D', '-e', '-f', node.sshdConfigPath]);
  return `${steps.join(' && ')} && exec ${init}`;
}

/** The node's environment: fixed, so nothing of the caller's (NODE_OPTIONS, jest's) leaks into the nodes. */
const NODE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
  HOME: '/root',
};

/** --kill-child: if unshare dies, its child (the node's PID 1) dies too, taking the node with it. */
const NODE_NAMESPACES = ['--pid', '--fork', '--kill-child', '--mount-proc', '--mount', '--uts', '--propagation', 'private'];

/** Starts the node detached (its own session, output to node.log) and returns the host PID of `unshare`. */
export async function startNode(node: NodeLayout): Promise<number> {
  const argv = ['netns', 'exec', node.netns, 'unshare', ...NODE_NAMESPACES, 'sh', '-c', nodeInitScript(node)];
  const log = openSync(node.logPath, 'a');
  try {
    const child = spawn('ip', argv, { detached: true, stdio: ['ignore', log, log], env: NODE_ENV });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('spawn', () => (child.pid === undefined ? reject(new Error('no pid')) : resolve(child.pid)));
      child.once('error', reject);
    });
    child.unref();
    return pid;
  } catch (error) {
    throw new ExternalError(`cannot start node ${node.name}: ${(error as Error).message}`, {
      hint: 'install the lab prerequisites with `bash scripts/setup-host.sh` (as root)',
    });
  } finally {
    closeSync(log);
  }
}

/** True while `pid` runs (a zombie counts as gone). */
export async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when `pid` is this node's `unshare` (its command line names the node's sshd_config), not a reused PID. */
export async function isNodeProcess(pid: number, node: NodeLayout): Promise<boolean> {
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(node.sshdConfigPath) && (await isRunning(pid));
  } catch {
    return false;
  }
}

/**
 * SIGKILLs every process in the given netns (and the given extra PIDs) until none is left.
 * Killing a node's PID 1 ends its PID namespace, whose end frees the node's mounts.
 * Returns how many processes were killed.
 */
export async function killNodeProcesses(netns: readonly string[], extraPids: readonly number[], timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  const killed = new Set<number>();
  for (;;) {
    const inNetns = (await Promise.all(netns.map((ns) => netnsPids(ns)))).flat();
    const extra = (await Promise.all(extraPids.map(async (pid) => ((await isRunning(pid)) ? [pid] : [])))).flat();
    const alive = [...new Set([...inNetns, ...extra])];
    if (alive.length === 0) return killed.size;
    if (Date.now() > deadline) {
      throw new ExternalError(`processes ${alive.join(', ')} of the lab's netns ${netns.join(', ')} survive SIGKILL`, {
        hint: `look at them with \`ps -o pid,stat,wchan,cmd -p ${alive.join(',')}\` (state D means stuck in the kernel), then retry \`criu-lab lab down\``,
      });
    }
    for (const pid of alive) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.add(pid);
      } catch {
        // Already gone between listing and killing.
      }
    }
    await sleep(20);
  }
}

/** The last lines of the node's log, for error messages. */
export async function nodeLogTail(node: NodeLayout, lines = 15): Promise<string> {
  try {
    return (await readFile(node.logPath, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no node.log)';
  }
}

/**
 * Waits until the node's sshd answers with an SSH banner. Fails fast, with the tail of
 * node.log, when the node's process exits; otherwise after `timeoutMs`.
 */
export async function waitUntilNodeAnswers(node: NodeLayout, hostPid: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const banner = await readSshBanner(node.ip, 1_000);
    if (banner !== undefined) return banner;
    const running = await isRunning(hostPid);
    if (!running || Date.now() > deadline) {
      const why = running ? `did not answer SSH on ${node.ip}:${SSH_PORT} within ${timeoutMs / 1000} s` : 'exited while starting';
      throw new ExternalError(`node ${node.name} (${node.ip}) ${why}; its node.log ends with:\n${await nodeLogTail(node)}`, {
        hint: 'fix the cause shown in the log, then run `criu-lab lab up` again (the failed lab was removed)',
      });
    }
    await sleep(50);
  }
}
