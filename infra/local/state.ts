// lab.json: what `lab up` created, so status and down know the subnet, the node PIDs and
// where servers.yaml went. A missing or unreadable file means "no record", never a crash.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { LabLayout } from './layout.js';
import type { LabStorage } from './storage.js';
import type { LabUser } from './lab-user.js';

/** One node as `lab status` finds it (both backends report this shape). */
export interface LabNodeStatus {
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  readonly netnsExists: boolean;
  /** Host PIDs of the processes in the node's netns. */
  readonly pids: readonly number[];
  /** From lab.json; undefined without a record. */
  readonly hostPid: number | undefined;
  /** The sshd's identification line; undefined when it did not answer. */
  readonly sshBanner: string | undefined;
  readonly healthy: boolean;
}

export interface LabNodeInfo {
  readonly name: string;
  readonly ip: string;
  readonly netns: string;
  readonly veth: string;
  /** Host PID of the node's `unshare` process (parent of its PID 1, tini); on the VM backend, its qemu. */
  readonly hostPid: number;
  readonly dir: string;
}

export interface LabInfo {
  readonly name: string;
  readonly backend: 'namespaces' | 'vm';
  readonly subnet: string;
  readonly bridge: string;
  readonly stateDir: string;
  readonly sshKeyPath: string;
  readonly knownHostsPath: string;
  readonly serversPath: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** The node that is the only way in (`lab up --bastion`), if any. */
  readonly bastion?: string;
  /** The transfer targets of `lab up --storage`, if asked for. */
  readonly storage?: LabStorage;
  /** The guests' image and size (`lab up --backend vm`). */
  readonly vm?: { readonly imageDir: string; readonly recipeHash: string; readonly memoryMiB: number; readonly cpus: number };
  readonly nodes: readonly LabNodeInfo[];
  /** The non-root SSH user of `lab up --user`, if any. */
  readonly user?: LabUser;
}

/** The record of a lab just made: what its layout says, its nodes, and what only one backend has (bastion, vm). */
export function newLabInfo(
  layout: LabLayout,
  backend: LabInfo['backend'],
  nodes: readonly LabNodeInfo[],
  extra: Pick<LabInfo, 'bastion' | 'vm'> = {},
): LabInfo {
  return {
    name: layout.name,
    backend,
    subnet: layout.subnet,
    bridge: layout.bridge,
    stateDir: layout.stateDir,
    sshKeyPath: layout.sshKeyPath,
    knownHostsPath: layout.knownHostsPath,
    serversPath: layout.serversPath,
    createdAt: new Date().toISOString(),
    ...extra,
    nodes,
  };
}

const labInfoSchema = z.object({
  name: z.string(),
  backend: z.enum(['namespaces', 'vm']),
  subnet: z.string(),
  bridge: z.string(),
  stateDir: z.string(),
  sshKeyPath: z.string(),
  knownHostsPath: z.string(),
  serversPath: z.string(),
  createdAt: z.string(),
  bastion: z.string().optional(),
  storage: z
    .object({
      ip: z.string(),
      s3: z.object({ endpointUrl: z.string(), bucket: z.string(), profile: z.string(), startupMs: z.number().optional() }),
      efsMount: z.string(),
      ebs: z.object({ device: z.string(), mount: z.string() }),
    })
    .optional(),
  vm: z.object({ imageDir: z.string(), recipeHash: z.string(), memoryMiB: z.number(), cpus: z.number() }).optional(),
  user: z.object({ name: z.string(), created: z.boolean() }).optional(),
  nodes: z.array(
    z.object({
      name: z.string(),
      ip: z.string(),
      netns: z.string(),
      veth: z.string(),
      hostPid: z.number().int().positive(),
      dir: z.string(),
    }),
  ),
});

export async function readLabInfo(stateFile: string): Promise<LabInfo | undefined> {
  try {
    return labInfoSchema.parse(JSON.parse(await readFile(stateFile, 'utf8')));
  } catch {
    return undefined;
  }
}

export async function writeLabInfo(stateFile: string, info: LabInfo): Promise<void> {
  const partial = `${stateFile}.tmp`;
  await writeFile(partial, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  await rename(partial, stateFile);
}
