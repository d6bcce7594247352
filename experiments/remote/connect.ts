// An SSH connection to one node of a plan (the pipeline, preflight, the raw-link probe, the
// spot watcher): the key, the pinned host keys and the bastion, all from servers.yaml.
import { readFileSync } from 'node:fs';
// ssh2 is CommonJS and Node's ESM loader does not see `utils` as a named export.
import ssh2 from 'ssh2';
import type { Plan } from '../config/plan.js';
import { UsageError } from '../errors.js';
import { ms } from '../units.js';
import { KnownHosts } from './known-hosts.js';
import type { CommandResult } from './node.js';
import { SshNode, UnreachableNodeError } from './ssh.js';

/**
 * Connects to the plan's source or destination. An address that does not answer at all is the
 * configuration's fault, found before anything started: a UsageError naming the key to fix.
 */
export async function connectPlanNode(plan: ConnectionPlan, role: 'source' | 'destination', onReconnect?: (message: string) => void, onCommand?: (result: CommandResult) => void): Promise<SshNode> {
  try {
    return await connectToNode(plan, role, onReconnect, onCommand);
  } catch (error) {
    if (!(error instanceof UnreachableNodeError)) throw error;
    const viaBastion = plan.nodes.bastion !== undefined && error.endpoint.ip === plan.nodes.bastion.ip;
    const key = viaBastion ? 'nodes.bastion.ip' : `nodes.${role}.ip`;
    const flag = viaBastion ? '' : role === 'source' ? ', pass --source-ip' : ', pass --dest-ip';
    // No "nothing was started" here: `criu-lab cleanup` reconnects through this too, after a run.
    throw new UsageError(`cannot reach the ${viaBastion ? 'bastion' : `${role} node`} ${error.endpoint.name}`, [
      `${key}: no SSH server answers at ${error.endpoint.ip}:${error.endpoint.port} (${error.reason}); ` +
        `fix: check the address in servers.yaml or the experiment file${flag}, and that the node is up (\`criu-lab lab status\`, or the AWS console)`,
    ]);
  }
}

/** The controller's key, read here to authenticate and nowhere else; a file ssh2 cannot use is the configuration's fault. */
function readPrivateKey(path: string): Buffer {
  const fix = 'fix: point nodes.ssh_key at an unencrypted OpenSSH private key (the servers.yaml from `criu-lab lab up` or `criu-lab infra deploy` sets it)';
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (error) {
    throw new UsageError('cannot read the SSH key', [`nodes.ssh_key: ${(error as Error).message}; ${fix}`]);
  }
  const parsed = ssh2.utils.parseKey(key);
  if (parsed instanceof Error) throw new UsageError('cannot use the SSH key', [`nodes.ssh_key: ${path} is not a usable private key (${parsed.message}); ${fix}`]);
  return key;
}

/** Only what a connection needs, so `criu-lab cleanup` can reconnect from a run's leftovers record. */
export type ConnectionPlan = Pick<Plan, 'nodes' | 'timeouts'>;

function connectToNode(plan: ConnectionPlan, role: 'source' | 'destination', onReconnect: ((message: string) => void) | undefined, onCommand: ((result: CommandResult) => void) | undefined): Promise<SshNode> {
  const { nodes } = plan;
  const address = nodes[role];
  return SshNode.connect({
    name: address.name,
    ip: address.ip,
    port: nodes.sshPort,
    user: nodes.sshUser,
    privateKey: readPrivateKey(nodes.sshKey),
    knownHosts: nodes.knownHosts ? KnownHosts.load(nodes.knownHosts) : undefined,
    bastion: nodes.bastion ? { name: nodes.bastion.name, ip: nodes.bastion.ip, port: nodes.bastion.sshPort, user: nodes.bastion.sshUser } : undefined,
    connectTimeoutMs: ms(plan.timeouts.connectS),
    defaultTimeoutMs: ms(plan.timeouts.commandS),
    ...(onReconnect ? { onReconnect } : {}),
    ...(onCommand ? { onCommand } : {}),
    // A user other than root reaches what CRIU needs through passwordless sudo (checked at preflight).
    sudo: nodes.sshUser !== 'root',
  });
}
