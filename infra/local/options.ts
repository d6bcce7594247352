// Lab options at the edge: raw values (API or CLI strings) become one frozen, validated
// `LabOptions`, reporting every invalid field at once. Nothing past here re-checks them.
import { USER_NAME } from './lab-user.js';
import { resolve } from 'node:path';
import { z } from 'zod';
import { UsageError } from '../../core/errors.js';
import { profileNames } from '../../core/profiles.js';
import { MAX_NODES, MIN_NODES } from './limits.js';

export const DEFAULT_LAB_NAME = 'lab';

export interface LabOptionsInput {
  /** Lab name, 1 to 8 characters from a-z and 0-9; prefixes every interface, netns and path. @default 'lab' */
  readonly name?: string;
  /** Number of nodes, 2 to 8 (a whole number or its decimal string). @default 2 */
  readonly nodes?: number | string;
  /** Make n1 a bastion: the other nodes accept SSH from it and from each other, not from this host. @default false */
  readonly bastion?: boolean;
  /** First three octets of the lab's /24. @default '10.77.0' for `lab`, another 10.77.X derived from the name otherwise */
  readonly subnet?: string;
  /** Where keys, node directories and lab.json live. @default '/var/lib/criu-lab/<name>' */
  readonly stateDir?: string;
  /** Where `lab up` writes servers.yaml, relative to the working directory. @default 'config/servers.yaml' */
  readonly serversPath?: string;
  /** A bandwidth profile from config/profiles.yaml, applied with tc tbf to every node link. @default none: links unshaped on a new lab, left as they are on a running one */
  readonly profile?: string;
  /** Also a storage node serving the s3, efs and ebs transfers' targets (moto as S3, shared directory, loop volume). @default false */
  readonly storage?: boolean;
  /** How nodes are made: `namespaces` (on this host's kernel) or `vm` (qemu guests with Debian's kernel, see infra/local/vm). @default 'namespaces' */
  readonly backend?: string;
  /** A non-root user the nodes are reached as, with passwordless sudo (created on the host if missing). @default none: root */
  readonly user?: string;
}

export interface LabOptions {
  readonly name: string;
  readonly nodes: number;
  readonly bastion: boolean;
  readonly subnet: string;
  /** Absolute. */
  readonly stateDir: string;
  /** Absolute. */
  readonly serversPath: string;
  readonly profile: string | undefined;
  readonly storage: boolean;
  readonly backend: LabBackend;
  readonly user: string | undefined;
}

export const LAB_BACKENDS = ['namespaces', 'vm'] as const;
export type LabBackend = (typeof LAB_BACKENDS)[number];

const HIDDEN_IN_NODES = ['/tmp', '/srv', '/root'];
const NODES_RULE = `must be a whole number from ${MIN_NODES} to ${MAX_NODES}`;
const SUBNET_RULE = 'must be three octets such as 10.77.5 (the lab uses <subnet>.0/24)';

