// The leftovers record a run keeps for `criu-lab cleanup`, without a lab: what it says as effects
// happen, and a cleanup that finds nothing to do.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../experiments/errors.js';
import { cleanLeftovers, LEFTOVERS_FILE, LeftoversLog, type LeftoversRecord } from '../../experiments/leftovers.js';

const node = (name: string, ip: string) => ({ name, ip });
const connection = {
  nodes: { sshUser: 'root', sshKey: '/nonexistent/key', sshPort: 22, knownHosts: undefined, trustUnknownHostKeys: false, bastion: undefined, source: node('n1', '192.0.2.1'), destination: node('n2', '192.0.2.2') },
  timeouts: { connectS: 1, commandS: 1, readyS: 1, dumpS: 1, transferS: 1, restoreS: 1, verifyS: 1 },
};
const paths = { workDir: '/srv/criu-lab/work/memory_1', sourceImageDir: '/srv/criu-lab/img/memory_1', destImageDir: '/srv/criu-lab/img/memory_1', sourceControlDir: '/srv/criu-lab/img/memory_1.ctl' };

const resultsDir = () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'faults-')), 'memory_1');
  mkdirSync(dir);
  return dir;
};
const read = (dir: string) => JSON.parse(readFileSync(join(dir, LEFTOVERS_FILE), 'utf8')) as LeftoversRecord;

describe('the leftovers record', () => {
  it('is on disk before anything happens, and follows the run: touched nodes, the workload pid, each node cleaned', async () => {
    const dir = resultsDir();
    const log = await LeftoversLog.create(dir, { runId: 'memory_1', connection, paths, transfer: 'rsync' });
    expect(read(dir)).toMatchObject({ runId: 'memory_1', touched: [], cleaned: [], paths });
    await log.update({ touched: ['source', 'destination'] });
    await log.update({ workloadPid: 42 });
    await Promise.all([log.markCleaned('source'), log.markCleaned('destination'), log.markCleaned('source')]);
    expect(read(dir)).toMatchObject({ touched: ['source', 'destination'], workloadPid: 42, cleaned: ['source', 'destination'] });
  });
});

describe('criu-lab cleanup', () => {
  it('does not connect when every touched node was cleaned, and marks a run without metrics _failed', async () => {
    const dir = resultsDir();
    const log = await LeftoversLog.create(dir, { runId: 'memory_1', connection, paths, transfer: 'rsync' });
    await log.update({ touched: ['source'] });
    await log.markCleaned('source');
    const notes: string[] = [];
    const report = await cleanLeftovers(dir, (m) => notes.push(m));
    expect(notes[0]).toBe('memory_1: nothing left on the nodes');
    expect(report).toEqual({ resultsDir: `${dir}_failed`, cleaned: [], failures: [] });
    expect(existsSync(join(`${dir}_failed`, LEFTOVERS_FILE))).toBe(true);
  });

  it('keeps the name of a run that finished, and reports a node it cannot reach as a failure, leaving it pending', async () => {
    const dir = resultsDir();
    writeFileSync(join(dir, 'metrics.json'), '{}');
    const log = await LeftoversLog.create(dir, { runId: 'memory_1', connection, paths, transfer: 'rsync' });
    await log.update({ touched: ['source', 'destination'] });
    await log.markCleaned('destination');
    const report = await cleanLeftovers(dir, () => undefined);
    expect(report.resultsDir).toBe(dir);
    expect(report.failures).toEqual([expect.stringMatching(/^n1 \(source\): /)]);
    expect(read(dir).cleaned).toEqual(['destination']);
  });

  it('refuses a directory without a record, as a usage error', async () => {
    await expect(cleanLeftovers(resultsDir(), () => undefined)).rejects.toBeInstanceOf(UsageError);
  });
});
