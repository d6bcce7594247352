// The sshd each node runs: its config, a syntax check before start, and a probe that
// counts a node as reachable only once it answers with an SSH banner.
import { connect } from 'node:net';
import { run } from './exec.js';
import type { NodeLayout } from './layout.js';

export const SSH_PORT = 22;

export function renderSshdConfig(node: NodeLayout): string {
  return [
    `# sshd for lab node ${node.name}, written by \`criu-lab lab up\``,
    `ListenAddress ${node.ip}`,
    `Port ${SSH_PORT}`,
    `HostKey ${node.hostKeyPath}`,
    // Relative to the node's /root, which is its private bind-mounted home.
    'AuthorizedKeysFile .ssh/authorized_keys',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'PidFile none',
    // The node dirs live under the state dir, whose ownership and modes sshd need not vet.
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    // Experiments open many channels and parallel connections at once.
    'MaxSessions 64',
    'MaxStartups 64',
    'ClientAliveInterval 10',
    // aes128-gcm first: the fastest cipher for bulk image transfers (CRIU-NOTES).
    'Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr',
    'PrintMotd no',
    'PrintLastLog no',
    '',
  ].join('\n');
}

export async function checkSshdConfig(node: NodeLayout): Promise<void> {
  await run(['/usr/sbin/sshd', '-t', '-f', node.sshdConfigPath], {
    hint: `fix ${node.sshdConfigPath} or the host keys it names, then run \`criu-lab lab up\` again`,
  });
}

/** The server's identification line (`SSH-2.0-...`), or undefined if none came within `timeoutMs`; `fromNetns` probes from inside that netns. */
export async function readSshBanner(host: string, timeoutMs: number, fromNetns?: string): Promise<string | undefined> {
  if (fromNetns) {
    const seconds = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    const probe = await run(['ip', 'netns', 'exec', fromNetns, 'timeout', seconds, 'bash', '-c', `exec 3<>"/dev/tcp/$0/${SSH_PORT}" && head -n1 <&3`, host], {
      check: false,
    });
    const line = probe.stdout.trim();
    return line.startsWith('SSH-') ? line : undefined;
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port: SSH_PORT });
    let received = '';
    const finish = (banner: string | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(banner);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end >= 0) {
        const line = received.slice(0, end).trim();
        finish(line.startsWith('SSH-') ? line : undefined);
      }
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}
