// A known_hosts file from the host keys the instances reported at boot, so the SSH layer can
// pin every key instead of trusting the first one it sees.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HostKey } from './boot-report.js';

export interface PinnedHost {
  /** The address the SSH layer connects to: public for the bastion, private for nodes. */
  readonly address: string;
  readonly hostKeys: readonly HostKey[];
}

export function renderKnownHosts(hosts: readonly PinnedHost[]): string {
  return hosts.flatMap((host) => host.hostKeys.map((k) => `${host.address} ${k.type} ${k.key}\n`)).join('');
}

export function writeKnownHosts(path: string, hosts: readonly PinnedHost[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderKnownHosts(hosts), { mode: 0o644 });
}

/** `config/servers.yaml` → `config/servers.known_hosts`. */
export function knownHostsPathFor(serversPath: string): string {
  return serversPath.replace(/(\.ya?ml)?$/, '.known_hosts');
}
