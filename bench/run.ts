// `npm run bench`: one session on a lab of its own (bn) measuring criu-lab against the plain-shell
// reference (bench/bare-migration.sh), transfer efficiency against raw iperf3 (on the unshaped
// link and on the same-az and cross-az profiles, with the shaped rates against the profiles' and
// cross- against same-zone transfer time), downtime per strategy and the controller's peak RSS
// across sizes, and (section startup) the command's start against \`node -e 0\` with the controller's
// peak RSS at 1 and 8 GiB. Writes bench/results.md, bench/plot.png and bench/out/raw.json.
// criu-lab runs as built (bin/criu-lab.js starts dist/; \`npm run bench\` builds first).
// Knobs: BENCH_REPS (runs of each kind for the overhead, default 6), BENCH_LAZY_REPS (3),
// BENCH_SHAPED_REPS (3), BENCH_TLS_REPS (3), BENCH_SIZES (MiB, default 1024,2048,4096,8192),
// BENCH_SETTLE_S (15), BENCH_STARTUP_REPS (20), BENCH_SECTIONS (which parts run, default all:
// startup,overhead,iperf,lazy,scale,shaped,tls,transfer; transfer is one 1 GiB run per transfer
// setting of TRANSFER_SETTINGS on the unshaped link and each profile, BENCH_TRANSFER_REPS (1)
// rounds, with the page-cache ceiling of the destination),
// BENCH_RESULTS (the report's file name in bench/, default results.md; e.g. results-tls.md for BENCH_SECTIONS=tls).
// Page streams run in the clear (--no-tls) everywhere but the tls section, which sets TLS against
// plain: the shell reference streams in the clear, and earlier results stay comparable.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeCriuStats } from '../experiments/criu/stats.js';
import { bandwidthProfiles } from '../core/profiles.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, 'bench');
const OUT = join(BENCH, 'out');
const LAB = 'bn';
const SERVERS = '/tmp/bn-servers.yaml';
const RESULTS_DIR = '/tmp/bn-results';
const LOG = join(OUT, 'bench.log');
/** Where the report goes: a run of some sections (BENCH_SECTIONS) can publish beside the full results instead of over them. */
const RESULTS = process.env['BENCH_RESULTS'] ?? 'results.md';
const REPS = Number(process.env['BENCH_REPS'] ?? 6);
const LAZY_REPS = Number(process.env['BENCH_LAZY_REPS'] ?? 3);
const SHAPED_REPS = Number(process.env['BENCH_SHAPED_REPS'] ?? 3);
const TLS_REPS = Number(process.env['BENCH_TLS_REPS'] ?? 3);
const TRANSFER_REPS = Number(process.env['BENCH_TRANSFER_REPS'] ?? 1);
const SIZES = (process.env['BENCH_SIZES'] ?? '1024,2048,4096,8192').split(',').map(Number);
const STARTUP_REPS = Number(process.env['BENCH_STARTUP_REPS'] ?? 20);
/** The controller sizes of the startup section's peak-RSS table (MiB of heap). */
const STARTUP_SIZES = [1024, 8192];
const SECTIONS = new Set((process.env['BENCH_SECTIONS'] ?? 'startup,overhead,iperf,lazy,scale,shaped,tls,transfer').split(','));
/** Link rates and the same- vs cross-zone gap are measured here, not asserted by lab tests: the shared machine makes them noisy. */
const SHAPED_PROFILES = ['same-az', 'cross-az'] as const;
const MB_SIZE = 128;
const INTERVAL = '0.2';
const GiB = 1024 ** 3;

type Strategy = 'full' | 'pageserver' | 'lazy';
type Link = 'unshaped' | (typeof SHAPED_PROFILES)[number];
interface Phases {
  dumpMs: number;
  transferMs: number;
  restoreMs: number;
  downtimeMs: number;
}
/** One row of the transfer section: how the node-to-node move that carries the pages is set up. */
interface TransferSetting {
  readonly label: string;
  readonly strategy: 'full' | 'pageserver';
  /** criu-lab run flags beyond the common ones. */
  readonly args: readonly string[];
  readonly goal: string;
  /** Also on the same-az and cross-az profiles (where the link, not the method, should bind). */
  readonly shaped: boolean;
}
/** Every way criu-lab can carry 1 GiB of pages: rsync over SSH (default, other cipher, streams), rsync to the run's daemon, the page server in the clear and over TLS. */
const TRANSFER_SETTINGS: readonly TransferSetting[] = [
  { label: 'rsync over ssh, aes128-gcm (default)', strategy: 'full', args: [], goal: '≥ 0.5', shaped: true },
  { label: 'rsync over ssh, chacha20-poly1305', strategy: 'full', args: ['--cipher', 'chacha20-poly1305@openssh.com'], goal: '≥ 0.5', shaped: false },
  { label: 'rsync over ssh, 2 streams', strategy: 'full', args: ['--streams', '2'], goal: '≥ 0.5', shaped: false },
  { label: 'rsync over ssh, 4 streams', strategy: 'full', args: ['--streams', '4'], goal: '≥ 0.5', shaped: false },
  { label: 'rsync daemon, unencrypted', strategy: 'full', args: ['--no-encrypt'], goal: '≥ 0.5', shaped: false },
  { label: 'rsync daemon, unencrypted, 2 streams', strategy: 'full', args: ['--no-encrypt', '--streams', '2'], goal: '≥ 0.5', shaped: true },
  { label: 'page server, plain', strategy: 'pageserver', args: ['--no-tls'], goal: '≥ 0.7', shaped: true },
  { label: 'page server, TLS', strategy: 'pageserver', args: [], goal: '≥ 0.7', shaped: true },
];
interface RunRecord extends Phases {
  kind: 'criu-lab' | 'bare';
  strategy: Strategy;
  maxMemory: number;
  link: Link;
  /** In the tls section: whether this half of the comparison ran its page stream over CRIU's TLS. Absent: another section, in the clear (--no-tls). */
  tls?: boolean;
  /** criu-lab's own downtime: freeze start (CRIU's statistics) → restored process runs. downtimeMs is the shell's definition for both. */
  freezeDowntimeMs?: number;
  /** CRIU's memwrite_time: writing the pages (to the image files, or down the page-server socket). */
  memwriteMs?: number;
  pagesWritten?: number;
  /** The dump's page-write batches (see pageBatches): their median ms, and how many took < FAST_BATCH_MS. */
  batchMedianMs?: number;
  fastBatches?: number;
  /** MiB/s of the node-to-node move that carries the pages (rsync, or the page stream). */
  throughputMBps?: number;
  rssKiB?: number;
  bytes?: number;
  outcome?: string;
  lazy?: unknown;
  /** In the transfer section: the setting's label, and the command that made the run. */
  setting?: string;
  command?: string;
}
/** One pair of the startup section: `criu-lab --help` and `node -e 0`, wall seconds and peak RSS KiB, run back to back. */
interface StartupPair {
  helpS: number;
  helpKiB: number;
  nodeS: number;
  nodeKiB: number;
}
interface Raw {
  date: string;
  startup?: StartupPair[];
  machine: Record<string, string>;
  commands: string[];
  iperf: { at: string; link: Link; gbps: number }[];
  /** The transfer section's ceiling: 1 GiB written into the destination's page cache after the same settling as a run (no network). */
  ceilings?: { link: Link; mibps: number; command: string }[];
  runs: RunRecord[];
  cut: string[];
}

