// What a node must offer for a migration with CRIU, one preflight row per check: what was
// found and, when it falls short, what to change. Strategies pick the rows they need.
import type { Plan } from '../config/plan.js';
import type { CommandResult, RemoteNode } from '../../core/node.js';
import { tail } from '../remote/ssh.js';
import { ms } from '../run-context.js';
import { CRIU, cpuinfoCheckArgv, cpuinfoDumpArgv, featureCheckArgv, parseCriuVersion } from './commands.js';

export interface PreflightRow {
  /** The node checked, or "n1 → n2" for a check across both. */
  readonly node: string;
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
  /** What to change; set on failing rows. */
  readonly fix?: string;
}

export interface CheckContext {
  readonly plan: Plan;
  readonly signal: AbortSignal;
}

const GIB = 1024 ** 3;
/** Below this a node cannot hold the image of even a small workload; the real need (the process's RSS) is checked again before the freeze. */
const MIN_FREE_BYTES = GIB / 4;
/** What scripts/setup-host.sh sets: lazy pages move large ranges through pipes, and CRIU lacks CAP_SYS_RESOURCE to raise the limits itself. */
const PIPE_MAX_SIZE = 64 * 1024 * 1024;

export function row(node: string, check: string, ok: boolean, detail: string, fix: string): PreflightRow {
  return ok ? { node, check, ok, detail } : { node, check, ok, detail, fix };
}

function probe(node: RemoteNode, ctx: CheckContext, argv: readonly string[]): Promise<CommandResult> {
  return node.run(argv, { check: false, timeoutMs: ms(ctx.plan.timeouts.commandS), signal: ctx.signal, step: 'preflight' });
}

const said = (result: CommandResult) => tail(`${result.stdout}\n${result.stderr}`.trim(), 3).replace(/\n/g, ' | ') || `exit ${result.exitCode}`;
const setupHint = (node: RemoteNode) => `run scripts/setup-host.sh on ${node.name}`;

/** A user other than root needs passwordless sudo: every command of a run goes through `sudo -n`. */
export async function sudoRow(node: RemoteNode, ctx: CheckContext): Promise<PreflightRow> {
  const user = ctx.plan.nodes.sshUser;
  const result = await node.run(['sudo', '-n', 'true'], {
    check: false,
    timeoutMs: ms(ctx.plan.timeouts.commandS),
    signal: ctx.signal,
    step: 'preflight',
    asUser: true,
  });
  return row(
    node.name,
    'sudo',
    result.exitCode === 0,
    result.exitCode === 0 ? `${user} runs commands as root with \`sudo -n\`` : `${user} cannot run \`sudo -n true\`: ${said(result)}`,
    `allow ${user} passwordless sudo on ${node.name} (e.g. \`echo '${user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/criu-lab\` as root, with sudo installed), or set nodes.ssh_user: root`,
  );
}

/** CRIU installed and `criu check` passing; returns the version for the cross-node comparison. */
export async function criuRows(node: RemoteNode, ctx: CheckContext): Promise<{ readonly version: string | undefined; readonly rows: PreflightRow[] }> {
  const [version, check] = await Promise.all([probe(node, ctx, [CRIU, '--version']), probe(node, ctx, [CRIU, 'check'])]);
  const parsed = version.exitCode === 0 ? parseCriuVersion(version.stdout) : undefined;
  return {
    version: parsed,
    rows: [
      row(
        node.name,
        'criu',
        parsed !== undefined,
        parsed ? `version ${parsed}` : `not found or not runnable: ${said(version)}`,
        `${setupHint(node)} (it builds CRIU 4.2.1)`,
      ),
      row(
        node.name,
        'criu check',
        check.exitCode === 0,
        check.exitCode === 0 ? 'Looks good.' : said(check),
        `fix what \`criu check\` reports on ${node.name}; ${setupHint(node)}`,
      ),
    ],
  };
}

export function sameVersionRow(source: RemoteNode, destination: RemoteNode, versions: readonly [string | undefined, string | undefined]): PreflightRow {
  const [onSource, onDestination] = versions;
  const ok = onSource !== undefined && onSource === onDestination;
  return row(
    `${source.name} → ${destination.name}`,
    'same CRIU version',
    ok,
    ok ? `${onSource} on both` : `${onSource ?? 'none'} on ${source.name}, ${onDestination ?? 'none'} on ${destination.name}`,
    'install the same CRIU version on both nodes (scripts/setup-host.sh)',
  );
}

/** `criu check --feature <name>`: exit 0 when the kernel supports it. */
export async function featureRow(node: RemoteNode, ctx: CheckContext, feature: string, check: string, missing: string, fix: string): Promise<PreflightRow> {
  const result = await probe(node, ctx, featureCheckArgv(feature));
  return row(
    node.name,
    check,
    result.exitCode === 0,
    result.exitCode === 0 ? `criu check --feature ${feature}: supported` : `${missing} (criu check --feature ${feature}: ${said(result)})`,
    fix,
  );
}

