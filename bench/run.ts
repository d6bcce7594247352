// `npm run bench`: one session on a lab of its own (bn) measuring criu-lab against the plain-shell
// reference (bench/bare-migration.sh), transfer efficiency against raw iperf3, downtime per
// strategy and the controller's peak RSS across sizes. Writes bench/results.md, bench/plot.png and
// bench/out/raw.json. Knobs: BENCH_REPS (A/B pairs, default 5), BENCH_LAZY_REPS (3),
// BENCH_SIZES (MiB, default 1024,2048,4096).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, 'bench');
const OUT = join(BENCH, 'out');
const LAB = 'bn';
const SERVERS = '/tmp/bn-servers.yaml';
const RESULTS_DIR = '/tmp/bn-results';
const LOG = join(OUT, 'bench.log');
const REPS = Number(process.env['BENCH_REPS'] ?? 5);
const LAZY_REPS = Number(process.env['BENCH_LAZY_REPS'] ?? 3);
const SIZES = (process.env['BENCH_SIZES'] ?? '1024,2048,4096').split(',').map(Number);
const MB_SIZE = 128;
const INTERVAL = '0.2';

type Strategy = 'full' | 'pageserver' | 'lazy';
interface Phases { dumpMs: number; transferMs: number; restoreMs: number; downtimeMs: number }
interface RunRecord extends Phases {
  kind: 'criu-lab' | 'bare';
  strategy: Strategy;
  maxMemory: number;
  /** MB/s of the node-to-node move that carries the pages (rsync, or the page stream). */
  throughputMBps?: number;
  pageStreamMs?: number;
  rssKiB?: number;
  bytes?: number;
  outcome?: string;
  lazy?: unknown;
}
interface Raw {
  date: string;
  machine: Record<string, string>;
  commands: string[];
  iperf: { at: string; gbps: number }[];
  runs: RunRecord[];
  cut: string[];
}

const raw: Raw = { date: new Date().toISOString(), machine: {}, commands: [], iperf: [], runs: [], cut: [] };
let current: ReturnType<typeof spawn> | undefined;

function log(line: string): void {
  const text = `[${new Date().toISOString()}] ${line}`;
  process.stderr.write(text + '\n');
  appendFileSync(LOG, text + '\n');
}

function sh(argv: string[], opts: { env?: NodeJS.ProcessEnv; record?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  if (opts.record !== false) raw.commands.push(argv.map((a) => (/^[\w./:=,@-]+$/.test(a) ? a : `'${a}'`)).join(' '));
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      appendFileSync(LOG, d);
    });
    child.on('error', fail);
    child.on('close', (code) => {
      current = undefined;
      done({ code: code ?? 1, stdout, stderr });
    });
  });
}

