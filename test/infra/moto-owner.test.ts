// A moto that lives for one command (the rehearsal's) dies with that command even when it is
// SIGKILLed and no handler runs; a moto started without diesWithOwner (the lab's, which outlives
// `lab up`) survives its starter. Real moto_server, started by a real node process that is killed.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { killMoto, motoMissingReason } from '../../infra/local/moto.js';

const missing = motoMissingReason();
const describeWithMoto = missing === undefined ? describe : describe.skip;
if (missing !== undefined) process.stderr.write(`test/infra/moto-owner: skipped, ${missing}\n`);

const dir = mkdtempSync(join(tmpdir(), 'criu-lab-moto-owner-'));
const started: number[] = [];
afterAll(() => {
  for (const pid of started) killMoto(pid);
  rmSync(dir, { recursive: true, force: true });
});

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Starts moto from a node process of its own, which prints moto's pid once moto answers and then waits. */
async function startFromChild(diesWithOwner: boolean): Promise<{ owner: number; moto: number }> {
  const script = `
    import { findMotoServer, freeLoopbackPort, startMoto } from ${JSON.stringify(join(process.cwd(), 'infra/local/moto.ts'))};
    const found = findMotoServer();
    const moto = await startMoto(found.command, { address: '127.0.0.1', port: await freeLoopbackPort(), logPath: ${JSON.stringify(join(dir, `moto-${diesWithOwner}.log`))}, timeoutMs: 30000, diesWithOwner: ${diesWithOwner} });
    console.log(moto.pid);
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolvePid, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolvePid(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`the owner exited (${code}) before moto answered`)));
  });
  started.push(pid);
  return { owner: child.pid ?? 0, moto: pid };
}

async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!alive(pid)) return true;
    await new Promise((wait) => setTimeout(wait, 100));
  }
  return !alive(pid);
}

describeWithMoto('moto and the process that started it', () => {
  it('diesWithOwner: SIGKILL of the owner takes moto with it', async () => {
    const { owner, moto } = await startFromChild(true);
    expect(alive(moto)).toBe(true);
    process.kill(owner, 'SIGKILL');
    expect(await goneWithin(moto, 10_000)).toBe(true);
  }, 60_000);

  it('without it (a lab moto), moto outlives its starter until it is stopped', async () => {
    const { owner, moto } = await startFromChild(false);
    process.kill(owner, 'SIGKILL');
    expect(await goneWithin(moto, 2_000)).toBe(false);
    expect(killMoto(moto)).toBe(true);
    expect(await goneWithin(moto, 10_000)).toBe(true);
  }, 60_000);
});
