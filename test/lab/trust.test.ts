// Trust boundaries on a real lab (lab htl): what a run writes on a node is root's alone (0700
// directories, 0600 files, and the restore still works), the run's rsync key works only from
// the source and only for rsync into the run's directories, and a controller killed mid-run
// leaves that key behind for `criu-lab cleanup` to remove.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Plan } from '../../experiments/config/plan.js';
import { runMigration } from '../../experiments/pipeline.js';
import { createProgress, type Progress } from '../../experiments/progress.js';
import { connectPlanNode } from '../../experiments/remote/connect.js';
import type { RemoteNode } from '../../core/node.js';
import { runCli } from '../support/cli.js';
import { projectRoot as root, useLab } from '../support/lab.js';

const LAB = 'htl';
const SUBNET = '10.77.214';
const SIZES = ['--mb-size', '16', '--max-memory', '48', '--interval', '0.2'];
const lab = useLab({
  name: LAB,
  subnet: SUBNET,
  nodes: 2,
  upTimeoutMs: 90_000,
  downTimeoutMs: 90_000,
  workload: { mb_size: 16, interval: 0.2, max_memory: 48 },
});
const { work, servers } = lab;
let plan: Plan;

const authorizedKeys = (node: string) => readFileSync(lab.nodeDir(node, 'root/.ssh/authorized_keys'), 'utf8');
const runKeyLines = (node: string) =>
  authorizedKeys(node)
    .split('\n')
    .filter((line) => / criu-lab-memory_\d{8}_\d{6}(_\d+)?$/.test(line));

beforeAll(() => {
  plan = lab.plan();
});

/** Progress that runs `probe` on both nodes when the labelled phase starts, before it runs. */
function probeAt(label: string, probe: (source: RemoteNode, destination: RemoteNode) => Promise<void>): Progress {
  const quiet = createProgress(process.stderr, true);
  return {
    note: quiet.note,
    async track(name, step, bytes) {
      if (name === label) {
        const [source, destination] = await Promise.all([connectPlanNode(plan, 'source'), connectPlanNode(plan, 'destination')]);
        try {
          await probe(source, destination);
        } finally {
          await Promise.all([source.close(), destination.close()]);
        }
      }
      return quiet.track(name, step, bytes);
    },
  };
}

/** `ls -l` lines of a directory tree: "<mode> <path>" with the mode in octal, for every entry. */
async function modes(node: RemoteNode, dir: string): Promise<string[]> {
  const listing = await node.run(['find', dir, '-printf', '%m %y %p\n']);
  return listing.stdout.trim().split('\n');
}

