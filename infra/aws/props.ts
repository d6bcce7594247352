// The settings of the AWS lab: config/infra.yaml (snake_case keys) parsed into frozen,
// camelCase InfraProps with every default applied. All problems are reported at once, each
// under its dotted key and with the fix, before any construct is created.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UsageError } from '../../core/errors.js';
import { EXAMPLE_CONFIG_PATH } from './config-paths.js';
import { deepFreeze } from '../../core/freeze.js';
import { expandHome } from '../../core/paths.js';

/** One availability zone of the lab and the nodes placed in it. */
export interface ZoneProps {
  /** The zone letter as written in the config, e.g. `a`. */
  readonly letter: string;
  /** The full zone name, region plus letter, e.g. `us-west-2a`. */
  readonly availabilityZone: string;
  /** The key of this zone in servers.yaml's `all_nodes`, e.g. `az_a`. */
  readonly serversKey: string;
  readonly nodeCount: number;
}

/** Where the nodes' and the bastion's image comes from, and who logs in on it. */
export type MachineImage =
  | { readonly kind: 'ssm-parameter'; readonly ssmParameter: string; readonly sshUser: string }
  | { readonly kind: 'image-id'; readonly imageId: string; readonly sshUser: string };

/** A TCP port range nodes open to each other, both ends inclusive. */
export interface PortRange {
  readonly fromPort: number;
  readonly toPort: number;
}

export interface InfraProps {
  /** Names the stack and prefixes every resource. @default 'criu-lab' */
  readonly prefix: string;
  /** @default 'us-west-2' */
  readonly region: string;
  /**
   * Exactly two zones. The first holds the source node and its same-AZ peer, the second the
   * cross-AZ peer. @default a with 2 nodes, c with 1 node
   */
  readonly zones: readonly [ZoneProps, ZoneProps];
  /** @default 'm5.4xlarge' */
  readonly nodeInstanceType: string;
  /** Root volume of each node; CRIU's build and the workloads' packages live here. @default 40 */
  readonly nodeRootVolumeGib: number;
  /** @default 't3.medium' */
  readonly bastionInstanceType: string;
  /** @default - the latest Debian 12 AMI through its public SSM parameter, user `admin` */
  readonly machineImage: MachineImage;
  /** @default 'on-demand' - measurements should not be reclaimed half way */
  readonly market: 'on-demand' | 'spot';
  /** One volume per source node (node 0 of every zone with two or more nodes). */
  readonly ebs: {
    /** @default true */
    readonly enabled: boolean;
    /** @default 100 */
    readonly sizeGib: number;
    /** @default 'gp3' */
    readonly volumeType: 'gp3' | 'gp2';
    /** @default '/mnt/ebs' */
    readonly mountPath: string;
  };
  /** One shared file system with a mount target per zone. */
  readonly efs: {
    /** @default true */
    readonly enabled: boolean;
    /** @default '/mnt/efs' */
    readonly mountPath: string;
    /** @default 'elastic' - the same throughput on the first transfer as on the hundredth */
    readonly throughputMode: 'elastic' | 'bursting';
  };
  /** The image bucket for the s3 transfer. */
  readonly s3: {
    /** @default true */
    readonly enabled: boolean;
    /** Objects are deleted this many days after upload. @default 7 */
    readonly expireDays: number;
    /** The only key prefix nodes may read and write. @default 'images/' */
    readonly objectPrefix: string;
  };
  /** The only addresses that reach the bastion's SSH port. Required; never 0.0.0.0/0. */
  readonly operatorCidr: string;
  /** @default - privateKeyPath + `.pub` */
  readonly publicKeyPath: string;
  /** The public key text itself; when set, `publicKeyPath` is not read. */
  readonly publicKey: string | undefined;
  /**
   * Written into servers.yaml as `ssh_key`; an encrypted key is used through ssh-agent.
   * @default - public_key_path without `.pub`; with no key named, the stack's own key (see generatedKey)
   */
  readonly privateKeyPath: string;
  /**
   * True when infra.yaml names no key: `infra deploy` makes a key pair for this stack alone at
   * privateKeyPath (~/.criu-lab/keys/aws-<prefix>/id_ed25519), so the nodes' root never accepts
   * the operator's personal key.
   */
  readonly generatedKey: boolean;
  /** @default '10.42.0.0/16' */
  readonly vpcCidr: string;
  /**
   * TCP ports nodes open to each other besides SSH.
   * @default 27000-27099 (CRIU page server and lazy pages) and 5201 (iperf3)
   */
  readonly nodePorts: readonly PortRange[];
}

/** The ports nodes open to each other by default for CRIU's page server and lazy pages (node_ports). */
export const PAGE_SERVER_PORTS = { fromPort: 27000, toPort: 27099 } as const;

