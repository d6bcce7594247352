// The page stream's TLS without a lab: the run's certificates verify the way CRIU's gnutls checks
// them (signed by the run's CA only, naming the address the other end dials, valid on a node
// whose clock trails the controller's), and a dry run shows --tls on both ends of the page-server
// and lazy-pages streams, and none with --no-tls.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { makeStreamCertificates } from '../../experiments/criu/certificates.js';
import { runCli } from '../support/cli.js';

const addresses = { source: '10.9.0.11', destination: '10.9.0.12' };

describe('the run certificates', () => {
  const now = Date.parse('2026-12-05T12:00:00Z');
  const certs = makeStreamCertificates(addresses, 'memory_20261205_120000', now);
  const ca = new X509Certificate(certs.caCert);

  it('come from a CA of their own, which signs a certificate per node naming its address', () => {
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('CN=criu-lab run memory_20261205_120000 CA');
    for (const role of ['source', 'destination'] as const) {
      const cert = new X509Certificate(certs[role].cert);
      expect(cert.ca).toBe(false);
      expect(cert.verify(ca.publicKey)).toBe(true);
      expect(cert.checkIP(addresses[role])).toBe(addresses[role]);
      expect(cert.checkPrivateKey(createPrivateKey(certs[role].key))).toBe(true);
      // Either end of a stream: the page server and the dump swap roles between strategies.
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    }
    expect(new X509Certificate(certs.source.cert).checkIP(addresses.destination)).toBeUndefined();
  });

  it('are valid from an hour before they were made, for a node whose clock trails, and for two days', () => {
    const cert = new X509Certificate(certs.destination.cert);
    expect(Date.parse(cert.validFrom)).toBe(now - 3_600_000);
    expect(Date.parse(cert.validTo)).toBe(now + 2 * 86_400_000);
  });

  it('are not trusted by another run: every run has a new CA', () => {
    const other = new X509Certificate(makeStreamCertificates(addresses, 'memory_20261205_120001', now).caCert);
    expect(new X509Certificate(certs.destination.cert).verify(other.publicKey)).toBe(false);
  });

  it('name an IPv6 address or a host name the way the other end dials it', () => {
    const named = makeStreamCertificates({ source: 'fd00::1:2', destination: 'node-b.internal' }, 'r');
    expect(new X509Certificate(named.source.cert).checkIP('fd00:0:0:0:0:0:1:2')).toBeDefined();
    expect(new X509Certificate(named.destination.cert).checkHost('node-b.internal')).toBe('node-b.internal');
  });
});

describe('a dry run', () => {
  let servers: string;
  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-tls-'));
    writeFileSync(join(dir, 'key'), 'not used by a dry run');
    writeFileSync(join(dir, 'known_hosts'), '');
    servers = join(dir, 'servers.yaml');
    writeFileSync(
      servers,
      `nodes:\n  ssh_key: ${join(dir, 'key')}\n  known_hosts: ${join(dir, 'known_hosts')}\n  source: { ip: ${addresses.source}, name: n1 }\n  destination: { ip: ${addresses.destination}, name: n2 }\n`,
    );
  });
  const commands = async (...args: string[]) => {
    const { code, stdout, stderr } = await runCli(['run', '--dry-run', '--json', '--servers', servers, ...args]);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    return (JSON.parse(stdout) as { steps: { command: string }[] }).steps.map((s) => s.command);
  };
  const tlsOf = (command: string) =>
    /--tls --tls-cacert \S+\.ctl\/tls\/ca\.pem' --tls-cert \S+\.ctl\/tls\/cert\.pem' --tls-key \S+\.ctl\/tls\/key\.pem'/.test(command);

  it('shows both ends of the page-server stream over TLS, and the certificates put on both nodes first', async () => {
    const steps = await commands('--strategy', 'pageserver');
    const server = steps.findIndex((c) => c.startsWith('criu page-server'));
    const dump = steps.findIndex((c) => c.startsWith('criu dump'));
    expect(tlsOf(steps[server]!) && tlsOf(steps[dump]!)).toBe(true);
    // The CA certificate, the node's certificate and its key, on each node (the dry run shows every file put, as the run writes them).
    expect(steps.slice(0, server).filter((c) => c.startsWith('sftp-put --mode 0600') && c.includes('.ctl/tls/')).length).toBe(6);
    expect(steps.find((c) => c.startsWith('criu restore'))).not.toContain('--tls');
  });

  it('shows the lazy dump serving and the lazy-pages daemon fetching over TLS', async () => {
    const steps = await commands('--strategy', 'lazy');
    expect(tlsOf(steps.find((c) => c.startsWith('criu dump'))!)).toBe(true);
    expect(tlsOf(steps.find((c) => c.startsWith('criu lazy-pages'))!)).toBe(true);
  });

  it('runs the streams in the clear with --no-tls, and a full dump never takes TLS flags', async () => {
    for (const strategy of ['pageserver', 'lazy'])
      expect((await commands('--strategy', strategy, '--no-tls')).filter((c) => /--tls|\.ctl\/tls/.test(c))).toEqual([]);
    expect((await commands('--strategy', 'full')).filter((c) => /--tls|\.ctl\/tls/.test(c))).toEqual([]);
  });
});
