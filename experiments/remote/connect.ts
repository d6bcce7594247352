// An SSH connection to one node of a plan (the pipeline, preflight, the raw-link probe, the
// spot watcher): the key, the pinned host keys and the bastion, all from servers.yaml.
import { readFileSync } from 'node:fs';
import type { Plan } from '../config/plan.js';
import { ms } from '../units.js';
import { KnownHosts } from './known-hosts.js';
import { SshNode } from './ssh.js';

export function connectPlanNode(plan: Plan, role: 'source' | 'destination'): Promise<SshNode> {
  const { nodes } = plan;
  const address = nodes[role];
  return SshNode.connect({
    name: address.name,
    ip: address.ip,
    port: nodes.sshPort,
    user: nodes.sshUser,
    privateKey: readFileSync(nodes.sshKey),
    knownHosts: nodes.knownHosts ? KnownHosts.load(nodes.knownHosts) : undefined,
    bastion: nodes.bastion ? { name: nodes.bastion.name, ip: nodes.bastion.ip, port: nodes.bastion.sshPort, user: nodes.bastion.sshUser } : undefined,
    connectTimeoutMs: ms(plan.timeouts.connectS),
  });
}