/** Pre-dumps find the pages written since the last round through the kernel's soft-dirty bits. */
export function softDirtyRow(node: RemoteNode, ctx: CheckContext): Promise<PreflightRow> {
  return featureRow(
    node,
    ctx,
    'mem_dirty_track',
    'soft-dirty tracking',
    `the kernel of ${node.name} has no soft-dirty memory tracking (CONFIG_MEM_SOFT_DIRTY), so \`criu pre-dump\` cannot work there`,
    "choose another strategy on these nodes (--strategy full, pageserver or lazy), or run on a kernel built with CONFIG_MEM_SOFT_DIRTY=y (Ubuntu's and Debian's stock kernels are)",
  );
}

/** The lazy-pages daemon and the restore hand page faults over through userfaultfd. */
export function uffdRows(node: RemoteNode, ctx: CheckContext): Promise<PreflightRow[]> {
  const fix = `use a kernel with CONFIG_USERFAULTFD=y on ${node.name} (and vm.unprivileged_userfaultfd or root), or choose --strategy full or pageserver`;
  return Promise.all([
    featureRow(node, ctx, 'uffd', 'userfaultfd', `${node.name} has no userfaultfd, so lazy pages cannot be restored there`, fix),
    featureRow(node, ctx, 'uffd-noncoop', 'userfaultfd non-cooperative', `${node.name}'s userfaultfd lacks the non-cooperative events lazy restore needs`, fix),
  ]);
}

/** A lazy dump keeps the pages in pipes until they are served; without these sysctls it fails with "page-pipe: tee". */
export async function pipeSysctlsRow(node: RemoteNode, ctx: CheckContext): Promise<PreflightRow> {
  const result = await probe(node, ctx, ['cat', '/proc/sys/fs/pipe-max-size', '/proc/sys/fs/pipe-user-pages-soft']);
  const [maxSize, softPages] = result.stdout.trim().split(/\s+/).map(Number);
  const ok = result.exitCode === 0 && (maxSize ?? 0) >= PIPE_MAX_SIZE && softPages === 0;
  return row(
    node.name,
    'pipe sysctls',
    ok,
    `fs.pipe-max-size ${maxSize ?? '?'}, fs.pipe-user-pages-soft ${softPages ?? '?'}${ok ? '' : ` (lazy pages need ≥ ${PIPE_MAX_SIZE} and 0)`}`,
    `${setupHint(node)}, or: sysctl -w fs.pipe-max-size=${PIPE_MAX_SIZE} fs.pipe-user-pages-soft=0`,
  );
}

/** Nothing may listen on the port a page server (or a lazy dump) is about to open. */
export async function portFreeRow(node: RemoteNode, ctx: CheckContext, port: number, purpose: string): Promise<PreflightRow> {
  const result = await probe(node, ctx, ['ss', '-H', '-l', '-t', '-n', '-p', 'sport', '=', `:${port}`]);
  if (result.exitCode !== 0)
    return row(node.name, `port ${port} free`, false, `cannot list listening sockets: ${said(result)}`, `install iproute2 (ss) on ${node.name}`);
  const listener = result.stdout.trim();
  return row(
    node.name,
    `port ${port} free`,
    listener === '',
    listener === '' ? `nothing listens on ${port} (${purpose})` : `taken: ${listener.split('\n')[0]}`,
    `stop what listens on ${port} on ${node.name}, or set checkpoint.strategy.page_server_port to another port (AWS security groups open 27000-27099 between nodes)`,
  );
}

/** `--tcp-established` workloads: TCP repair (in `criu check`) plus iptables, with which CRIU locks the connection during the move. */
export async function tcpRepairRow(node: RemoteNode, ctx: CheckContext): Promise<PreflightRow> {
  const [feature, iptables] = await Promise.all([
    probe(node, ctx, featureCheckArgv('tcp_half_closed')),
    probe(node, ctx, ['sh', '-c', 'command -v iptables-restore']),
  ]);
  const ok = feature.exitCode === 0 && iptables.exitCode === 0;
  const detail =
    feature.exitCode !== 0
      ? `TCP repair incomplete: ${said(feature)}`
      : iptables.exitCode !== 0
        ? 'iptables-restore not found (CRIU locks the connection with it)'
        : 'TCP repair and iptables-restore present';
  return row(node.name, 'TCP repair', ok, detail, `install iptables on ${node.name} and use a kernel with TCP repair (CONFIG_CHECKPOINT_RESTORE)`);
}