const raw: Raw = { date: new Date().toISOString(), machine: {}, commands: [], iperf: [], runs: [], cut: [] };
let current: ReturnType<typeof spawn> | undefined;
let link: Link = 'unshaped';

function log(line: string): void {
  const text = `[${new Date().toISOString()}] ${line}`;
  process.stderr.write(text + '\n');
  appendFileSync(LOG, text + '\n');
}

const shown = (argv: string[]) => argv.map((a) => (/^[\w./:=,@-]+$/.test(a) ? a : `'${a}'`)).join(' ');

function sh(argv: string[], opts: { env?: NodeJS.ProcessEnv; record?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  if (opts.record !== false) raw.commands.push(shown(argv));
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

/**
 * The same start for every run: dirty pages written back, clean caches dropped, free memory
 * compacted, then a pause (for the guest's free page reporting to hand freed memory back to the
 * hypervisor, we think). Without it a dump's page writes took 0.2 s to 2.4 s for the same 1 GiB,
 * faster when the run before had just freed memory (see results.md, "Method").
 */
const SETTLE_S = Number(process.env['BENCH_SETTLE_S'] ?? 15);
const PREPARE = 'sync; echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory';
async function prepare(): Promise<void> {
  spawnSync('sh', ['-c', PREPARE]);
  await sleep(SETTLE_S * 1000);
}

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
  raw.iperf.push({ at: new Date().toISOString(), link, gbps });
  log(`iperf3 n1→n2 (${link}): ${gbps.toFixed(2)} Gbit/s`);
}

/**
 * CRIU drains a big heap in batches of about 6,800 pages (27 MB); `-v4` logs "Clean up page pipe"
 * after each. The ms between them show the memory the run met: on this host a batch takes ~8 ms
 * into page cache already backed by the hypervisor, ~40 ms or ~72 ms otherwise (levels that also
 * switch within one dump). Same CRIU, same argv: the level sets the dump's length; which tool's
 * runs land on which level is in results.md, "Reading".
 */
const FAST_BATCH_MS = 20;
function pageBatches(dumpLog: string): Pick<RunRecord, 'batchMedianMs' | 'fastBatches'> {
  if (!existsSync(dumpLog)) return {};
  const ends = [...readFileSync(dumpLog, 'utf8').matchAll(/^\((\d+\.\d+)\) page-pipe: Clean up page pipe$/gm)].map((m) => Number(m[1]) * 1000);
  const batches = ends.slice(1).map((t, i) => t - ends[i]!);
  return { batchMedianMs: median(batches), fastBatches: batches.filter((ms) => ms < FAST_BATCH_MS).length };
}

/** What a dump's own statistics and log say of its page writing, read the same way for both tools. */
function pageWriting(stats: Record<string, number>, dumpLog: string): Pick<RunRecord, 'memwriteMs' | 'pagesWritten' | 'batchMedianMs' | 'fastBatches'> {
  return {
    memwriteMs: stats['memwrite_time'] !== undefined ? stats['memwrite_time'] / 1000 : undefined,
    pagesWritten: stats['pages_written'],
    ...pageBatches(dumpLog),
  };
}

interface Metrics {
  resultsDir: string;
  phases: { name: string; startedAt: string; durationMs: number }[];
  dump?: { durationMs: number; imageBytes: number; criuStats: Record<string, number> };
  transfer?: { durationMs: number; throughputMBps: number };
  restore?: { durationMs: number };
  pageStream?: { throughputMBps: number };
  downtimeMs?: number;
  lazy?: unknown;
  outcome?: unknown;
}

/** From the start of the dump command to the end of the restore command, both read on the nodes: what the shell script calls downtime. */
function commandDowntimeMs(m: Metrics): number {
  const dump = m.phases.find((p) => p.name === 'dump');
  const restore = m.phases.find((p) => p.name === 'restore');
  return dump && restore ? Date.parse(restore.startedAt) + restore.durationMs - Date.parse(dump.startedAt) : NaN;
}

/** `tls` set: a run of the tls section, over TLS or in the clear; unset: in the clear, as everywhere else. */
async function criuLab(strategy: Strategy, maxMemory: number, tls?: boolean, setting?: TransferSetting): Promise<RunRecord | undefined> {
  await prepare();
  const argv = [
    '/usr/bin/time',
    '-v',
    'node',
    'bin/criu-lab.js',
    'run',
    '--servers',
    SERVERS,
    '--results-dir',
    RESULTS_DIR,
    '--workload',
    'memory',
    '--mb-size',
    String(MB_SIZE),
    '--max-memory',
    String(maxMemory),
    '--interval',
    INTERVAL,
    '--strategy',
    strategy,
    '--transfer',
    'rsync',
    '--json',
    // A transfer setting sets TLS itself (the page server rows); every other run streams in the clear unless the tls section says so.
    ...(setting ? setting.args : tls ? [] : ['--no-tls']),
  ];
  const r = await sh(argv);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const start = r.stdout.indexOf('{');
  if (r.code !== 0 || start < 0) {
    log(`criu-lab ${strategy}${tls ? ' (TLS)' : ''} ${maxMemory} MiB failed (exit ${r.code})`);
    raw.cut.push(`criu-lab ${strategy}${tls ? ' over TLS' : ''} ${maxMemory} MiB on the ${link} link failed (exit ${r.code}); see bench/out/bench.log.`);
    return undefined;
  }
  const m = JSON.parse(r.stdout.slice(start)) as Metrics;
  const stats = m.dump?.criuStats ?? {};
  const rec: RunRecord = {
    kind: 'criu-lab',
    strategy,
    maxMemory,
    link,
    ...(tls === undefined ? {} : { tls }),
    ...(setting ? { setting: setting.label, command: shown(argv.slice(2)) } : {}),
    dumpMs: m.dump?.durationMs ?? NaN,
    transferMs: m.transfer?.durationMs ?? NaN,
    restoreMs: m.restore?.durationMs ?? NaN,
    downtimeMs: commandDowntimeMs(m),
    freezeDowntimeMs: m.downtimeMs ?? NaN,
    ...pageWriting(stats, join(m.resultsDir, 'source', 'criu-dump.log')),
    throughputMBps: strategy === 'pageserver' ? m.pageStream?.throughputMBps : m.transfer?.throughputMBps,
    rssKiB: rss?.[1] ? Number(rss[1]) : undefined,
    bytes: m.dump?.imageBytes,
    outcome: typeof m.outcome === 'string' ? m.outcome : JSON.stringify(m.outcome),
    lazy: m.lazy,
  };
  log(
    `criu-lab ${strategy} ${maxMemory} (${link}): dump ${rec.dumpMs} (memwrite ${rec.memwriteMs}, batch ${rec.batchMedianMs} ms, ${rec.fastBatches} fast) transfer ${rec.transferMs} restore ${rec.restoreMs} downtime ${rec.downtimeMs} ms, rss ${rec.rssKiB} KiB`,
  );
  return rec;
}

async function bare(strategy: 'full' | 'pageserver', maxMemory: number): Promise<RunRecord | undefined> {
  await prepare();
  const logs = join(OUT, 'bare-logs');
  rmSync(logs, { recursive: true, force: true });
  const env = { SERVERS, STRATEGY: strategy, INTERVAL, KEEP_LOGS: logs };
  const r = await sh(['bash', 'bench/bare-migration.sh', String(MB_SIZE), String(maxMemory)], { env });
  raw.commands[raw.commands.length - 1] =
    `SERVERS=${SERVERS} STRATEGY=${strategy} INTERVAL=${INTERVAL} KEEP_LOGS=bench/out/bare-logs ${raw.commands[raw.commands.length - 1]}`;
  const line = r.stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '));
  if (r.code !== 0 || !line) {
    log(`bare ${strategy} ${maxMemory} failed (exit ${r.code}): ${r.stdout.slice(-300)}`);
    return undefined;
  }
  const j = JSON.parse(line.slice('BENCH_JSON '.length)) as Phases & { bytes: number };
  const statsFile = join(logs, 'stats-dump');
  const stats = existsSync(statsFile) ? (decodeCriuStats(readFileSync(statsFile)).dump ?? {}) : {};
  const rec: RunRecord = {
    kind: 'bare',
    strategy,
    maxMemory,
    link,
    ...j,
    ...pageWriting(stats, join(logs, 'dump.log')),
  };
  log(
    `bare ${strategy} ${maxMemory} (${link}): dump ${rec.dumpMs} (memwrite ${rec.memwriteMs}, batch ${rec.batchMedianMs} ms, ${rec.fastBatches} fast) transfer ${rec.transferMs} restore ${rec.restoreMs} downtime ${rec.downtimeMs} ms`,
  );
  return rec;
}

const median = (xs: number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
/** `tls` picks a half of the tls section; without it, the runs of every other section. */
const pick = (kind: RunRecord['kind'], strategy: Strategy, maxMemory = 1024, onLink: Link = 'unshaped', tls?: boolean) =>
  raw.runs.filter(
    (r) =>
      r.kind === kind && r.strategy === strategy && r.maxMemory === maxMemory && (r.link ?? 'unshaped') === onLink && r.tls === tls && r.setting === undefined,
  );
/** 95 % interval of median(a) ÷ median(b) from 4,000 resamples of each (seeded, so a report regenerates the same). */
function ratioInterval(a: number[], b: number[]): [number, number] {
  let seed = 1;
  // mulberry32: a small seeded generator with 32-bit integer arithmetic.
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const resample = (xs: number[]) => median(xs.map(() => xs[Math.floor(random() * xs.length)]!));
  const ratios = Array.from({ length: 4000 }, () => resample(a) / resample(b)).sort((x, y) => x - y);
  return [ratios[100]!, ratios[3899]!];
}
const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const s = (ms: number) => f(ms / 1000, 2);
const push = (r: RunRecord | undefined) => {
  if (r) raw.runs.push(r);
  writeFileSync(join(OUT, 'raw.json'), JSON.stringify(raw, null, 2));
};
const iperfMBps = (onLink: Link) => (median(raw.iperf.filter((i) => (i.link ?? 'unshaped') === onLink).map((i) => i.gbps)) * 1e9) / 8 / 1e6;
// criu-lab's throughput is in MiB/s: the raw link in the same unit, so the ratio compares like with like.
const iperfMiBps = (onLink: Link) => (iperfMBps(onLink) * 1e6) / (1024 * 1024);

const HELP_ARGV = ['node', 'bin/criu-lab.js', '--help'];
const NODE_ARGV = ['node', '-e', '0'];

/** Wall seconds and peak RSS KiB of one command, from `/usr/bin/time -f '%e %M'` (its last line on stderr). */
async function timed(argv: string[]): Promise<{ s: number; kiB: number }> {
  const r = await sh(['/usr/bin/time', '-f', '%e %M', ...argv]);
  const [wall, kiB] = (r.stderr.trim().split('\n').pop() ?? '').split(' ').map(Number);
  if (r.code !== 0 || !Number.isFinite(wall) || !Number.isFinite(kiB)) throw new Error(`${shown(argv)} failed (exit ${r.code}): ${r.stderr.slice(-300)}`);
  return { s: wall!, kiB: kiB! };
}

/** Pairs of `criu-lab --help` and `node -e 0`, each going first in every other pair so neither always meets a warmer cache. */
async function startupSection(): Promise<void> {
  raw.startup = [];
  for (let i = 0; i < STARTUP_REPS; i++) {
    const first = i % 2 === 0 ? HELP_ARGV : NODE_ARGV;
    const a = await timed(first);
    const b = await timed(first === HELP_ARGV ? NODE_ARGV : HELP_ARGV);
    const [help, node] = first === HELP_ARGV ? [a, b] : [b, a];
    raw.startup.push({ helpS: help.s, helpKiB: help.kiB, nodeS: node.s, nodeKiB: node.kiB });
  }
  const last = raw.startup.at(-1)!;
  log(`startup: ${STARTUP_REPS} pairs, last: --help ${last.helpS} s ${last.helpKiB} KiB, node -e 0 ${last.nodeS} s ${last.nodeKiB} KiB`);
  for (const size of STARTUP_SIZES) if (fits('full', size)) push(await criuLab('full', size));
}

/** The startup section's tables: the command's start against Node's own, and the controller's peak RSS by heap size. */
function startupReport(L: string[]): void {
  const pairs = raw.startup ?? [];
  L.push(
    '## Startup: `criu-lab --help` against `node -e 0` (paired, alternating; goals: wall ≤ 3×, peak RSS ≤ 80 MiB)',
    '',
    `Commands: \`/usr/bin/time -f '%e %M' ${shown(HELP_ARGV)}\` and \`/usr/bin/time -f '%e %M' ${shown(NODE_ARGV)}\`, ${pairs.length} pairs, each going first in every other pair.`,
    '',
    '| command | median wall s | median peak RSS MiB | runs (wall s) |',
    '| --- | --- | --- | --- |',
  );
  const row = (label: string, wall: number[], kiB: number[]) =>
    L.push(`| ${label} | ${f(median(wall), 3)} | ${f(median(kiB) / 1024, 1)} | ${wall.map((x) => f(x, 2)).join(', ')} |`);
  row(
    'criu-lab --help',
    pairs.map((p) => p.helpS),
    pairs.map((p) => p.helpKiB),
  );
  row(
    'node -e 0',
    pairs.map((p) => p.nodeS),
    pairs.map((p) => p.nodeKiB),
  );
  const wallRatio = median(pairs.map((p) => p.helpS)) / median(pairs.map((p) => p.nodeS));
  const pairRatio = median(pairs.map((p) => p.helpS / p.nodeS));
  L.push(
    '',
    `Ratio of medians (wall): ${f(wallRatio, 2)}; median of pair ratios: ${f(pairRatio, 2)}; peak RSS ratio: ${f(median(pairs.map((p) => p.helpKiB)) / median(pairs.map((p) => p.nodeKiB)), 2)}.`,
    '',
  );
  L.push(
    '## Controller peak RSS of `criu-lab run` (full, rsync; `/usr/bin/time -v` Maximum resident set size; goal ≤ 120 MiB at 8 GiB)',
    '',
    '| heap MiB | runs | peak RSS MiB | downtime s | command |',
    '| --- | --- | --- | --- | --- |',
  );
  for (const size of STARTUP_SIZES) {
    const A = pick('criu-lab', 'full', size);
    L.push(
      `| ${size} | ${A.length} | ${A.map((r) => f((r.rssKiB ?? NaN) / 1024, 1)).join(', ') || 'not run'} | ${A.map((r) => s(r.freezeDowntimeMs ?? NaN)).join(', ')} | \`/usr/bin/time -v node bin/criu-lab.js run --servers ${SERVERS} --workload memory --mb-size ${MB_SIZE} --max-memory ${size} --interval ${INTERVAL} --strategy full --transfer rsync --json --no-tls\` |`,
    );
  }
  L.push('');
}

function machine(): void {
  const out = (cmd: string) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stdout.trim();
  raw.machine = { nproc: out('nproc'), free: out('free -g'), kernel: out('uname -r'), criu: out('criu --version'), node: process.version };
}

function report(): string {
  const phases: (keyof Phases)[] = ['dumpMs', 'transferMs', 'restoreMs', 'downtimeMs'];
  const L: string[] = [];
  L.push('# criu-lab benchmarks', '', `Date: ${raw.date} (session start, UTC). Generated by \`npm run bench\` (bench/run.ts).`, '');
  L.push(
    '## Machine',
    '',
    '```',
    `nproc: ${raw.machine['nproc']}`,
    `uname -r: ${raw.machine['kernel']}`,
    `criu --version: ${raw.machine['criu']}`,
    `node: ${raw.machine['node']}`,
    'free -g:',
    raw.machine['free'] ?? '',
    '```',
    '',
  );
  L.push(
    '## Method',
    '',
    `- Lab: \`criu-lab lab up --name ${LAB}\` (2 namespace nodes n1 → n2 on one bridge, images on the host's ext4). Workload: memory, --mb-size ${MB_SIZE} --interval ${INTERVAL}. Transfer: rsync.`,
    `- A = criu-lab, B = bench/bare-migration.sh (the same CRIU and rsync commands in a plain shell, timed with \`date\` on the node), in the order A B B A A B … so neither always goes first.`,
    `- Before every run: \`${PREPARE}\`, then ${SETTLE_S} s idle. Without it, one and the same \`criu dump\` of 1 GiB wrote its pages in anything from 0.2 s to 2.4 s, whichever tool ran it, faster when the run before had just freed memory. A likely cause (not proven): this machine is a Firecracker guest whose virtio-balloon reports free pages to the host and which runs DAMON pageout, so memory freed a while ago is no longer backed and costs a host fault per page when touched again. Settling gives every run the same start.`,
    `- The dump's page writes: CRIU's \`-v4\` log marks each batch of ~27 MB it writes; the tables give each run's median ms per batch. On this host it sits at levels the host sets (~8 ms into page cache the hypervisor still backs, else ~30, ~40, ~72 or ~90 ms), which occur for criu-lab and the shell alike and change between runs and even within one dump; the level, not the argv, sets the dump's length. How often each tool's runs land on the slow level is in the "Every run" table. The 95 % interval next to each ratio comes from 4,000 bootstrap resamples of each side.`,
    '- Phase times are measured on the nodes. "downtime" in the overhead table is the same for both: start of the `criu dump` command → end of the `criu restore` command. criu-lab\'s own downtime (what it reports: freeze start from CRIU\'s statistics → restored) is in section 3.',
    '',
  );
  if (raw.cut.length) L.push('## What was cut or failed', '', ...raw.cut.map((c) => `- ${c}`), '');
  if (raw.startup) startupReport(L);
  // A startup-only session has nothing for the sections below.
  if (raw.startup && raw.runs.every((r) => STARTUP_SIZES.includes(r.maxMemory) && r.strategy === 'full')) return L.join('\n');

  L.push('## 1. Overhead: criu-lab ÷ plain shell, ratio of medians (1 GiB, unshaped link; goal ≤ 1.05)', '');
  L.push(
    '| strategy | phase | criu-lab median s | bare median s | ratio of medians | its 95 % interval (bootstrap) | median of pair ratios | n (A/B) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const st of ['full', 'pageserver'] as const) {
    const A = pick('criu-lab', st);
    const B = pick('bare', st);
    const row = (label: string, get: (r: RunRecord) => number | undefined, show: (ms: number) => string = s) => {
      const a = median(A.map((r) => get(r) ?? NaN));
      const b = median(B.map((r) => get(r) ?? NaN));
      // The i-th A and i-th B ran next to each other (A B, then B A): their ratio cancels slow drifts of the machine.
      const pairs = median(A.slice(0, B.length).map((r, i) => (get(r) ?? NaN) / (get(B[i]!) ?? NaN)));
      const [low, high] = ratioInterval(A.map((r) => get(r) ?? NaN).filter(Number.isFinite), B.map((r) => get(r) ?? NaN).filter(Number.isFinite));
      L.push(`| ${st} | ${label} | ${show(a)} | ${show(b)} | ${f(a / b, 3)} | ${f(low, 2)}–${f(high, 2)} | ${f(pairs, 3)} | ${A.length}/${B.length} |`);
    };
    for (const p of phases)
      row(p === 'transferMs' ? (st === 'pageserver' ? 'transfer (rest after page stream)' : 'transfer') : p.replace('Ms', ''), (r) => r[p]);
    row('CRIU memwrite_time (inside dump)', (r) => r.memwriteMs);
    // The tool's own share of the downtime: the time between its commands (SSH round trips, lookups).
    row('between the commands (downtime − dump − transfer − restore)', (r) => r.downtimeMs - r.dumpMs - r.transferMs - r.restoreMs);
    row('dump without page writes (dump − memwrite)', (r) => (r.memwriteMs === undefined ? undefined : r.dumpMs - r.memwriteMs));
    row(
      'page-write batch of ~27 MB, median (ms)',
      (r) => r.batchMedianMs,
      (ms) => f(ms, 0),
    );
  }
  L.push('');

  L.push('## 2. Transfer efficiency (1 GiB): throughput ÷ raw iperf3 n1 → n2 in the same session', '');
  L.push("Page server: pages_written × 4 KiB ÷ CRIU's memwrite_time. rsync: bytes moved ÷ the rsync command's time (criu-lab metrics.transfer).", '');
  L.push('| link | iperf3 MiB/s | transfer | median MiB/s | ÷ iperf3 | runs | goal |', '| --- | --- | --- | --- | --- | --- | --- |');
  for (const onLink of ['unshaped', ...SHAPED_PROFILES] as const) {
    const raw3 = iperfMiBps(onLink);
    const row = (label: string, st: 'full' | 'pageserver', goal: string) => {
      const runs = pick('criu-lab', st, 1024, onLink);
      if (!runs.length) return;
      const t = median(runs.map((r) => r.throughputMBps ?? NaN));
      L.push(`| ${onLink} | ${f(raw3, 0)} | ${label} | ${f(t, 0)} | ${f(t / raw3, 3)} | ${runs.length} | ${goal} |`);
    };
    row('rsync (full)', 'full', '≥ 0.5');
    row('page server', 'pageserver', '≥ 0.7');
  }
  const settingRuns = raw.runs.filter((r) => r.setting !== undefined);
  if (settingRuns.length) {
    L.push(
      '',
      'Per transfer setting (section `transfer`): each 1 GiB run (full for rsync, pageserver for the page stream) with the flags in its command; MiB/s as above. The ceiling row is no migration: 1 GiB written by `dd` into the destination page cache after the same settling as a run, no network.',
      '',
      '| link | iperf3 MiB/s | setting | median MiB/s | ÷ iperf3 | runs (MiB/s) | goal | command |',
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    );
    for (const onLink of ['unshaped', ...SHAPED_PROFILES] as const) {
      const raw3 = iperfMiBps(onLink);
      for (const ceiling of (raw.ceilings ?? []).filter((c) => c.link === onLink))
        L.push(
          `| ${onLink} | ${f(raw3, 0)} | ceiling: dd into the destination's page cache | ${f(ceiling.mibps, 0)} | ${f(ceiling.mibps / raw3, 3)} | 1 | | \`${ceiling.command}\` |`,
        );
      for (const setting of TRANSFER_SETTINGS) {
        const runs = settingRuns.filter((r) => r.setting === setting.label && (r.link ?? 'unshaped') === onLink);
        if (!runs.length) continue;
        const t = median(runs.map((r) => r.throughputMBps ?? NaN));
        L.push(
          `| ${onLink} | ${f(raw3, 0)} | ${setting.label} | ${f(t, 0)} | ${f(t / raw3, 3)} | ${runs.map((r) => f(r.throughputMBps ?? NaN, 0)).join(', ')} | ${setting.goal} | \`${runs[0]!.command ?? ''}\` |`,
        );
      }
    }
  }
  L.push('', `iperf3 runs: ${raw.iperf.map((i) => `${i.link} ${i.gbps.toFixed(2)} Gbit/s`).join(', ')}.`, '');
  L.push('Shaping: iperf3 on each profile against its rate in config/profiles.yaml (tc tbf), and the rsync transfer time across zones against within one.', '');
  L.push('| profile | rate Mbit/s | iperf3 Mbit/s | ÷ rate | goal |', '| --- | --- | --- | --- | --- |');
  for (const profile of SHAPED_PROFILES) {
    const rate = bandwidthProfiles().get(profile)?.rateMbit ?? NaN;
    const measured = iperfMBps(profile) * 8;
    L.push(`| ${profile} | ${f(rate, 0)} | ${f(measured, 0)} | ${f(measured / rate, 2)} | 0.70 – 1.04 |`);
  }
  const transferS = (onLink: Link) => median(pick('criu-lab', 'full', 1024, onLink).map((r) => r.transferMs)) / 1000;
  L.push(
    '',
    `rsync transfer, median: cross-az ${f(transferS('cross-az'))} s ÷ same-az ${f(transferS('same-az'))} s = ${f(transferS('cross-az') / transferS('same-az'))} (goal > 1.3).`,
    '',
  );

  L.push('## 3. Downtime, 1 GiB, unshaped link (criu-lab: freeze start → restored process runs; goal for lazy ≤ 1.5 s)', '');
  L.push('| strategy | median downtime s | runs (s) |', '| --- | --- | --- |');
  for (const st of ['full', 'pageserver', 'lazy'] as const) {
    const A = pick('criu-lab', st);
    L.push(`| ${st} | ${s(median(A.map((r) => r.freezeDowntimeMs ?? NaN)))} | ${A.map((r) => s(r.freezeDowntimeMs ?? NaN)).join(', ')} |`);
  }
  L.push('');

  L.push('## 4. Scale: controller peak RSS (`/usr/bin/time -v` Maximum resident set size of `criu-lab run`)', '');
  L.push(
    '| strategy | heap MiB | runs | median peak RSS MiB | median dump s | median transfer s | median restore s | median downtime s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const st of ['full', 'lazy'] as const) {
    for (const size of SIZES) {
      const A = pick('criu-lab', st, size);
      if (!A.length) continue;
      L.push(
        `| ${st} | ${size} | ${A.length} | ${f(median(A.map((r) => (r.rssKiB ?? NaN) / 1024)), 1)} | ${s(median(A.map((r) => r.dumpMs)))} | ${s(median(A.map((r) => r.transferMs)))} | ${s(median(A.map((r) => r.restoreMs)))} | ${s(median(A.map((r) => r.freezeDowntimeMs ?? NaN)))} |`,
      );
    }
  }
  L.push('');
  L.push(
    "## 5. The page stream over TLS (1 GiB, unshaped link): CRIU's --tls with per-run certificates against the same stream in the clear, runs alternating",
    '',
  );
  L.push(
    '| strategy | plain median downtime s | TLS median downtime s | TLS ÷ plain | its 95 % interval (bootstrap) | plain runs (s) | TLS runs (s) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  );
  for (const st of ['pageserver', 'lazy'] as const) {
    const plain = pick('criu-lab', st, 1024, 'unshaped', false).map((r) => r.freezeDowntimeMs ?? NaN);
    const tls = pick('criu-lab', st, 1024, 'unshaped', true).map((r) => r.freezeDowntimeMs ?? NaN);
    if (!tls.length) continue;
    const [low, high] = ratioInterval(tls.filter(Number.isFinite), plain.filter(Number.isFinite));
    L.push(
      `| ${st} | ${s(median(plain))} | ${s(median(tls))} | ${f(median(tls) / median(plain), 3)} | ${f(low, 2)}–${f(high, 2)} | ${plain.map(s).join(', ')} | ${tls.map(s).join(', ')} |`,
    );
  }
  L.push('', '![benchmark plot](plot.png)', '');
  L.push(
    '## Every run',
    '',
    `| # | kind | strategy | link | MiB | dump ms | memwrite ms | page batch median ms | batches < ${FAST_BATCH_MS} ms | transfer ms | restore ms | downtime ms (dump cmd → restore end) | MiB/s | RSS KiB |`,
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  );
  raw.runs.forEach((r, i) =>
    L.push(
      `| ${i + 1} | ${r.kind} | ${r.strategy}${r.tls === undefined ? '' : r.tls ? ' (TLS)' : ' (plain, tls section)'} | ${r.link ?? 'unshaped'} | ${r.maxMemory} | ${f(r.dumpMs, 0)} | ${f(r.memwriteMs ?? NaN, 0)} | ${f(r.batchMedianMs ?? NaN, 0)} | ${r.fastBatches ?? ''} | ${f(r.transferMs, 0)} | ${f(r.restoreMs, 0)} | ${f(r.downtimeMs, 0)} | ${r.throughputMBps === undefined ? '' : f(r.throughputMBps, 0)} | ${r.rssKiB ?? ''} |`,
    ),
  );
  L.push(
    '',
    '## Commands (in order, first occurrence of each)',
    '',
    '```',
    `node bin/criu-lab.js lab up --name ${LAB} --servers ${SERVERS}`,
    `${PREPARE}   # before every run`,
    ...[...new Set(raw.commands)],
    `node bin/criu-lab.js lab down --name ${LAB}`,
    '```',
    '',
  );
  return L.join('\n');
}

function plot(): void {
  const phases: (keyof Phases)[] = ['dumpMs', 'transferMs', 'restoreMs', 'downtimeMs'];
  const ds = (kind: RunRecord['kind'], st: Strategy) => phases.map((p) => median(pick(kind, st).map((r) => r[p])) / 1000);
  const series = (st: Strategy) => SIZES.map((size) => median(pick('criu-lab', st, size).map((r) => (r.rssKiB ?? NaN) / 1024)));
  const chart = readFileSync(join(ROOT, 'node_modules/chart.js/dist/chart.umd.js'), 'utf8');
  const cfg1 = {
    type: 'bar',
    data: {
      labels: ['dump', 'transfer', 'restore', 'downtime'],
      datasets: [
        { label: 'criu-lab full', data: ds('criu-lab', 'full') },
        { label: 'bare full', data: ds('bare', 'full') },
        { label: 'criu-lab pageserver', data: ds('criu-lab', 'pageserver') },
        { label: 'bare pageserver', data: ds('bare', 'pageserver') },
      ],
    },
    options: { animation: false, plugins: { title: { display: true, text: '1 GiB, unshaped: median phase time (s), dump command start → restore end' } } },
  };
  const cfg2 = {
    type: 'line',
    data: {
      labels: SIZES.map(String),
      datasets: [
        { label: 'full + rsync', data: series('full') },
        { label: 'lazy', data: series('lazy') },
      ],
    },
    options: {
      animation: false,
      scales: { y: { beginAtZero: true, title: { display: true, text: 'controller peak RSS (MiB)' } }, x: { title: { display: true, text: 'heap MiB' } } },
      plugins: { title: { display: true, text: 'controller peak RSS vs heap size' } },
    },
  };
  const html = `<!doctype html><html><body style="margin:0;background:#fff"><div style="display:flex"><div style="width:700px;height:450px"><canvas id="a"></canvas></div><div style="width:500px;height:450px"><canvas id="b"></canvas></div></div>
<script>${chart}</script><script>new Chart(document.getElementById('a'),${JSON.stringify(cfg1)});new Chart(document.getElementById('b'),${JSON.stringify(cfg2)});</script></body></html>`;
  const htmlPath = join(OUT, 'plot.html');
  writeFileSync(htmlPath, html);
  const r = spawnSync(
    '/usr/bin/chromium',
    ['--headless', '--no-sandbox', '--disable-gpu', `--screenshot=${join(BENCH, 'plot.png')}`, '--window-size=1200,460', `file://${htmlPath}`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) log(`chromium failed: ${r.stderr.slice(-300)}`);
}

/**
 * Both strategies hold two copies of the heap in anonymous memory at once (the stopped source and
 * the restored process); full's image files are page cache, which can spill to disk.
 */
function fits(strategy: Strategy, maxMemory: number): boolean {
  const needed = 2 * maxMemory * 1024 ** 2 + 2 * GiB;
  spawnSync('sh', ['-c', PREPARE]);
  if (freemem() >= needed) return true;
  raw.cut.push(
    `${strategy} ${maxMemory} MiB not run: ${(needed / GiB).toFixed(1)} GiB of free memory needed for two copies of the heap, ${(freemem() / GiB).toFixed(1)} GiB free.`,
  );
  return false;
}

/** 1 GiB written into the destination's page cache right after the settling every run gets: what any transfer that lands in files there can reach at most. */
async function pageCacheCeiling(): Promise<void> {
  await prepare();
  const target = '/tmp/bn-ceiling.img';
  const argv = ['ip', 'netns', 'exec', `${LAB}-n2`, 'dd', 'if=/dev/zero', `of=${target}`, 'bs=1M', 'count=1024', 'status=none'];
  const startedAt = process.hrtime.bigint();
  await sh(argv);
  const seconds = Number(process.hrtime.bigint() - startedAt) / 1e9;
  rmSync(target, { force: true });
  const mibps = 1024 / seconds;
  (raw.ceilings ??= []).push({ link, mibps, command: shown(argv) });
  log(`page-cache ceiling (${link}): ${mibps.toFixed(0)} MiB/s`);
}

/**
 * The transfer section: on the unshaped link, then each profile, the ceiling and one run per
 * setting (on the profiles only the default, the fastest rsync and the page server), BENCH_TRANSFER_REPS rounds.
 */
async function transferSection(src: string, dst: string): Promise<void> {
  for (const profile of ['unshaped', ...SHAPED_PROFILES] as const) {
    if (profile !== 'unshaped') {
      const shaped = await sh(['node', 'bin/criu-lab.js', 'lab', 'up', '--name', LAB, '--servers', SERVERS, '--profile', profile]);
      if (shaped.code !== 0) throw new Error(`shaping the lab with ${profile} failed: ${shaped.stderr}`);
    }
    link = profile;
    await iperf(src, dst);
    await pageCacheCeiling();
    for (let i = 0; i < TRANSFER_REPS; i++)
      for (const setting of TRANSFER_SETTINGS.filter((t) => profile === 'unshaped' || t.shaped))
        push(await criuLab(setting.strategy, 1024, undefined, setting));
    await iperf(src, dst);
  }
}

/** Each profile in turn: every node link shaped with tc tbf to AWS's figure ÷ 20 (config/profiles.yaml). */
async function shapedSection(src: string, dst: string): Promise<void> {
  for (const profile of SHAPED_PROFILES) {
    const shaped = await sh(['node', 'bin/criu-lab.js', 'lab', 'up', '--name', LAB, '--servers', SERVERS, '--profile', profile]);
    if (shaped.code !== 0) throw new Error(`shaping the lab with ${profile} failed: ${shaped.stderr}`);
    link = profile;
    await iperf(src, dst);
    for (let i = 0; i < SHAPED_REPS; i++) {
      push(await criuLab('full', 1024));
      push(await criuLab('pageserver', 1024));
    }
    await iperf(src, dst);
  }
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
    if (SECTIONS.has('startup')) await startupSection();
    if (SECTIONS.has('iperf')) await iperf(src, dst);
    for (const st of SECTIONS.has('overhead') ? (['full', 'pageserver'] as const) : []) {
      for (let i = 0; i < REPS; i++) {
        // A B B A A B …: each tool goes first half the time.
        if (i % 2 === 0) {
          push(await criuLab(st, 1024));
          push(await bare(st, 1024));
        } else {
          push(await bare(st, 1024));
          push(await criuLab(st, 1024));
        }
      }
    }
    for (let i = 0; SECTIONS.has('lazy') && i < LAZY_REPS; i++) push(await criuLab('lazy', 1024));
    for (const size of SECTIONS.has('scale') ? SIZES.filter((x) => x !== 1024) : []) {
      if (fits('full', size)) push(await criuLab('full', size));
      if (fits('lazy', size)) push(await criuLab('lazy', size));
    }
    for (let i = 0; SECTIONS.has('tls') && i < TLS_REPS; i++) {
      for (const st of ['pageserver', 'lazy'] as const) {
        // Plain first on even rounds, TLS first on odd ones.
        for (const tls of i % 2 === 0 ? [false, true] : [true, false]) push(await criuLab(st, 1024, tls));
      }
    }
    if (SECTIONS.has('iperf')) await iperf(src, dst);
    // Before shaped: it leaves the last profile on the links, and shaped sets its own.
    if (SECTIONS.has('transfer')) await transferSection(src, dst);
    if (SECTIONS.has('shaped')) await shapedSection(src, dst);
    push(undefined);
  } finally {
    // The plot is of the full results (sizes, overhead); a partial report goes without it.
    if (RESULTS === 'results.md') plot();
    writeFileSync(join(BENCH, RESULTS), report());
    labDown();
  }
  log(`wrote ${join(BENCH, RESULTS)}`);
}

main().catch((error: unknown) => {
  log(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
});
