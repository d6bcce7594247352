// Sorts what is on the host under a lab's names into the lab's own leftovers (safe to
// delete: they carry its owner tag) and someone else's things that are in the way.
import type { LabLayout } from './layout.js';
import { overlapsSubnet, ownerTag, type NetworkSnapshot } from './network.js';

export interface LabResource {
  readonly kind: 'netns' | 'bridge' | 'veth';
  readonly name: string;
}

/** Something the lab did not create, under its name or in its subnet, with what clears it. */
export interface Obstacle {
  /** The interface or netns name; undefined for a subnet clash. */
  readonly name: string | undefined;
  readonly what: string;
  readonly fix: string;
}

export interface LabInventory {
  /** The lab's own netns, veths and bridge present on the host. */
  readonly owned: readonly LabResource[];
  /** Netns and interfaces under the lab's names that the lab did not create. */
  readonly foreign: readonly Obstacle[];
}

const OTHER_NAME = 'or pick another lab name with --name';

/** Looks under every name `slots` (a layout with every possible node) gives, so a bigger lab's leftovers are found. */
export function takeInventory(slots: LabLayout, host: NetworkSnapshot): LabInventory {
  const tag = ownerTag(slots.name);
  const owned: LabResource[] = [];
  const foreign: Obstacle[] = [];
  for (const node of slots.nodes) {
    if (!host.netns.has(node.netns)) continue;
    if (host.netns.get(node.netns) === tag) owned.push({ kind: 'netns', name: node.netns });
    else
      foreign.push({
        name: node.netns,
        what: `network namespace ${node.netns} exists but was not created by criu-lab lab '${slots.name}'`,
        fix: `if it is a leftover, delete it with \`ip netns del ${node.netns}\`, ${OTHER_NAME}`,
      });
  }
  const links = new Map(host.links.map((link) => [link.name, link]));
  const linkNames = [...slots.nodes.map((node) => [node.veth, 'veth'] as const), [slots.bridge, 'bridge'] as const];
  for (const [name, kind] of linkNames) {
    const link = links.get(name);
    if (link === undefined) continue;
    if (link.alias === tag) owned.push({ kind, name });
    else
      foreign.push({
        name,
        what: `network interface ${name} (${link.kind ?? 'device'}) exists but was not created by criu-lab lab '${slots.name}'`,
        fix: `if it is a leftover, delete it with \`ip link del ${name}\`, ${OTHER_NAME}`,
      });
  }
  return { owned, foreign };
}

/** Host addresses outside the lab's own bridge whose network shares addresses with the lab's /24. */
export function subnetClashes(layout: LabLayout, host: NetworkSnapshot): Obstacle[] {
  const tag = ownerTag(layout.name);
  const aliases = new Map(host.links.map((link) => [link.name, link.alias]));
  const ownBridge = aliases.get(layout.bridge) === tag ? layout.bridge : undefined;
  return host.addresses
    .filter((a) => a.link !== ownBridge && overlapsSubnet(layout.subnet, a.address, a.prefixLength))
    .map((a) => {
      const owner = aliases.get(a.link);
      const whose = owner?.startsWith('criu-lab:') ? ` (criu-lab lab '${owner.slice('criu-lab:'.length)}')` : '';
      return {
        name: undefined,
        what: `the lab's subnet ${layout.cidr} overlaps ${a.address}/${a.prefixLength} on ${a.link}${whose}`,
        fix: `pass another subnet (--subnet 10.77.N) ${OTHER_NAME}, or free it with \`ip addr del ${a.address}/${a.prefixLength} dev ${a.link}\``,
      };
    });
}
