// An SSH connection to one node of a plan (the pipeline, preflight, the raw-link probe, the
// spot watcher): the key, the pinned host keys and the bastion, all from servers.yaml.
import { readFileSync } from 'node:fs';
// ssh2 is CommonJS and Node's ESM loader does not see `utils` as a named export.
import ssh2 from 'ssh2';
import type { Plan } from '../config/plan.js';
import { UsageError } from '../../core/errors.js';
import { ms } from '../units.js';
import { KnownHosts } from './known-hosts.js';
import type { CommandResult, Role } from '../../core/node.js';
import { SshNode, UnreachableNodeError } from './ssh.js';

/**
 * Connects to the plan's source or destination. An address that does not answer at all is the
 * configuration's fault, found before anything started: a UsageError naming the key to fix.
 */
export async function connectPlanNode(
  plan: ConnectionPlan,
  role: Role,
  onReconnect?: (message: string) => void,
  onCommand?: (result: CommandResult) => void,
): Promise<SshNode> {
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

const KEY_FIX = 'fix: point nodes.ssh_key at an OpenSSH private key (the servers.yaml from `criu-lab lab up` or `criu-lab infra deploy` sets it)';

/** The controller's key, read here to authenticate and nowhere else. */
function readPrivateKey(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError('cannot read the SSH key', [`nodes.ssh_key: ${(error as Error).message}; ${KEY_FIX}`]);
  }
}

/**
 * How the controller proves itself: with the key file, or, when it is encrypted, through the
 * ssh-agent at SSH_AUTH_SOCK (ssh2 cannot ask for a passphrase; the agent holds the decrypted key
 * and criu-lab never sees it). A file that cannot be used is the configuration's fault.
 */
export function clientCredentials(
  path: string,
  key: Buffer,
  env: NodeJS.ProcessEnv = process.env,
): { readonly privateKey: Buffer } | { readonly agent: string } {
  const parsed = ssh2.utils.parseKey(key);
  if (!(parsed instanceof Error)) return { privateKey: key };
  const encrypted = /encrypted|passphrase/i.test(parsed.message);
  const agent = env['SSH_AUTH_SOCK'];
  if (encrypted && agent) return { agent };
  const problem = encrypted
    ? `${path} is encrypted and no ssh-agent is set (SSH_AUTH_SOCK); fix: load it into an agent (\`eval "$(ssh-agent)" && ssh-add ${path}\`) in the shell that runs criu-lab`
    : `${path} is not a usable private key (${parsed.message}); ${KEY_FIX}`;
  throw new UsageError('cannot use the SSH key', [`nodes.ssh_key: ${problem}`]);
}

/**
 * The host keys a node must present: those pinned in nodes.known_hosts. Without that file no
 * connection is made unless the user said to trust whatever answers (the run records it).
 */
export function hostKeysFor(nodes: ConnectionPlan['nodes']): KnownHosts | 'trust-unknown' {
  if (nodes.knownHosts) return KnownHosts.load(nodes.knownHosts);
  if (nodes.trustUnknownHostKeys) return 'trust-unknown';
  throw new UsageError('no pinned host keys for the nodes; nothing was started', [
    "nodes.known_hosts: not set, and criu-lab connects only to nodes whose SSH host key it knows (else anyone on the path could pose as a node and be sent the workload's memory); " +
      'fix: use the servers.yaml written by `criu-lab lab up` or `criu-lab infra deploy` (it sets nodes.known_hosts; after `infra deploy --no-wait-for-boot`, deploy again without it once the nodes booted), ' +
      'or record the keys from a network you trust (`ssh-keyscan -p <port> <ip> >> nodes.known_hosts`) and set nodes.known_hosts to that file, ' +
      'or pass --trust-unknown-host-keys (config: nodes.trust_unknown_host_keys: true) to accept any key, which the run records in metrics.json',
  ]);
}

/** Only what a connection needs, so `criu-lab cleanup` can reconnect from a run's leftovers record. */
export type ConnectionPlan = Pick<Plan, 'nodes' | 'timeouts'>;

function connectToNode(
  plan: ConnectionPlan,
  role: Role,
  onReconnect: ((message: string) => void) | undefined,
  onCommand: ((result: CommandResult) => void) | undefined,
): Promise<SshNode> {
  const { nodes } = plan;
  const address = nodes[role];
  // Host keys first: without them nothing else about the connection matters.
  const knownHosts = hostKeysFor(nodes);
  return SshNode.connect({
    name: address.name,
    ip: address.ip,
    port: nodes.sshPort,
    user: nodes.sshUser,
    ...clientCredentials(nodes.sshKey, readPrivateKey(nodes.sshKey)),
    knownHosts,
    bastion: nodes.bastion ? { name: nodes.bastion.name, ip: nodes.bastion.ip, port: nodes.bastion.sshPort, user: nodes.bastion.sshUser } : undefined,
    connectTimeoutMs: ms(plan.timeouts.connectS),
    defaultTimeoutMs: ms(plan.timeouts.commandS),
    ...(onReconnect ? { onReconnect } : {}),
    ...(onCommand ? { onCommand } : {}),
    // A user other than root reaches what CRIU needs through passwordless sudo (checked at preflight).
    sudo: nodes.sshUser !== 'root',
  });
}