/** Debian 12: the distribution scripts/setup-host.sh is written for and the lab hosts run. */
export const DEFAULT_AMI_SSM_PARAMETER = '/aws/service/debian/release/12/latest/amd64';
export const DEFAULT_SSH_USER = 'admin';

/** One problem in a config: the dotted key it is under, and what is wrong with the fix. */
export interface ConfigProblem {
  readonly key: string;
  readonly problem: string;
}

export class ValidationError extends UsageError {
  constructor(
    readonly source: string,
    /** Every problem, by its dotted key; the message lists them too. */
    readonly configProblems: readonly ConfigProblem[],
  ) {
    const count = configProblems.length === 1 ? '1 problem' : `${configProblems.length} problems`;
    super(`${source} is invalid (${count}):\n${configProblems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}`);
  }
}

interface Ipv4Cidr {
  readonly address: number;
  readonly prefixLength: number;
}

function parseIpv4Cidr(text: string): Ipv4Cidr | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const prefixLength = Number(match[5]);
  if (octets.some((o) => o > 255) || prefixLength > 32) return undefined;
  const address = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { address, prefixLength };
}

function hostBits(cidr: Ipv4Cidr): number {
  return cidr.address % 2 ** (32 - cidr.prefixLength);
}

function formatIpv4(address: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256).join('.');
}

/** The /24 subnet number `index` inside `vpcCidr` (which is /16 to /20). */
export function subnetCidr(vpcCidr: string, index: number): string {
  const vpc = parseIpv4Cidr(vpcCidr);
  if (!vpc) throw new Error(`internal: vpcCidr ${vpcCidr} was not validated`);
  return `${formatIpv4(vpc.address + index * 256)}/24`;
}

const requiredString = (fix: string) =>
  z.string({
    error: (issue) => (issue.input === undefined ? `is required: ${fix}` : `must be a string: ${fix}`),
  });

const instanceType = z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'must be an EC2 instance type such as m5.4xlarge');

const absolutePath = z.string().regex(/^\/[^\s]*$/, 'must be an absolute path without spaces, e.g. /mnt/efs');

const operatorCidr = requiredString(
  'set it to the address you connect from as a /32, e.g. `operator_cidr: 198.51.100.7/32` (`curl https://checkip.amazonaws.com` shows it)',
).superRefine((text, ctx) => {
  const cidr = parseIpv4Cidr(text);
  if (!cidr) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an IPv4 CIDR; fix: write it as 198.51.100.7/32` });
  } else if (cidr.prefixLength === 0) {
    ctx.addIssue({
      code: 'custom',
      message: `${text} would open the bastion's SSH port to the whole internet; fix: use your own address as a /32, e.g. 198.51.100.7/32`,
    });
  } else if (cidr.prefixLength < 8) {
    ctx.addIssue({
      code: 'custom',
      message: `${text} opens SSH to ${2 ** (32 - cidr.prefixLength)} addresses; fix: narrow it to your own address or network (/8 or longer)`,
    });
  } else if (hostBits(cidr) !== 0) {
    const network = formatIpv4(cidr.address - hostBits(cidr));
    ctx.addIssue({
      code: 'custom',
      message: `${text} has host bits set, which AWS rejects; fix: write ${network}/${cidr.prefixLength}, or ${text.split('/')[0]}/32 for one address`,
    });
  }
});

const vpcCidr = z.string().superRefine((text, ctx) => {
  const cidr = parseIpv4Cidr(text);
  if (!cidr || cidr.prefixLength < 16 || cidr.prefixLength > 20 || hostBits(cidr) !== 0) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" must be an IPv4 network from /16 to /20 with no host bits set, e.g. 10.42.0.0/16`,
    });
  }
});

const portRange = z.union([z.number(), z.string()]).transform((value, ctx): PortRange => {
  const match = /^(\d+)(?:-(\d+))?$/.exec(String(value));
  const fromPort = Number(match?.[1]);
  const toPort = Number(match?.[2] ?? match?.[1]);
  if (!match || fromPort < 1 || toPort > 65535 || fromPort > toPort) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" must be a TCP port (5201) or an inclusive range ("27000-27099") within 1-65535`,
    });
    return z.NEVER;
  }
  return { fromPort, toPort };
});

const zone = z.strictObject({
  az: z.string().regex(/^[a-z]$/, 'must be one zone letter such as a or c; the region is put in front of it'),
  nodes: z
    .number()
    .int('must be a whole number of nodes')
    .min(1, 'must be at least 1: a zone without nodes can be neither source nor peer; fix: set it to 1 or more'),
});

const DEFAULT_ZONES = [
  { az: 'a', nodes: 2 },
  { az: 'c', nodes: 1 },
];

