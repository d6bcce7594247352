// What the AWS stack costs per hour while it is up, from the price table in config/prices.yaml
// (list prices with their date and source; spot at a stated share of on-demand): nodes by
// instance type and market, the bastion, the NAT gateway, public addresses and EBS storage.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UsageError } from '../../core/errors.js';
import { assetPath } from '../../core/package-root.js';
import { BASTION_ROOT_VOLUME_GIB } from './bastion.js';
import type { InfraProps } from './props.js';

export const PRICES_PATH = 'config/prices.yaml';
const HOURS_PER_MONTH = 730;

const dollars = z.number().nonnegative();
const priceTableSchema = z.strictObject({
  as_of: z.string().min(1),
  source: z.string().min(1),
  spot: z.strictObject({ share_of_on_demand: z.number().positive().max(1) }),
  regions: z.record(
    z.string(),
    z.strictObject({
      instances: z.record(z.string(), dollars),
      nat_gateway: dollars,
      public_ipv4_address: dollars,
      ebs_gib_month: z.strictObject({ gp3: dollars, gp2: dollars }),
    }),
  ),
});

export type PriceTable = z.infer<typeof priceTableSchema> & { readonly file: string };

/** The table the working directory has (config/prices.yaml), else the package's. */
export function loadPriceTable(path: string = existsSync(PRICES_PATH) ? PRICES_PATH : assetPath(PRICES_PATH)): PriceTable {
  const parsed = priceTableSchema.safeParse(parseYaml(readFileSync(path, 'utf8')));
  if (!parsed.success)
    throw new UsageError(
      `the price table ${path} is invalid`,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`),
    );
  return { ...parsed.data, file: path };
}

export type Market = InfraProps['market'];

/** One line of the hourly rate: `count` of `item` at `unitPerHour` each. */
export interface RateLine {
  readonly item: string;
  /** Set for instances: what instance-hours are counted under. */
  readonly instanceType?: string;
  readonly market?: Market;
  readonly count: number;
  readonly unitPerHour: number;
}

/** A stack's hourly rate, line by line; `nodeCopies` copies of infra.yaml's nodes (parallel pairs) share one bastion and NAT. */
export function stackRate(props: InfraProps, table: PriceTable, nodeCopies = 1): RateLine[] {
  const region = table.regions[props.region];
  if (!region)
    throw new UsageError(`no prices for region ${props.region} in ${table.file}`, [
      `region: ${props.region} is not in ${table.file} (it has ${Object.keys(table.regions).join(', ')}); fix: add its prices there`,
    ]);
  const instancePrice = (type: string, key: string, market: Market) => {
    const onDemand = region.instances[type];
    if (onDemand === undefined)
      throw new UsageError(`no price for ${type} in ${props.region} in ${table.file}`, [
        `${key}: ${type} is not in ${table.file} under regions.${props.region}.instances; fix: add its on-demand $/hour there`,
      ]);
    return market === 'spot' ? onDemand * table.spot.share_of_on_demand : onDemand;
  };
  const nodes = props.zones.reduce((sum, zone) => sum + zone.nodeCount, 0) * nodeCopies;
  const sourceVolumes = props.ebs.enabled ? props.zones.filter((zone) => zone.nodeCount >= 2).length * nodeCopies : 0;
  const rootGib = nodes * props.nodeRootVolumeGib + BASTION_ROOT_VOLUME_GIB;
  const perGibHour = (type: 'gp3' | 'gp2') => region.ebs_gib_month[type] / HOURS_PER_MONTH;
  return [
    {
      item: `${props.nodeInstanceType} nodes (${props.market})`,
      instanceType: props.nodeInstanceType,
      market: props.market,
      count: nodes,
      unitPerHour: instancePrice(props.nodeInstanceType, 'node_instance_type', props.market),
    },
    {
      item: `${props.bastionInstanceType} bastion (on-demand)`,
      instanceType: props.bastionInstanceType,
      market: 'on-demand',
      count: 1,
      unitPerHour: instancePrice(props.bastionInstanceType, 'bastion_instance_type', 'on-demand'),
    },
    { item: 'NAT gateway', count: 1, unitPerHour: region.nat_gateway },
    { item: 'public IPv4 addresses (bastion, NAT)', count: 2, unitPerHour: region.public_ipv4_address },
    { item: `gp3 root volumes, GiB`, count: rootGib, unitPerHour: perGibHour('gp3') },
    ...(sourceVolumes > 0
      ? [{ item: `${props.ebs.volumeType} image volumes, GiB`, count: sourceVolumes * props.ebs.sizeGib, unitPerHour: perGibHour(props.ebs.volumeType) }]
      : []),
  ];
}

export const ratePerHour = (lines: readonly RateLine[]): number => lines.reduce((sum, line) => sum + line.count * line.unitPerHour, 0);