describe('a full + rsync migration', () => {
  const seen: Record<string, string> = {};
  let probed = false;
  let outcome: Awaited<ReturnType<typeof runMigration>>;

  beforeAll(async () => {
    outcome = await runMigration(plan, {
      signal: new AbortController().signal,
      // At the restore the images are on both nodes, and the run key is still authorized.
      progress: probeAt('restore', async (source, destination) => {
        probed = true;
        const runId = readdirSync(join(work, 'results'))[0]!;
        seen.runId = runId;
        const sourceImages = `${plan.checkpoint.checkpointDir}/${runId}`;
        seen.sourceLs = (await source.run(['ls', '-l', sourceImages])).stdout;
        seen.sourceModes = (await modes(source, sourceImages)).join('\n');
        seen.destModes = (await modes(destination, `${plan.transfer.destDir}/${runId}`)).join('\n');
        seen.workModes = (await modes(destination, `${plan.checkpoint.workingDir}/${runId}`)).join('\n');
        seen.keyLines = runKeyLines('n2').join('\n');
        const ctl = `${plan.checkpoint.checkpointDir}/${runId}.ctl`;
        const asSource = (command: string) =>
          source.run(
            [
              'ssh',
              '-i',
              `${ctl}/transfer_key`,
              '-o',
              `UserKnownHostsFile=${ctl}/known_hosts`,
              '-o',
              'BatchMode=yes',
              `root@${plan.nodes.destination.ip}`,
              command,
            ],
            { check: false },
          );
        const shell = await asSource('id');
        seen.shellFromSource = `${shell.exitCode} ${shell.stderr.trim()}`;
        const outside = await asSource('rsync --server -lWogDtpre.iLsfxCIvu . /etc/');
        seen.outsideFromSource = `${outside.exitCode} ${outside.stderr.trim()}`;
        // The same key from another address (the controller, on the lab bridge).
        const copy = join(work, 'stolen_key');
        writeFileSync(copy, await source.readFile(`${ctl}/transfer_key`), { mode: 0o600 });
        const stolen = await new Promise<{ code: number | null; stderr: string }>((done) => {
          const child = spawn(
            'ssh',
            [
              '-i',
              copy,
              '-o',
              `UserKnownHostsFile=${lab.info.knownHostsPath}`,
              '-o',
              'BatchMode=yes',
              '-o',
              'IdentitiesOnly=yes',
              `root@${plan.nodes.destination.ip}`,
              'id',
            ],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          let stderr = '';
          child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
          child.on('exit', (code) => done({ code, stderr }));
        });
        rmSync(copy);
        seen.fromController = `${stolen.code} ${stolen.stderr.trim()}`;
      }),
    });
  }, 180_000);

  it('restores and verifies with every image and work file 0600 in 0700 directories, on both nodes', () => {
    expect(probed).toBe(true);
    expect(outcome.metrics.outcome).toBe('ok');
    process.stderr.write(`ls -l of the source's image dir during the run:\n${seen.sourceLs}`);
    for (const key of ['sourceModes', 'destModes', 'workModes']) {
      const entries = seen[key]!.split('\n');
      expect(entries.length).toBeGreaterThan(3);
      for (const entry of entries) {
        const [mode, type] = entry.split(' ');
        // The payload script and the protocol module beside it are uploaded executable (0755) inside the 0700 work dir.
        if (/\/payload(_protocol)?\.py$/.test(entry)) continue;
        expect({ entry, mode }).toEqual({ entry, mode: type === 'd' ? '700' : '600' });
      }
    }
    expect(seen.sourceLs).toMatch(/^-rw------- .* pages-1\.img$/m);
  });

  it("authorizes the run key from the source's address only, forced through the gate to the run's directories", () => {
    const runId = seen.runId!;
    const dirs = [`${plan.checkpoint.workingDir}/${runId}`, `${plan.transfer.destDir}/${runId}`, `${plan.checkpoint.checkpointDir}/${runId}.ctl/open-files`];
    const quoted = (text: string) => text.replace(/[.$()|\\]/g, '\\$&');
    expect(seen.keyLines).toMatch(
      new RegExp(
        `^from="${quoted(plan.nodes.source.ip)}",command="sh -c ${quoted('\\"$(echo ')}\\S+${quoted(' | base64 -d)\\"')} rsync-gate ${runId} ${dirs.join(' ')}",restrict ssh-ed25519 \\S+ criu-lab-${runId}$`,
      ),
    );
    expect(seen.shellFromSource).toMatch(/^1 criu-lab rsync gate: refused: not rsync --server: id$/);
    expect(seen.outsideFromSource).toMatch(/^1 criu-lab rsync gate: refused: \/etc\/ is not inside a directory of run /);
    expect(seen.fromController).toMatch(/^255 .*Permission denied/);
  });

  it('removes the run key afterwards', () => {
    expect(runKeyLines('n2')).toEqual([]);
  });
});

describe('a controller killed mid-run', () => {
  it('leaves its rsync key on the destination, and `criu-lab cleanup` removes it with everything else', async () => {
    const results = join(work, 'killed');
    const child = spawn(process.execPath, [join(root, 'bin/criu-lab.js'), 'run', '--servers', servers, '--results-dir', results, ...SIZES], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('→ dump\n') && child.exitCode === null) child.kill('SIGKILL');
    });
    await new Promise((exited) => child.on('exit', exited));
    const [name] = readdirSync(results);
    const dir = join(results, name!);
    expect(runKeyLines('n2')).toEqual([expect.stringContaining(`criu-lab-${name}`)]);
    const cleanup = await runCli(['cleanup', dir]);
    expect({ code: cleanup.code, stderr: cleanup.stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/n2 \(destination\) cleaned/) });
    expect(runKeyLines('n2')).toEqual([]);
    for (const node of ['n1', 'n2'])
      for (const sub of ['srv/criu-lab/work', 'srv/criu-lab/img'])
        if (existsSync(lab.nodeDir(node, sub))) expect(readdirSync(lab.nodeDir(node, sub))).toEqual([]);
  }, 120_000);
});