function labDown(): void {
  spawnSync('node', ['bin/criu-lab.js', 'lab', 'down', '--name', LAB], { cwd: ROOT, stdio: 'inherit' });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping, taking the lab down`);
    current?.kill('SIGTERM');
    labDown();
    process.exit(130);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ipOf(role: 'source' | 'destination'): string {
  const m = new RegExp(`^  ${role}: \\{ ip: ([0-9.]+)`, 'm').exec(readFileSync(SERVERS, 'utf8'));
  if (!m?.[1]) throw new Error(`no ${role} ip in ${SERVERS}`);
  return m[1];
}

async function iperf(src: string, dst: string): Promise<void> {
  const server = spawn('ip', ['netns', 'exec', `${LAB}-n2`, 'iperf3', '-s', '-1', '-B', dst], { stdio: 'ignore' });
  raw.commands.push(`ip netns exec ${LAB}-n2 iperf3 -s -1 -B ${dst}`);
  await sleep(700);
  const r = await sh(['ip', 'netns', 'exec', `${LAB}-n1`, 'iperf3', '-c', dst, '-B', src, '-t', '5', '-J']);
  server.kill();
  const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
  const gbps = j.end.sum_received.bits_per_second / 1e9;
  raw.iperf.push({ at: new Date().toISOString(), gbps });
  log(`iperf3 n1→n2: ${gbps.toFixed(2)} Gbit/s`);
}

async function criuLab(strategy: Strategy, maxMemory: number): Promise<RunRecord | undefined> {
  const r = await sh(['/usr/bin/time', '-v', 'node', 'bin/criu-lab.js', 'run', '--servers', SERVERS, '--results-dir', RESULTS_DIR, '--workload', 'memory',
    '--mb-size', String(MB_SIZE), '--max-memory', String(maxMemory), '--interval', INTERVAL, '--strategy', strategy, '--transfer', 'rsync', '--json']);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const start = r.stdout.indexOf('{');
  if (r.code !== 0 || start < 0) {
    log(`criu-lab ${strategy} ${maxMemory} MiB failed (exit ${r.code})`);
    return undefined;
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const m = JSON.parse(r.stdout.slice(start)) as any;
  const rec: RunRecord = {
    kind: 'criu-lab', strategy, maxMemory,
    dumpMs: m.dump?.durationMs ?? NaN, transferMs: m.transfer?.durationMs ?? NaN, restoreMs: m.restore?.durationMs ?? NaN, downtimeMs: m.downtimeMs ?? NaN,
    throughputMBps: strategy === 'pageserver' ? m.pageStream?.throughputMBps : m.transfer?.throughputMBps,
    pageStreamMs: m.pageStream?.durationMs, rssKiB: rss?.[1] ? Number(rss[1]) : undefined, bytes: m.dump?.imageBytes, outcome: typeof m.outcome === 'string' ? m.outcome : JSON.stringify(m.outcome),
    lazy: m.lazy,
  };
  log(`criu-lab ${strategy} ${maxMemory}: dump ${rec.dumpMs} transfer ${rec.transferMs} restore ${rec.restoreMs} downtime ${rec.downtimeMs} ms, rss ${rec.rssKiB} KiB`);
  return rec;
}

async function bare(strategy: 'full' | 'pageserver', maxMemory: number): Promise<RunRecord | undefined> {
  const r = await sh(['bash', 'bench/bare-migration.sh', String(MB_SIZE), String(maxMemory)], { env: { SERVERS, STRATEGY: strategy, INTERVAL } });
  raw.commands[raw.commands.length - 1] = `SERVERS=${SERVERS} STRATEGY=${strategy} INTERVAL=${INTERVAL} ${raw.commands[raw.commands.length - 1]}`;
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.code !== 0 || !line) {
    log(`bare ${strategy} ${maxMemory} failed (exit ${r.code}): ${r.stdout.slice(-300)}`);
    return undefined;
  }
  const j = JSON.parse(line.slice('BENCH_JSON '.length)) as Phases & { bytes: number };
  const rec: RunRecord = { kind: 'bare', strategy, maxMemory, ...j };
  log(`bare ${strategy} ${maxMemory}: dump ${rec.dumpMs} transfer ${rec.transferMs} restore ${rec.restoreMs} downtime ${rec.downtimeMs} ms`);
  return rec;
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const pick = (kind: RunRecord['kind'], strategy: Strategy, maxMemory = 1024) => raw.runs.filter((r) => r.kind === kind && r.strategy === strategy && r.maxMemory === maxMemory);
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const s = (ms: number) => f(ms / 1000, 2);
const push = (r: RunRecord | undefined) => {
  if (r) raw.runs.push(r);
  writeFileSync(join(OUT, 'raw.json'), JSON.stringify(raw, null, 2));
};

function machine(): void {
  const out = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stdout.trim();
  raw.machine = { nproc: out('nproc'), free: out('free -g'), kernel: out('uname -r'), criu: out('criu --version'), node: process.version };
}

function report(): string {
  const phases: (keyof Phases)[] = ['dumpMs', 'transferMs', 'restoreMs', 'downtimeMs'];
  const iperfGbps = median(raw.iperf.map((i) => i.gbps));
  const iperfMBps = (iperfGbps * 1e9) / 8 / 1e6;
  const L: string[] = [];
  L.push('# criu-lab benchmarks', '', `Date: ${raw.date} (session start, UTC). Generated by \`npm run bench\` (bench/run.ts).`, '');
  L.push('## Machine', '', '```', `nproc: ${raw.machine['nproc']}`, `uname -r: ${raw.machine['kernel']}`, `criu --version: ${raw.machine['criu']}`, `node: ${raw.machine['node']}`, 'free -g:', raw.machine['free'] ?? '', '```', '');
  L.push(`Lab: \`criu-lab lab up --name ${LAB}\` (2 namespace nodes n1 → n2 on one bridge). Workload: memory, --mb-size ${MB_SIZE} --interval ${INTERVAL}. Transfer: rsync. A = criu-lab, B = bench/bare-migration.sh (same CRIU commands in a plain shell), alternated A B A B.`, '');
  const cut = [...raw.cut];
  if (!SIZES.includes(8192)) cut.push('8 GiB scale point not run (time budget; 8 GiB source + 8 GiB destination + 8 GiB images would also crowd the 24 GiB machine).');
  if (SIZES.some((x) => x !== 1024)) cut.push(`Scale points other than 1 GiB: 1 run each (the 1 GiB point has the ${REPS} full+rsync runs of the overhead section).`);
  cut.push(`lazy: ${LAZY_REPS} runs, criu-lab only (no shell reference for lazy).`);
  raw.cut = cut;
  if (raw.cut.length) L.push('## What was cut', '', ...raw.cut.map((c) => `- ${c}`), '');

  L.push('## 1. Overhead: criu-lab ÷ plain shell, ratio of medians (1 GiB; goal ≤ 1.05)', '');
  L.push('| strategy | phase | criu-lab median s | bare median s | ratio | n (A/B) |', '| --- | --- | --- | --- | --- | --- |');
  for (const st of ['full', 'pageserver'] as const) {
    const A = pick('criu-lab', st);
    const B = pick('bare', st);
    for (const p of phases) {
      const a = median(A.map((r) => r[p]));
      const b = median(B.map((r) => r[p]));
      const label = p === 'transferMs' ? (st === 'pageserver' ? 'transfer (rest after page stream)' : 'transfer') : p.replace('Ms', '');
      L.push(`| ${st} | ${label} | ${s(a)} | ${s(b)} | ${f(a / b, 3)} | ${A.length}/${B.length} |`);
    }
    const ps = median(A.map((r) => r.pageStreamMs ?? NaN));
    if (st === 'pageserver') L.push(`| pageserver | page stream (CRIU memwrite_time, inside dump) | ${s(ps)} | (inside dump) | n/a | ${A.length}/- |`);
  }
  L.push('', 'Phase times are node-measured (`date` around each command on the node). The shell script\'s downtime starts at its `criu dump` command; criu-lab\'s at the start of the freeze from CRIU\'s statistics, so criu-lab\'s downtime is, if anything, slightly generous to itself by the pre-freeze part of the dump command.', '');

  L.push('## 2. Transfer efficiency (1 GiB; raw iperf3 n1 → n2 in the same session)', '');
  L.push(`iperf3 (TCP, 5 s, n1 → n2): ${raw.iperf.map((i) => `${i.gbps.toFixed(2)} Gbit/s`).join(', ')} → median ${f(iperfGbps)} Gbit/s = ${f(iperfMBps, 0)} MB/s.`, '');
  L.push('| transfer | median throughput MB/s | ÷ iperf3 | goal |', '| --- | --- | --- | --- |');
  const rsyncT = median(pick('criu-lab', 'full').map((r) => r.throughputMBps ?? NaN));
  const psT = median(pick('criu-lab', 'pageserver').map((r) => r.throughputMBps ?? NaN));
  L.push(`| rsync (full, criu-lab metrics.transfer) | ${f(rsyncT, 0)} | ${f(rsyncT / iperfMBps, 3)} | ≥ 0.5 |`);
  L.push(`| page server (criu-lab metrics.pageStream: pages_written × 4 KiB ÷ memwrite_time) | ${f(psT, 0)} | ${f(psT / iperfMBps, 3)} | ≥ 0.7 |`);
  L.push('');

  L.push('## 3. Downtime, 1 GiB (criu-lab; goal for lazy ≤ 1.5 s)', '');
  L.push('| strategy | median downtime s | runs (s) |', '| --- | --- | --- |');
  for (const st of ['full', 'pageserver', 'lazy'] as const) {
    const A = pick('criu-lab', st);
    L.push(`| ${st} | ${s(median(A.map((r) => r.downtimeMs)))} | ${A.map((r) => s(r.downtimeMs)).join(', ')} |`);
  }
  L.push('');

  L.push('## 4. Scale: controller peak RSS (full + rsync, criu-lab, `/usr/bin/time -v` Maximum resident set size)', '');
  L.push('| heap MiB | runs | median peak RSS MiB | median dump s | median transfer s | median restore s | median downtime s |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const size of SIZES) {
    const A = pick('criu-lab', 'full', size);
    if (!A.length) continue;
    L.push(`| ${size} | ${A.length} | ${f(median(A.map((r) => (r.rssKiB ?? NaN) / 1024)), 1)} | ${s(median(A.map((r) => r.dumpMs)))} | ${s(median(A.map((r) => r.transferMs)))} | ${s(median(A.map((r) => r.restoreMs)))} | ${s(median(A.map((r) => r.downtimeMs)))} |`);
  }
  L.push('', '![benchmark plot](plot.png)', '');
  L.push('## Every run', '', '| # | kind | strategy | MiB | dump ms | transfer ms | restore ms | downtime ms | MB/s | RSS KiB |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  raw.runs.forEach((r, i) => L.push(`| ${i + 1} | ${r.kind} | ${r.strategy} | ${r.maxMemory} | ${f(r.dumpMs, 0)} | ${f(r.transferMs, 0)} | ${f(r.restoreMs, 0)} | ${f(r.downtimeMs, 0)} | ${r.throughputMBps === undefined ? '' : f(r.throughputMBps, 0)} | ${r.rssKiB ?? ''} |`));
  L.push('', '## Commands (in order, as run)', '', '```', 'node bin/criu-lab.js lab up --name bn --servers /tmp/bn-servers.yaml', ...[...new Set(raw.commands)], 'node bin/criu-lab.js lab down --name bn', '```', '');
  return L.join('\n');
}

function plot(): void {
  const phases: (keyof Phases)[] = ['dumpMs', 'transferMs', 'restoreMs', 'downtimeMs'];
  const ds = (kind: RunRecord['kind'], st: Strategy) => phases.map((p) => median(pick(kind, st).map((r) => r[p])) / 1000);
  const rss = SIZES.map((size) => median(pick('criu-lab', 'full', size).map((r) => (r.rssKiB ?? NaN) / 1024)));
  const chart = readFileSync(join(ROOT, 'node_modules/chart.js/dist/chart.umd.js'), 'utf8');
  const cfg1 = {
    type: 'bar',
    data: { labels: ['dump', 'transfer', 'restore', 'downtime'], datasets: [
      { label: 'criu-lab full', data: ds('criu-lab', 'full') }, { label: 'bare full', data: ds('bare', 'full') },
      { label: 'criu-lab pageserver', data: ds('criu-lab', 'pageserver') }, { label: 'bare pageserver', data: ds('bare', 'pageserver') },
      { label: 'criu-lab lazy', data: ds('criu-lab', 'lazy') },
    ] },
    options: { animation: false, plugins: { title: { display: true, text: '1 GiB: median phase time (s)' } } },
  };
  const cfg2 = {
    type: 'line',
    data: { labels: SIZES.map(String), datasets: [{ label: 'controller peak RSS (MiB)', data: rss }] },
    options: { animation: false, scales: { y: { beginAtZero: true } }, plugins: { title: { display: true, text: 'full+rsync: controller peak RSS vs heap MiB' } } },
  };
  const html = `<!doctype html><html><body style="margin:0;background:#fff"><div style="display:flex"><div style="width:700px;height:450px"><canvas id="a"></canvas></div><div style="width:500px;height:450px"><canvas id="b"></canvas></div></div>
<script>${chart}</script><script>new Chart(document.getElementById('a'),${JSON.stringify(cfg1)});new Chart(document.getElementById('b'),${JSON.stringify(cfg2)});</script></body></html>`;
  const htmlPath = join(OUT, 'plot.html');
  writeFileSync(htmlPath, html);
  const r = spawnSync('/usr/bin/chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--screenshot=${join(BENCH, 'plot.png')}`, '--window-size=1200,460', `file://${htmlPath}`], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) log(`chromium failed: ${r.stderr.slice(-300)}`);
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (process.argv.includes('--report-only')) {
    Object.assign(raw, JSON.parse(readFileSync(join(OUT, 'raw.json'), 'utf8')));
    plot();
    writeFileSync(join(BENCH, 'results.md'), report());
    return;
  }
  writeFileSync(LOG, '');
  machine();
  const up = await sh(['node', 'bin/criu-lab.js', 'lab', 'up', '--name', LAB, '--servers', SERVERS], { record: false });
  if (up.code !== 0) throw new Error(`lab up failed: ${up.stderr}`);
  try {
    const src = ipOf('source');
    const dst = ipOf('destination');
    await iperf(src, dst);
    for (const st of ['full', 'pageserver'] as const) {
      for (let i = 0; i < REPS; i++) {
        push(await criuLab(st, 1024));
        push(await bare(st, 1024));
      }
    }
    for (let i = 0; i < LAZY_REPS; i++) push(await criuLab('lazy', 1024));
    for (const size of SIZES.filter((x) => x !== 1024)) push(await criuLab('full', size));
    await iperf(src, dst);
    push(undefined);
  } finally {
    plot();
    writeFileSync(join(BENCH, 'results.md'), report());
    labDown();
  }
  log(`wrote ${join(BENCH, 'results.md')}`);
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