const zones = z
  .array(zone)
  .superRefine((list, ctx) => {
    if (list.length !== 2) {
      ctx.addIssue({
        code: 'custom',
        message: `lists ${list.length} zone(s) but needs exactly two: the first holds the source and its same-AZ peer, the second the cross-AZ peer; fix: e.g. [{ az: a, nodes: 2 }, { az: c, nodes: 1 }]`,
      });
    }
    list.forEach((entry, index) => {
      const first = list.findIndex((other) => other.az === entry.az);
      if (first !== index) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'az'],
          message: `repeats zone "${entry.az}" of zones.${first}: a cross-AZ pair needs two different zones; fix: pick another letter, e.g. ${entry.az === 'a' ? 'c' : 'a'}`,
        });
      }
    });
  })
  .default(DEFAULT_ZONES);

const machineImage = z
  .strictObject({
    ssm_parameter: z
      .string()
      .regex(/^\/[\w./-]+$/, 'must be an SSM parameter name starting with /')
      .optional(),
    id: z
      .string()
      .regex(/^ami-[0-9a-f]{8,17}$/, 'must be an AMI id such as ami-0123456789abcdef0')
      .optional(),
    ssh_user: requiredString('the login user of that image (admin on Debian, ubuntu on Ubuntu), since it cannot be guessed from an override').regex(
      /^[a-z_][a-z0-9_-]*$/,
      'must be a Unix user name such as admin or ubuntu',
    ),
  })
  .superRefine((ami, ctx) => {
    if ((ami.ssm_parameter === undefined) === (ami.id === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of ssm_parameter and id' });
    }
  });

const infraConfigSchema = z
  .strictObject({
    prefix: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,18}[a-z0-9]$/, 'must be 2-20 characters of a-z, 0-9 and -, starting with a letter (it becomes part of S3 and IAM names)')
      .default('criu-lab'),
    region: z
      .string()
      .regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'must be an AWS region such as us-west-2')
      .default('us-west-2'),
    zones,
    node_instance_type: instanceType.default('m5.4xlarge'),
    node_root_volume_gib: z.number().int().min(20, 'must be at least 20 GiB: the CRIU build and python3-torch need the room').max(16384).default(40),
    bastion_instance_type: instanceType.default('t3.medium'),
    ami: machineImage.optional(),
    market: z.enum(['on-demand', 'spot']).default('on-demand'),
    ebs: z
      .strictObject({
        enabled: z.boolean().default(true),
        size_gib: z.number().int().min(1).max(16384).default(100),
        type: z.enum(['gp3', 'gp2']).default('gp3'),
        mount: absolutePath.default('/mnt/ebs'),
      })
      .prefault({}),
    efs: z
      .strictObject({
        enabled: z.boolean().default(true),
        mount: absolutePath.default('/mnt/efs'),
        throughput_mode: z.enum(['elastic', 'bursting']).default('elastic'),
      })
      .prefault({}),
    s3: z
      .strictObject({
        enabled: z.boolean().default(true),
        expire_days: z.number().int().min(1).max(3650).default(7),
      })
      .prefault({}),
    operator_cidr: operatorCidr,
    public_key_path: z.string().min(1).optional(),
    public_key: z.string().optional(),
    private_key_path: z.string().min(1).optional(),
    vpc_cidr: vpcCidr.default('10.42.0.0/16'),
    node_ports: z.array(portRange).prefault([`${PAGE_SERVER_PORTS.fromPort}-${PAGE_SERVER_PORTS.toPort}`, 5201]),
  })
  .transform((raw, ctx): InfraProps => {
    const generatedKey = raw.public_key === undefined && raw.public_key_path === undefined && raw.private_key_path === undefined;
    const privateKeyPath = generatedKey
      ? stackKeyPath(raw.prefix)
      : (raw.private_key_path ?? (raw.public_key_path?.endsWith('.pub') ? raw.public_key_path.slice(0, -'.pub'.length) : undefined));
    if (privateKeyPath === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['private_key_path'],
        message:
          raw.public_key_path === undefined
            ? 'is needed with public_key, for servers.yaml to name the key the nodes accept; fix: set private_key_path, or drop public_key to let deploy make a key for this stack'
            : `cannot be derived from public_key_path "${raw.public_key_path}" (no .pub suffix); fix: set private_key_path`,
      });
      return z.NEVER;
    }
    const [first, second] = raw.zones.map((entry): ZoneProps => ({
      letter: entry.az,
      availabilityZone: `${raw.region}${entry.az}`,
      serversKey: `az_${entry.az}`,
      nodeCount: entry.nodes,
    }));
    if (!first || !second) return z.NEVER; // already reported by the zones check
    return {
      prefix: raw.prefix,
      region: raw.region,
      zones: [first, second],
      nodeInstanceType: raw.node_instance_type,
      nodeRootVolumeGib: raw.node_root_volume_gib,
      bastionInstanceType: raw.bastion_instance_type,
      machineImage:
        raw.ami === undefined
          ? { kind: 'ssm-parameter', ssmParameter: DEFAULT_AMI_SSM_PARAMETER, sshUser: DEFAULT_SSH_USER }
          : raw.ami.id !== undefined
            ? { kind: 'image-id', imageId: raw.ami.id, sshUser: raw.ami.ssh_user }
            : { kind: 'ssm-parameter', ssmParameter: raw.ami.ssm_parameter ?? '', sshUser: raw.ami.ssh_user },
      market: raw.market,
      ebs: { enabled: raw.ebs.enabled, sizeGib: raw.ebs.size_gib, volumeType: raw.ebs.type, mountPath: raw.ebs.mount },
      efs: { enabled: raw.efs.enabled, mountPath: raw.efs.mount, throughputMode: raw.efs.throughput_mode },
      s3: { enabled: raw.s3.enabled, expireDays: raw.s3.expire_days, objectPrefix: 'images/' },
      operatorCidr: raw.operator_cidr,
      publicKeyPath: raw.public_key_path ?? `${privateKeyPath}.pub`,
      publicKey: raw.public_key,
      privateKeyPath,
      generatedKey,
      vpcCidr: raw.vpc_cidr,
      nodePorts: raw.node_ports,
    };
  });

