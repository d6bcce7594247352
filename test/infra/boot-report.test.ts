import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseBootReport, waitForBootReports, type ConsoleReader } from '../../infra/aws/boot-report.js';
import { ExternalError } from '../../core/errors.js';
import { knownHostsPathFor, renderKnownHosts } from '../../infra/aws/known-hosts.js';
import { FIXTURES } from './helpers.js';

const consoleOf = (instanceId: string) => readFileSync(join(FIXTURES, 'console', `${instanceId}.txt`), 'utf8');
const NODE_0 = 'i-0a10000000000000a';

describe('boot reports on the serial console', () => {
  it('finds the host keys and the ready line among kernel and cloud-init output', () => {
    const report = parseBootReport(consoleOf(NODE_0));
    expect(report.status).toEqual({ kind: 'ready' });
    expect(report.hostKeys.map((k) => k.type)).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(report.hostKeys[1]?.key).toBe('AAAAC3NzaC1lZDI1NTE5AAAAID0FZm/oAv5DEjTfMgDVNuFv5860wbDAVlKh6ut+P6Ol');
  });

  it('reads a failed bootstrap with its step, and a console without a report as pending', () => {
    const failed = parseBootReport(readFileSync(join(FIXTURES, 'console-output-failed.txt'), 'utf8'));
    expect(failed.status).toEqual({
      kind: 'failed',
      detail: 'step=setup-host exit=1 log=/var/log/criu-lab-bootstrap.log',
    });
    expect(parseBootReport('[    0.000000] Linux version 6.1.0\n').status).toEqual({ kind: 'pending' });
  });

  it('waits until every host is ready, polling only the ones still booting', async () => {
    const reads: string[] = [];
    let round = 0;
    const readConsole: ConsoleReader = async (id) => {
      reads.push(id);
      return id === 'i-slow' && round++ === 0 ? '' : consoleOf(NODE_0);
    };
    const reports = await waitForBootReports(
      [
        { name: 'fast', instanceId: 'i-fast' },
        { name: 'slow', instanceId: 'i-slow' },
      ],
      readConsole,
      { timeoutMs: 60_000, pollMs: 0 },
    );
    expect([...reports.keys()]).toEqual(['fast', 'slow']);
    expect(reads).toEqual(['i-fast', 'i-slow', 'i-slow']);
  });

  it('stops at a failed bootstrap, naming the node and where its log is', async () => {
    const failed = readFileSync(join(FIXTURES, 'console-output-failed.txt'), 'utf8');
    await expect(waitForBootReports([{ name: 'az-a-node-0', instanceId: NODE_0 }], async () => failed, { timeoutMs: 60_000, pollMs: 0 })).rejects.toThrow(
      /az-a-node-0 \(i-0a10000000000000a\) failed its bootstrap: step=setup-host.*criu-lab-bootstrap\.log/,
    );
  });

  it('gives up after the timeout, listing the hosts still booting', async () => {
    const wait = waitForBootReports([{ name: 'az-c-node-0', instanceId: 'i-c' }], async () => '', {
      timeoutMs: 0,
      pollMs: 0,
    });
    await expect(wait).rejects.toThrow(ExternalError);
    await expect(wait).rejects.toThrow(/still booting after 0 min: az-c-node-0/);
  });
});

describe('known_hosts', () => {
  it('pins every reported key under the address the SSH layer dials', () => {
    const { hostKeys } = parseBootReport(consoleOf(NODE_0));
    expect(renderKnownHosts([{ address: '10.42.10.11', hostKeys }])).toBe(
      '10.42.10.11 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFvj7A91yCz3PmLJB2Cu+c2fzdnqaI8LtliPDEo/bzzjlb3WJDgR2+rJZ44p56lXMYqqDco66Us0c6nRIH1+Tpo=\n' +
        '10.42.10.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID0FZm/oAv5DEjTfMgDVNuFv5860wbDAVlKh6ut+P6Ol\n',
    );
    expect(knownHostsPathFor('config/servers.yaml')).toBe('config/servers.known_hosts');
  });
});
