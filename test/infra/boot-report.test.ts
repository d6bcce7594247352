import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parseBootReport, waitForBootReports, type ConsoleReader } from '../../infra/aws/boot-report.js';
import { ExternalError } from '../../core/errors.js';
import { knownHostsPathFor, renderKnownHosts } from '../../infra/aws/known-hosts.js';
import { BOOT_MARKER, BOOTSTRAP_LOG, nodeUserData } from '../../infra/aws/user-data.js';
import { FIXTURES } from './helpers.js';

const consoleOf = (instanceId: string) => readFileSync(join(FIXTURES, 'console', `${instanceId}.txt`), 'utf8');
/** Built CRIU at boot. */
const NODE_0 = 'i-0a10000000000000a';
/** Booted from a baked image. */
const NODE_1 = 'i-0a10000000000000b';
const BASTION = 'i-0b5e1c2d3a4f50617';

describe('boot reports on the serial console', () => {
  it('finds the host keys and the ready line among kernel and cloud-init output', () => {
    const report = parseBootReport(consoleOf(NODE_0));
    expect(report.status).toEqual({ kind: 'ready' });
    expect(report.hostKeys.map((k) => k.type)).toEqual(['ecdsa-sha2-nistp256', 'ssh-ed25519']);
    expect(report.hostKeys[1]?.key).toBe('AAAAC3NzaC1lZDI1NTE5AAAAID0FZm/oAv5DEjTfMgDVNuFv5860wbDAVlKh6ut+P6Ol');
  });

  it('reads what setup-host did on a node, and nothing on the bastion, which runs no setup', () => {
    expect(parseBootReport(consoleOf(NODE_0)).setup).toBe('host ready: CRIU 4.2.1 at /usr/local/sbin/criu');
    expect(parseBootReport(consoleOf(NODE_1)).setup).toBe('host ready: nothing to do (CRIU 4.2.1, packages and sysctls in place)');
    expect(parseBootReport(consoleOf(BASTION))).not.toHaveProperty('setup');
  });

  it("reads the setup line as the node's user data prints it: setup-host's last line in the bootstrap log", () => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-boot-report-'));
    try {
      const log = join(dir, 'bootstrap.log');
      writeFileSync(log, 'setup-host: installing 15 Debian packages\nsetup-host: host ready: nothing to do (CRIU 4.2.1, packages and sysctls in place)\n');
      const userData = nodeUserData({ setupHostScript: '#!/bin/bash\n', loginUser: 'admin', cloudPackages: [] });
      const setupLine = /^console "setup .*$/m.exec(userData)?.[0] ?? '';
      expect(setupLine).toContain(BOOTSTRAP_LOG);
      // The console is stdout here; the line is the user data's own, with the log path moved.
      const consoleOutput = execFileSync(
        'bash',
        ['-c', `console() { printf '${BOOT_MARKER} %s\\n' "$*"; }\n${setupLine.replaceAll(BOOTSTRAP_LOG, log)}\nconsole ready`],
        { encoding: 'utf8', timeout: 10_000 },
      );
      expect(parseBootReport(consoleOutput)).toMatchObject({
        status: { kind: 'ready' },
        setup: 'host ready: nothing to do (CRIU 4.2.1, packages and sysctls in place)',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a failed bootstrap with its step, and a console without a report as pending', () => {
    const failed = parseBootReport(readFileSync(join(FIXTURES, 'console-output-failed.txt'), 'utf8'));
    expect(failed.status).toEqual({
      kind: 'failed',
      detail: 'step=setup-host exit=1 log=/var/log/criu-lab-bootstrap.log',
      // The log's tail, printed before the failed line, travels with it.
      logTail: 'setup-host: building CRIU 4.2.1 (about a minute)\nsetup-host: CRIU build failed; see /var/cache/criu-lab/criu-4.2.1/build.log',
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

  it('logs what setup-host did once per host, when the host becomes ready', async () => {
    const lines: string[] = [];
    let slowReads = 0;
    const readConsole: ConsoleReader = async (id) => (id === NODE_1 && slowReads++ === 0 ? '' : consoleOf(id));
    await waitForBootReports(
      [
        { name: 'bastion', instanceId: BASTION },
        { name: 'az-a-node-0', instanceId: NODE_0 },
        { name: 'az-a-node-1', instanceId: NODE_1 },
      ],
      readConsole,
      { timeoutMs: 60_000, pollMs: 0, log: (line) => lines.push(line) },
    );
    expect(lines).toEqual([
      'az-a-node-0 ready (setup-host: host ready: CRIU 4.2.1 at /usr/local/sbin/criu)',
      'waiting for bootstrap: az-a-node-1',
      'az-a-node-1 ready (setup-host: host ready: nothing to do (CRIU 4.2.1, packages and sysctls in place))',
    ]);
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