/** What config/infra.yaml may hold: every key but operator_cidr has a default. */
export type InfraConfig = z.input<typeof infraConfigSchema>;

function dottedKey(path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(top level)' : path.map(String).join('.');
}

function problemsOf(error: z.ZodError): ConfigProblem[] {
  return error.issues.flatMap((issue): ConfigProblem[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({
        key: dottedKey([...issue.path, key]),
        problem: 'is not a known setting; fix: check its spelling against config/infra.example.yaml',
      }));
    }
    return [{ key: dottedKey(issue.path), problem: issue.message }];
  });
}

/** Validates a config object (as read from YAML) and applies the defaults. */
export function parseInfraProps(config: unknown, source = 'the infra config'): InfraProps {
  const result = infraConfigSchema.safeParse(config ?? {});
  if (!result.success) throw new ValidationError(source, problemsOf(result.error));
  return deepFreeze(result.data);
}

/** Reads and validates config/infra.yaml (or another path). */
export function loadInfraProps(path: string): InfraProps {
  return parseInfraProps(readInfraYaml(path), path);
}

/** The YAML document at `path` as plain data, not yet validated. */
export function readInfraYaml(path: string): unknown {
  if (!existsSync(path)) {
    throw new UsageError(`${path} does not exist; fix: cp ${EXAMPLE_CONFIG_PATH} ${path} and set operator_cidr in it`);
  }
  try {
    return parseYaml(readFileSync(path, 'utf8')) ?? {};
  } catch (error) {
    throw new ValidationError(path, [{ key: '(file)', problem: `is not valid YAML: ${(error as Error).message}` }]);
  }
}

/** Where `infra deploy` keeps the key pair it makes for a stack (beside the local labs' keys). */
export const stackKeyPath = (prefix: string): string => `~/.criu-lab/keys/aws-${prefix}/id_ed25519`;

const PUBLIC_KEY_LINE =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$/;

/**
 * The operator's public key, checked to be one OpenSSH public key line. A private key is
 * refused outright: it must never reach AWS.
 */
export function readOperatorPublicKey(props: InfraProps): string {
  const key = props.publicKey === undefined ? 'public_key_path' : 'public_key';
  let text: string;
  if (props.publicKey !== undefined) {
    text = props.publicKey;
  } else {
    const path = expandHome(props.publicKeyPath);
    if (!existsSync(path)) {
      const problem = props.generatedKey
        ? `names no key, and this stack's own key ${props.publicKeyPath} is not made yet; fix: \`criu-lab infra deploy\` makes it, or set public_key_path to your .pub file`
        : `${props.publicKeyPath} does not exist; fix: ssh-keygen -t ed25519 -f ${props.privateKeyPath}, or point public_key_path at your .pub file`;
      throw new ValidationError('the infra config', [{ key, problem }]);
    }
    text = readFileSync(path, 'utf8');
  }
  if (text.includes('PRIVATE KEY')) {
    throw new ValidationError('the infra config', [
      { key, problem: 'holds a private key, which must never leave your machine; fix: use the matching .pub file' },
    ]);
  }
  const line = text.trim();
  if (!PUBLIC_KEY_LINE.test(line)) {
    throw new ValidationError('the infra config', [{ key, problem: 'is not one OpenSSH public key line (e.g. "ssh-ed25519 AAAA... you@host")' }]);
  }
  return line;
}