const optionsSchema = z.object({
  name: z
    .string({ error: 'must be 1 to 8 characters from a-z and 0-9' })
    .regex(/^[a-z0-9]{1,8}$/, { error: 'must be 1 to 8 characters from a-z and 0-9' })
    .optional(),
  nodes: z
    .preprocess(
      (value) => (typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : value),
      z.number({ error: NODES_RULE }).int({ error: NODES_RULE }).min(MIN_NODES, { error: NODES_RULE }).max(MAX_NODES, { error: NODES_RULE }),
    )
    .optional(),
  subnet: z
    .string({ error: SUBNET_RULE })
    .refine((value) => /^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(value) && value.split('.').every((o) => Number(o) <= 255), {
      error: SUBNET_RULE,
    })
    .optional(),
  stateDir: z
    .string({ error: 'must be a path' })
    .min(1, { error: 'must be a path' })
    // Nodes bind their private dirs over these, which would hide a state dir inside them from the node.
    .refine((path) => !HIDDEN_IN_NODES.some((dir) => resolve(path) === dir || resolve(path).startsWith(`${dir}/`)), {
      error: `must not be under ${['/tmp', '/srv', '/root'].join(', ')} (each node mounts its own over them); use e.g. /var/lib/criu-lab/<name>`,
    })
    .optional(),
  serversPath: z.string({ error: 'must be a path' }).min(1, { error: 'must be a path' }).optional(),
  bastion: z.boolean({ error: 'must be true or false' }).optional(),
  storage: z.boolean({ error: 'must be true or false' }).optional(),
  backend: z.enum(LAB_BACKENDS, { error: `must be one of: ${LAB_BACKENDS.join(', ')}` }).optional(),
  user: z
    .string()
    .regex(USER_NAME, { error: 'must be a user name (a-z, 0-9, _ and -)' })
    .refine((name) => name !== 'root', { error: 'must not be root (root is the default)' })
    .optional(),
  profile: z
    .string({ error: 'must be a profile name' })
    .refine((name) => profileNames().includes(name), { error: () => `must be one of: ${profileNames().join(', ')} (config/profiles.yaml)` })
    .optional(),
});

/** The flag each option field comes from, so a usage error names what the user typed. */
export const OPTION_FLAGS: Readonly<Record<keyof LabOptionsInput, string>> = {
  name: '--name',
  nodes: '--nodes',
  subnet: '--subnet',
  serversPath: '--servers',
  stateDir: 'stateDir',
  bastion: '--bastion',
  profile: '--profile',
  storage: '--storage',
  backend: '--backend',
  user: '--user',
};

/** One invalid option, named by the flag the user typed. */
export function optionProblem(field: string, problem: string): string {
  return `${OPTION_FLAGS[field as keyof LabOptionsInput] ?? field} ${problem}`;
}

/** Validates raw options and fills in the defaults; throws a UsageError listing every bad field. */
export function resolveLabOptions(input: LabOptionsInput = {}, cwd: string = process.cwd()): LabOptions {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const field = String(issue.path[0] ?? 'options');
      if (problems.has(field)) continue;
      const got = (input as Record<string, unknown>)[field];
      problems.set(field, optionProblem(field, `${issue.message} (got ${JSON.stringify(got)})`));
    }
    throw new UsageError('invalid lab options', [...problems.values()], { hint: 'fix the options named above' });
  }
  const name = parsed.data.name ?? DEFAULT_LAB_NAME;
  const nodes = parsed.data.nodes ?? MIN_NODES;
  if (parsed.data.bastion && nodes < MIN_NODES + 1) {
    throw new UsageError(
      `invalid lab options: bastion needs at least ${MIN_NODES + 1} nodes (the bastion and two behind it), got ${nodes}`,
      [optionProblem('nodes', `must be at least ${MIN_NODES + 1} with a bastion (got ${nodes})`)],
      { hint: `add --nodes ${MIN_NODES + 1}` },
    );
  }
  return Object.freeze({
    name,
    nodes,
    bastion: parsed.data.bastion ?? false,
    subnet: parsed.data.subnet ?? defaultSubnet(name),
    stateDir: resolve(cwd, parsed.data.stateDir ?? `/var/lib/criu-lab/${name}`),
    serversPath: resolve(cwd, parsed.data.serversPath ?? 'config/servers.yaml'),
    profile: parsed.data.profile,
    storage: parsed.data.storage ?? false,
    backend: parsed.data.backend ?? 'namespaces',
    user: parsed.data.user,
  });
}

/**
 * `10.77.0` for the default lab; any other name hashes (FNV-1a) into 10.77.1–254, so labs
 * with different names usually get different subnets. A collision is caught by `lab up`'s
 * subnet check, which then asks for another name or subnet.
 */
function defaultSubnet(name: string): string {
  if (name === DEFAULT_LAB_NAME) return '10.77.0';
  let hash = 0x811c9dc5;
  for (const char of name) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `10.77.${1 + (hash % 254)}`;
}
