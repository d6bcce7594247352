// Host key pinning: nodes are trusted only with the key recorded for their address
// (by `lab up`, or from the AWS deploy), never whatever key the network presents.
import { readFileSync } from 'node:fs';
import { UsageError } from '../../core/errors.js';

/** OpenSSH `type base64` of a raw SSH public key blob (the form hostVerifier receives). */
export function formatHostKey(blob: Buffer): string {
  const typeLength = blob.readUInt32BE(0);
  const type = blob.subarray(4, 4 + typeLength).toString('ascii');
  return `${type} ${blob.toString('base64')}`;
}

export class KnownHosts {
  private constructor(private readonly keysByHost: ReadonlyMap<string, readonly string[]>) {}

  static load(path: string): KnownHosts {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read known_hosts file ${path}`, [
        `nodes.known_hosts: ${(error as Error).message}; run \`criu-lab lab up\` again or fix the path`,
      ]);
    }
    return KnownHosts.parse(text);
  }

  static parse(text: string): KnownHosts {
    const keys = new Map<string, string[]>();
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith('|')) continue;
      const [hosts, type, key] = line.split(/\s+/);
      if (!hosts || !type || !key) continue;
      for (const host of hosts.split(',')) {
        const bare = host.replace(/^\[(.*)\]:\d+$/, '$1');
        keys.set(bare, [...(keys.get(bare) ?? []), `${type} ${key}`]);
      }
    }
    return new KnownHosts(keys);
  }

  /** True when `hostKey` (`type base64`) is the key pinned for `host`. */
  matches(host: string, hostKey: string): boolean {
    return (this.keysByHost.get(host) ?? []).includes(hostKey);
  }

  has(host: string): boolean {
    return this.keysByHost.has(host);
  }
}
