// What the host must offer before the lab touches anything: root, and the tools the
// nodes run. Checked up front so a missing tool is one clear error, not a dead node.
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExternalError } from '../../core/errors.js';

const SETUP_HINT = 'prepare the host with `bash scripts/setup-host.sh` (as root)';
const TOOLS = ['ip', 'unshare', 'tini', 'ssh-keygen', 'mount', 'hostname'];
const SSHD = '/usr/sbin/sshd';

export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new ExternalError('the local lab needs root (it creates network namespaces, a bridge and mounts)', {
      hint: 'run the command as root, e.g. with sudo',
    });
  }
}

export function requireTools(): void {
  const path = (process.env.PATH ?? '').split(':').filter(Boolean);
  const missing = TOOLS.filter((tool) => !path.some((dir) => isExecutable(join(dir, tool))));
  if (!isExecutable(SSHD)) missing.push(SSHD);
  if (missing.length > 0) {
    throw new ExternalError(`the lab needs tools that are not installed: ${missing.join(', ')}`, { hint: SETUP_HINT });
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Each node allocates PIDs from its own range (see nodePidBase), which needs the large PID space. */
export function requirePidSpace(nodes: number, pidBase: (index: number) => number): void {
  const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
  const needed = pidBase(nodes + 1);
  if (pidMax < needed) {
    throw new ExternalError(`kernel.pid_max is ${pidMax}; ${nodes} nodes need ${needed} so that each node has its own PID range`, { hint: SETUP_HINT });
  }
}
