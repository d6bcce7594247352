// What the rehearsal's guests are given, without booting any: the NoCloud documents each reads
// (its instance's user data byte for byte, the key, the addresses, the proxy), the EFS stand-in,
// the host's address on the bridge, and the package proxy, for real on loopback.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import type { RehearsalPlan } from '../../infra/aws/rehearsal/cloud.js';
import { planGuests } from '../../infra/aws/rehearsal/guests.js';
import { forwardable, startPackageProxy, type PackageProxy } from '../../infra/aws/rehearsal/package-proxy.js';
import { efsUserData, hostAddress, metaData, mirrorAptConf, networkConfig, vendorData } from '../../infra/aws/rehearsal/seed.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn0yGZ7kVn8nGJ2b4Yq8mJ3yVvWcY8YQ8l8mJ3yVvWc operator';
const USER_DATA = '#!/bin/bash\necho "${HOME} $((1 + 1))"\n';

const instance = (name: string, privateIp: string, zone: string, extra: Partial<RehearsalPlan['instances'][number]> = {}) => ({
  name,
  role: name === 'bastion' ? ('bastion' as const) : ('node' as const),
  instanceId: `i-${name}`,
  privateIp,
  publicIp: undefined,
  subnetId: `subnet-${zone}`,
  availabilityZone: zone,
  imageId: 'ami-785db401',
  instanceType: 'm5.4xlarge',
  userDataBase64: Buffer.from(USER_DATA).toString('base64'),
  attachedVolumes: [],
  ...extra,
});

const PLAN: RehearsalPlan = {
  stack: 'criu-lab',
  region: 'us-west-2',
  sshUser: 'admin',
  authorizedKey: `${KEY}\n`,
  vpc: { vpcId: 'vpc-1', cidr: '10.42.0.0/16' },
  subnets: [],
  instances: [
    instance('bastion', '10.42.0.10', 'us-west-2a', { publicIp: '54.1.2.3' }),
    instance('az-a-node-0', '10.42.10.5', 'us-west-2a', { attachedVolumes: [{ volumeId: 'vol-0123456789abcdef0', device: '/dev/sdf' }] }),
    instance('az-c-node-0', '10.42.12.7', 'us-west-2c'),
  ],
  efs: {
    fileSystemId: 'fs-1',
    mountTargets: [
      { availabilityZone: 'us-west-2a', subnetId: 'subnet-a', ip: '10.42.10.200' },
      { availabilityZone: 'us-west-2c', subnetId: 'subnet-c', ip: '10.42.12.200' },
    ],
  },
  bucket: undefined,
};

describe('the rehearsal guests of a plan', () => {
  const guests = planGuests(PLAN);

  it('stand in for every instance, then EFS, each with its instance user data byte for byte', () => {
    expect(guests.map((guest) => guest.name)).toEqual(['bastion', 'az-a-node-0', 'az-c-node-0', 'efs']);
    for (const guest of guests.slice(0, 3)) expect(guest.userData.toString()).toBe(USER_DATA);
    expect(guests[1]?.volumeSerials).toEqual(['vol0123456789abcdef0']);
  });

  it('hold their private address with the VPC prefix, the bastion its public one too, EFS every mount target', () => {
    expect(guests.map((guest) => guest.addresses)).toEqual([
      ['10.42.0.10/16', '54.1.2.3/32'],
      ['10.42.10.5/16'],
      ['10.42.12.7/16'],
      ['10.42.10.200/16', '10.42.12.200/16'],
    ]);
    expect(parse(networkConfig('52:54:0a:2a:00:0a', guests[0]!.addresses))).toEqual({
      version: 2,
      ethernets: { eth0: { match: { macaddress: '52:54:0a:2a:00:0a' }, 'set-name': 'eth0', addresses: ['10.42.0.10/16', '54.1.2.3/32'] } },
    });
  });

  it('get the stack key as meta-data, EC2 host names, and the proxy in vendor data', () => {
    expect(parse(guests[1]!.metaData)).toEqual({ 'instance-id': 'i-az-a-node-0', 'local-hostname': 'ip-10-42-10-5', 'public-keys': [KEY] });
    expect(parse(metaData('i-1', 'h', KEY))['public-keys']).toEqual([KEY]);
    const vendor = vendorData('http://10.42.255.254:3142');
    expect(vendor.startsWith('#cloud-config\n')).toBe(true);
    expect(parse(vendor)).toEqual({ apt: { preserve_sources_list: true, proxy: 'http://10.42.255.254:3142' } });
    // A snapshot mirror (this machine's) has an expired sid Valid-Until: the guests read it as the host does.
    const conf = mirrorAptConf('APT "";\nAcquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\nDir "/";\n');
    expect(conf).toBe('Acquire::Check-Valid-Until "false";\nAcquire::Check-Date "false";\n');
    expect(parse(vendorData('http://h:1', conf))).toEqual({ apt: { preserve_sources_list: true, proxy: 'http://h:1', conf } });
  });

  it('export EFS at its root to the VPC, root not squashed', () => {
    const config = parse(efsUserData('10.42.0.0/16')) as { write_files: { content: string }[] };
    expect(config.write_files[0]?.content).toBe('/srv/efs 10.42.0.0/16(rw,sync,fsid=0,no_subtree_check,no_root_squash,insecure)\n');
  });

  it('leave the host the VPC last usable address', () => {
    expect(hostAddress('10.42.0.0/16')).toBe('10.42.255.254');
    expect(hostAddress('172.31.0.0/20')).toBe('172.31.15.254');
  });
});

describe('the package proxy', () => {
  let upstream: ReturnType<typeof createServer>;
  let upstreamPort: number;
  let proxy: PackageProxy;

  beforeAll(async () => {
    upstream = createServer((incoming, response) => response.end(`mirror ${incoming.method} ${incoming.url} host=${incoming.headers.host}`));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamPort = (upstream.address() as AddressInfo).port;
    proxy = await startPackageProxy('127.0.0.1', { port: 0, hosts: ['127.0.0.1'] });
  });

  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => upstream.close(resolve));
  });

  /** A request through the proxy, as apt makes it: the absolute URL as the path. */
  const viaProxy = (method: string, url: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const proxyUrl = new URL(proxy.url);
      const req = request({ host: proxyUrl.hostname, port: proxyUrl.port, method, path: url }, (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('forwards GET to the mirror with the mirror as Host', async () => {
    const answer = await viaProxy('GET', `http://127.0.0.1:${upstreamPort}/debian/dists/bookworm/InRelease`);
    expect(answer).toEqual({ status: 200, body: `mirror GET /debian/dists/bookworm/InRelease host=127.0.0.1:${upstreamPort}` });
  });

  it('refuses other hosts, other methods and CONNECT', async () => {
    expect((await viaProxy('GET', 'http://example.com/')).status).toBe(403);
    expect((await viaProxy('POST', `http://127.0.0.1:${upstreamPort}/`)).status).toBe(403);
    expect(forwardable('GET', 'https://deb.debian.org/debian/')).toMatch(/only http/);
    expect(forwardable('GET', 'http://deb.debian.org/debian/')).toBeInstanceOf(URL);
    expect(proxy.counts()).toEqual({ forwarded: 1, refused: 2 });
  });
});
