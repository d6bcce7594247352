// What each rehearsal guest's cloud-init reads from its NoCloud seed, i.e. what EC2's metadata
// service would tell the instance: its id and name, the key pair's public key, its address, and
// (as vendor data, which the instance's own user data never sees) the package proxy. The user
// data itself is the instance's, byte for byte, as moto stores it.
import { stringify } from 'yaml';
import type { RehearsalInstance, RehearsalPlan } from './cloud.js';

/** EC2's private DNS name style: ip-10-42-1-23. */
export function ec2HostName(privateIp: string): string {
  return `ip-${privateIp.replace(/\./g, '-')}`;
}

export function metaData(instanceId: string, hostName: string, authorizedKey: string): string {
  return stringify({ 'instance-id': instanceId, 'local-hostname': hostName, 'public-keys': [authorizedKey.trim()] });
}

/**
 * Static addresses where EC2 would answer DHCP. Every guest sits on one bridge with its address in
 * the VPC's prefix (VPC routing between subnets without a router), so addresses carry the VPC
 * prefix, not the subnet's; a bastion's public address is an address of its own (EC2 maps it 1:1).
 */
export function networkConfig(mac: string, addresses: readonly string[]): string {
  return stringify({ version: 2, ethernets: { eth0: { match: { macaddress: mac }, 'set-name': 'eth0', addresses: [...addresses] } } });
}

/**
 * Vendor data: apt through the host's package proxy, the image's sources list kept, and the
 * host's own settings for that mirror (`aptConf`, e.g. a snapshot mirror's expired Valid-Until
 * accepted): the guests reach the mirror this machine reaches, so they read it as it does.
 */
export function vendorData(proxyUrl: string, aptConf = ''): string {
  return `#cloud-config\n${stringify({ apt: { preserve_sources_list: true, proxy: proxyUrl, ...(aptConf === '' ? {} : { conf: aptConf }) } })}`;
}

/** The host's apt settings that say how to read its mirror, from `apt-config dump` output. */
export function mirrorAptConf(aptConfigDump: string): string {
  return aptConfigDump
    .split('\n')
    .filter((line) => /^Acquire::(Check-Valid-Until|Check-Date) /.test(line))
    .map((line) => `${line}\n`)
    .join('');
}

/** Printed to the EFS stand-in's console when it serves; the rehearsal waits for it. */
export const EFS_READY_LINE = 'criu-lab-rehearsal: efs ready';
export const EFS_EXPORT_DIR = '/srv/efs';

/**
 * The EFS stand-in's own user data: an NFSv4 export at / (EFS's root, as `addr:/` mounts it),
 * open to the VPC, with root kept as root (EFS does not squash root either).
 */
export function efsUserData(vpcCidr: string): string {
  const config = {
    write_files: [{ path: '/etc/exports', content: `${EFS_EXPORT_DIR} ${vpcCidr}(rw,sync,fsid=0,no_subtree_check,no_root_squash,insecure)\n` }],
    runcmd: [
      ['mkdir', '-p', EFS_EXPORT_DIR],
      ['chmod', '0777', EFS_EXPORT_DIR],
      ['systemctl', 'enable', '--now', 'nfs-server'],
      ['exportfs', '-ra'],
      ['sh', '-c', `echo '${EFS_READY_LINE}' >/dev/console`],
    ],
  };
  return `#cloud-config\n${stringify(config)}`;
}

/** The host's own address on the rehearsal's bridge: the VPC's last usable address, which AWS never assigns. */
export function hostAddress(vpcCidr: string): string {
  const [network = '', prefix = ''] = vpcCidr.split('/');
  const base = network.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
  const last = base + 2 ** (32 - Number(prefix)) - 2;
  return [24, 16, 8, 0].map((shift) => Math.floor(last / 2 ** shift) % 256).join('.');
}

export function vpcPrefixLength(plan: Pick<RehearsalPlan, 'vpc'>): number {
  return Number(plan.vpc.cidr.split('/')[1]);
}

/** The addresses a guest standing in for `instance` holds. */
export function instanceAddresses(instance: RehearsalInstance, prefixLength: number): string[] {
  return [`${instance.privateIp}/${prefixLength}`, ...(instance.publicIp === undefined ? [] : [`${instance.publicIp}/32`])];
}