/** Bytes free in the filesystem that holds `dir` (or its nearest existing parent). */
export async function availableBytes(node: RemoteNode, ctx: CheckContext, dir: string): Promise<number | undefined> {
  const result = await probe(node, ctx, ['sh', '-c', 'd=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -P -B1 "$d" | tail -n 1', 'sh', dir]);
  const available = Number(result.stdout.trim().split(/\s+/)[3]);
  return result.exitCode === 0 && Number.isFinite(available) ? available : undefined;
}

export async function diskRow(node: RemoteNode, ctx: CheckContext, dir: string): Promise<PreflightRow> {
  const free = await availableBytes(node, ctx, dir);
  const ok = free !== undefined && free >= MIN_FREE_BYTES;
  return row(
    node.name,
    'free disk',
    ok,
    free === undefined
      ? `cannot read the free space under ${dir}`
      : `${(free / GIB).toFixed(1)} GiB under ${dir} (checked against the process's RSS before the freeze)`,
    `free space under ${dir} on ${node.name}, or point the image directory elsewhere (checkpoint.dirs.checkpoint_dir / transfer.dest_dir)`,
  );
}

/** The destination must accept the source's CPU state: `criu cpuinfo dump` there, `criu cpuinfo check` here. */
export async function cpuinfoRow(source: RemoteNode, destination: RemoteNode, ctx: CheckContext): Promise<PreflightRow> {
  const name = `${source.name} → ${destination.name}`;
  const fix = `migrate between nodes of the same CPU family (instance type), or pass a --cpu-cap that both accept`;
  const tempDir = ['mktemp', '-d', '/tmp/criu-lab-cpuinfo.XXXXXX'];
  const [onSource, onDestination] = await Promise.all([probe(source, ctx, tempDir), probe(destination, ctx, tempDir)]);
  const sourceDir = onSource.stdout.trim();
  const destinationDir = onDestination.stdout.trim();
  try {
    if (onSource.exitCode !== 0 || onDestination.exitCode !== 0)
      return row(
        name,
        'cpuinfo',
        false,
        `cannot make a scratch directory in /tmp: ${said(onSource.exitCode !== 0 ? onSource : onDestination)}`,
        'make /tmp writable on both nodes',
      );
    const dump = await probe(source, ctx, cpuinfoDumpArgv(sourceDir));
    if (dump.exitCode !== 0) return row(name, 'cpuinfo', false, `criu cpuinfo dump failed on ${source.name}: ${said(dump)}`, fix);
    await destination.writeFile(`${destinationDir}/cpuinfo.img`, await source.readFile(`${sourceDir}/cpuinfo.img`));
    const check = await probe(destination, ctx, cpuinfoCheckArgv(destinationDir));
    return row(
      name,
      'cpuinfo',
      check.exitCode === 0,
      check.exitCode === 0
        ? `${destination.name} accepts the CPU state of ${source.name}`
        : `criu cpuinfo check on ${destination.name} refuses ${source.name}'s CPU: ${said(check)}`,
      fix,
    );
  } finally {
    await Promise.all([
      sourceDir ? probe(source, ctx, ['rm', '-rf', sourceDir]) : undefined,
      destinationDir ? probe(destination, ctx, ['rm', '-rf', destinationDir]) : undefined,
    ]);
  }
}

/** CRIU restores the same PID, so the destination needs a PID namespace of its own: another machine, or (in the lab) another namespace. */
export async function pidNamespaceRow(source: RemoteNode, destination: RemoteNode, ctx: CheckContext): Promise<PreflightRow> {
  const identity = ['sh', '-c', 'cat /proc/sys/kernel/random/boot_id && readlink /proc/self/ns/pid'];
  const [onSource, onDestination] = await Promise.all([probe(source, ctx, identity), probe(destination, ctx, identity)]);
  const [sourceBoot, sourcePidNs] = onSource.stdout.trim().split('\n');
  const [destinationBoot, destinationPidNs] = onDestination.stdout.trim().split('\n');
  const name = `${source.name} → ${destination.name}`;
  const fix = 'restore into a PID namespace of its own: another machine, or a lab node (`criu-lab lab up` gives each node one)';
  if (onSource.exitCode !== 0 || onDestination.exitCode !== 0)
    return row(name, 'PID namespace', false, `cannot read boot id and PID namespace: ${said(onSource.exitCode !== 0 ? onSource : onDestination)}`, fix);
  if (sourceBoot !== destinationBoot) return row(name, 'PID namespace', true, 'separate machines', fix);
  const ok = sourcePidNs !== destinationPidNs;
  return row(
    name,
    'PID namespace',
    ok,
    ok
      ? `one kernel, separate PID namespaces (${sourcePidNs} and ${destinationPidNs})`
      : `both nodes are in ${sourcePidNs}: the restore would fail with "Can't fork for <pid>: File exists"`,
    fix,
  );
}
