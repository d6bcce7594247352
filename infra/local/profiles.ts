// Bandwidth profiles (config/profiles.yaml, read by core/profiles.ts): a named rate applied with tc tbf to every node
// link of a lab, both ways (host end of the veth = into the node, the node's eth0 = out of it).
// The kernel's qdiscs are the record of what is applied; nothing else remembers it.
import { z } from 'zod';
import { bandwidthProfiles, profileNames, type BandwidthProfile } from '../../core/profiles.js';
import { UsageError } from '../../core/errors.js';
import { run } from './exec.js';

/** The links of one node: its veth's host end and its network namespace (whose eth0 is the other end). */
export interface NodeLink {
  readonly netns: string;
  readonly veth: string;
}

export function bandwidthProfile(name: string): BandwidthProfile {
  const profile = bandwidthProfiles().get(name);
  if (!profile) {
    throw new UsageError(`unknown bandwidth profile '${name}'`, [], { hint: `choose one of: ${profileNames().join(', ')} (config/profiles.yaml)` });
  }
  return profile;
}

/**
 * The token bucket must hold at least one GSO super-packet (64 KiB on a veth) or tbf drops
 * it; beyond that, 4 ms of traffic keeps the rate smooth at the kernel's timer granularity.
 */
export function tbfArgs(rateMbit: number): string[] {
  const burstBytes = Math.max(131_072, Math.round((rateMbit * 1e6) / 8 / 250));
  return ['tbf', 'rate', `${rateMbit}mbit`, 'burst', String(burstBytes), 'latency', '50ms'];
}

function shapeCommands(link: NodeLink, rateMbit: number | undefined): string[][] {
  const hostSide = ['tc', 'qdisc'];
  const nodeSide = ['ip', 'netns', 'exec', link.netns, 'tc', 'qdisc'];
  if (rateMbit === undefined)
    return [
      [...hostSide, 'del', 'dev', link.veth, 'root'],
      [...nodeSide, 'del', 'dev', 'eth0', 'root'],
    ];
  return [
    [...hostSide, 'replace', 'dev', link.veth, 'root', ...tbfArgs(rateMbit)],
    [...nodeSide, 'replace', 'dev', 'eth0', 'root', ...tbfArgs(rateMbit)],
  ];
}

/** Shapes every link to the profile's rate; `undefined` removes the shaping (back to the raw veth). */
export async function applyProfile(links: readonly NodeLink[], profile: BandwidthProfile | undefined): Promise<void> {
  for (const link of links) {
    for (const argv of shapeCommands(link, profile?.rateMbit)) {
      // Deleting a qdisc that is not there fails harmlessly; replacing must succeed.
      await run(argv, {
        check: profile !== undefined,
        hint: 'the kernel needs CONFIG_NET_SCH_TBF; check `tc qdisc add dev lo root tbf rate 1mbit burst 32k latency 50ms`',
      });
    }
  }
}

const qdiscSchema = z.array(z.object({ kind: z.string(), root: z.boolean().optional(), options: z.object({ rate: z.number().optional() }).optional() }));

/** The tbf rate on the host end of a node's veth, in Mbit/s; undefined when the link is unshaped. */
export async function appliedRateMbit(link: NodeLink): Promise<number | undefined> {
  const { stdout } = await run(['tc', '-j', 'qdisc', 'show', 'dev', link.veth]);
  const root = qdiscSchema.parse(stdout.trim() === '' ? [] : JSON.parse(stdout)).find((q) => q.root && q.kind === 'tbf');
  // tc reports the rate in bytes per second.
  return root?.options?.rate === undefined ? undefined : (root.options.rate * 8) / 1e6;
}

/** Which profile the lab's links carry: its name, `custom` for a rate no profile has, undefined when unshaped. */
export async function appliedProfile(links: readonly NodeLink[]): Promise<string | undefined> {
  const rates = await Promise.all(links.map((link) => appliedRateMbit(link)));
  const first = rates[0];
  if (first === undefined || rates.some((r) => r !== first)) return rates.every((r) => r === undefined) ? undefined : 'custom';
  return [...bandwidthProfiles().values()].find((p) => Math.abs(p.rateMbit - first) < 0.5)?.name ?? 'custom';
}
