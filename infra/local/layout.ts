// Every name and path of a lab, derived from its options alone, so `lab down` and
// `lab status` find a lab's pieces even when lab.json is gone. Other code depends on these.
import { join } from 'node:path';
import type { LabOptions } from './options.js';

export interface NodeLayout {
  /** 1-based. */
  readonly index: number;
  /** `n<i>`, also the node's hostname. */
  readonly name: string;
  /** `<subnet>.<10+i>`. */
  readonly ip: string;
  /** `<lab>-n<i>`. */
  readonly netns: string;
  /** Host end of the node's veth pair, `v<lab>-n<i>` (at most 12 of the kernel's 15 characters). */
  readonly veth: string;
  /** `<stateDir>/nodes/n<i>`, bind-mounted piecewise over /srv, /tmp and /root inside the node. */
  readonly dir: string;
  readonly srvDir: string;
  readonly tmpDir: string;
  readonly rootDir: string;
  readonly sshdConfigPath: string;
  readonly hostKeyPath: string;
  readonly logPath: string;
}

export interface LabLayout {
  readonly name: string;
  readonly subnet: string;
  /** `<subnet>.0/24`. */
  readonly cidr: string;
  readonly bridge: string;
  /** The host's address on the bridge, `<subnet>.1`. */
  readonly bridgeAddress: string;
  readonly stateDir: string;
  readonly stateFile: string;
  /** The lab key pair, authorised on every node: under the host's /root, which every node covers with its own (keyDir). */
  readonly sshKeyPath: string;
  /** Controller-side pinned host keys, one line per node IP. */
  readonly knownHostsPath: string;
  readonly serversPath: string;
  readonly nodes: readonly NodeLayout[];
  /** n1 is a bastion and the only way in. */
  readonly bastion: boolean;
}

/**
 * Where a lab's private key lives: under the host's /root, never under the state dir. Lab nodes
 * share the host's root filesystem but each mounts a /root of its own, so no node of any lab
 * can read any lab's key (a key in the state dir was readable from the nodes of other labs).
 */
export const LAB_KEYS_ROOT = '/root/.criu-lab/keys';
export const labKeyDir = (name: string): string => join(LAB_KEYS_ROOT, name);

/** Node names at 10+i leave .2–.10 free and keep the fourth octet readable as the node number. */
const NODE_ADDRESS_OFFSET = 10;

export function labLayout(options: LabOptions): LabLayout {
  const nodes = Array.from({ length: options.nodes }, (_, i) => nodeLayout(options, i + 1));
  return Object.freeze({
    name: options.name,
    subnet: options.subnet,
    cidr: `${options.subnet}.0/24`,
    bridge: `br-${options.name}`,
    bridgeAddress: `${options.subnet}.1`,
    stateDir: options.stateDir,
    stateFile: join(options.stateDir, 'lab.json'),
    sshKeyPath: join(labKeyDir(options.name), 'id_ed25519'),
    knownHostsPath: join(options.stateDir, 'known_hosts'),
    serversPath: options.serversPath,
    nodes,
    bastion: options.bastion,
  });
}

/** The files of a node (lab node or storage node), all under its own directory. */
export function nodeFiles(dir: string) {
  return {
    dir,
    srvDir: join(dir, 'srv'),
    tmpDir: join(dir, 'tmp'),
    rootDir: join(dir, 'root'),
    sshdConfigPath: join(dir, 'sshd_config'),
    hostKeyPath: join(dir, 'ssh_host_ed25519_key'),
    logPath: join(dir, 'node.log'),
  };
}

function nodeLayout(options: LabOptions, index: number): NodeLayout {
  const name = `n${index}`;
  const dir = join(options.stateDir, 'nodes', name);
  return Object.freeze({
    index,
    name,
    ip: `${options.subnet}.${NODE_ADDRESS_OFFSET + index}`,
    netns: `${options.name}-${name}`,
    veth: `v${options.name}-${name}`,
    ...nodeFiles(dir),
  });
}
