// The lab's network: one bridge, and per node a netns joined to it by a veth pair. Every
// device and netns the lab creates carries the alias `criu-lab:<lab>` (on the netns's `lo`),
// which is how the lab tells its own leftovers from someone else's devices.
import { z } from 'zod';
import { run } from './exec.js';
import type { LabLayout, NodeLayout } from './layout.js';

export function ownerTag(labName: string): string {
  return `criu-lab:${labName}`;
}

export interface HostLink {
  readonly name: string;
  readonly alias: string | undefined;
  /** `bridge`, `veth`, `dummy`, ...; undefined for plain devices. */
  readonly kind: string | undefined;
  readonly master: string | undefined;
}

export interface HostAddress {
  readonly link: string;
  readonly address: string;
  readonly prefixLength: number;
}

/** What `lab up` and `lab down` need to know about the host, read once. */
export interface NetworkSnapshot {
  readonly links: readonly HostLink[];
  readonly addresses: readonly HostAddress[];
  /** Every netns name, with its owner tag when it carries one. */
  readonly netns: ReadonlyMap<string, string | undefined>;
}

const linksSchema = z.array(
  z.object({
    ifname: z.string(),
    ifalias: z.string().optional(),
    master: z.string().optional(),
    linkinfo: z.object({ info_kind: z.string().optional() }).optional(),
  }),
);
const addressesSchema = z.array(
  z.object({
    ifname: z.string(),
    addr_info: z.array(z.object({ family: z.string(), local: z.string(), prefixlen: z.number() })).default([]),
  }),
);
const netnsSchema = z.array(z.object({ name: z.string() }));

/** `ip -j` prints nothing rather than `[]` for some empty lists. */
function parseIpJson<T>(schema: z.ZodType<T>, stdout: string): T {
  return schema.parse(stdout.trim() === '' ? [] : JSON.parse(stdout));
}

export async function listLinks(netns?: string): Promise<HostLink[]> {
  const where = netns === undefined ? [] : ['-n', netns];
  const { stdout } = await run(['ip', ...where, '-j', '-d', 'link', 'show']);
  return parseIpJson(linksSchema, stdout).map((link) => ({
    name: link.ifname,
    alias: link.ifalias,
    kind: link.linkinfo?.info_kind,
    master: link.master,
  }));
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await run(['ip', '-j', 'netns', 'list']);
  return parseIpJson(netnsSchema, stdout).map((ns) => ns.name);
}

export async function snapshotNetwork(): Promise<NetworkSnapshot> {
  const [links, addressesOut, names] = await Promise.all([listLinks(), run(['ip', '-j', '-4', 'addr', 'show']), listNetns()]);
  const addresses = parseIpJson(addressesSchema, addressesOut.stdout).flatMap((link) =>
    link.addr_info.filter((a) => a.family === 'inet').map((a) => ({ link: link.ifname, address: a.local, prefixLength: a.prefixlen })),
  );
  const tags = await Promise.all(names.map((name) => netnsTag(name)));
  return { links, addresses, netns: new Map(names.map((name, i) => [name, tags[i]])) };
}

/** The owner tag on the netns's loopback device; undefined for a netns the lab did not make. */
async function netnsTag(netns: string): Promise<string | undefined> {
  const { stdout, exitCode } = await run(['ip', '-n', netns, '-j', 'link', 'show', 'lo'], { check: false });
  if (exitCode !== 0) return undefined;
  return parseIpJson(linksSchema, stdout)[0]?.ifalias;
}

/** Host PIDs of every process whose network namespace is `netns` (any PID/mount namespace). */
export async function netnsPids(netns: string): Promise<number[]> {
  const { stdout, exitCode } = await run(['ip', 'netns', 'pids', netns], { check: false });
  if (exitCode !== 0) return [];
  return stdout.split(/\s+/).filter(Boolean).map(Number);
}

/** True when an IPv4 network `address/prefixLength` shares any address with `cidr` (a /24). */
export function overlapsSubnet(subnet: string, address: string, prefixLength: number): boolean {
  const common = Math.min(24, prefixLength);
  const mask = common === 0 ? 0 : (~0 << (32 - common)) >>> 0;
  return (ipv4ToNumber(`${subnet}.0`) & mask) >>> 0 === (ipv4ToNumber(address) & mask) >>> 0;
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => ((value << 8) | Number(octet)) >>> 0, 0);
}

export async function createBridge(layout: LabLayout): Promise<void> {
  await run(['ip', 'link', 'add', layout.bridge, 'type', 'bridge']);
  await run(['ip', 'link', 'set', layout.bridge, 'alias', ownerTag(layout.name)]);
  await run(['ip', 'addr', 'add', `${layout.bridgeAddress}/24`, 'dev', layout.bridge]);
  await run(['ip', 'link', 'set', layout.bridge, 'up']);
}

/** The node's netns (tagged first, so a crash right after leaves a leftover we recognise) and its veth. */
export async function createNodeNetwork(layout: LabLayout, node: NodeLayout): Promise<void> {
  const tag = ownerTag(layout.name);
  await run(['ip', 'netns', 'add', node.netns]);
  await run(['ip', '-n', node.netns, 'link', 'set', 'lo', 'alias', tag]);
  await run(['ip', '-n', node.netns, 'link', 'set', 'lo', 'up']);
  await run(['ip', 'link', 'add', node.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', node.netns]);
  await run(['ip', 'link', 'set', node.veth, 'alias', tag]);
  await run(['ip', 'link', 'set', node.veth, 'master', layout.bridge, 'up']);
  await run(['ip', '-n', node.netns, 'addr', 'add', `${node.ip}/24`, 'dev', 'eth0']);
  await run(['ip', '-n', node.netns, 'link', 'set', 'eth0', 'up']);
}

/**
 * Behind a bastion: the node drops SSH from the host's bridge address, so the controller reaches
 * it only through the bastion (as AWS security groups do); other lab nodes still connect.
 */
export async function refuseSshFromHost(layout: LabLayout, node: NodeLayout): Promise<void> {
  const nft = (...words: string[]) => run(['ip', 'netns', 'exec', node.netns, 'nft', ...words]);
  await nft('add', 'table', 'inet', 'criu_lab');
  await nft('add', 'chain', 'inet', 'criu_lab', 'input', '{ type filter hook input priority 0; policy accept; }');
  await nft('add', 'rule', 'inet', 'criu_lab', 'input', 'ip', 'saddr', layout.bridgeAddress, 'tcp', 'dport', '22', 'drop');
}

/** Deletes the interface; one already gone counts as deleted (a veth leaves with its netns, asynchronously). */
export async function deleteLink(name: string): Promise<void> {
  const result = await run(['ip', 'link', 'del', name], { check: false });
  if (result.exitCode !== 0 && (await listLinks()).some((link) => link.name === name)) {
    await run(['ip', 'link', 'del', name]);
  }
}

/** Deleting the netns also deletes the veth pair whose peer lives in it. */
export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name]);
}
