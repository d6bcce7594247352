// What /proc on a node says about a workload's process tree: its PIDs, the regular files it
// holds open, and counters that grow while it runs. Every read is a plain argv (ps, find, cat).
import type { RemoteNode } from '../core/node.js';

export interface TreeProcess {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
}

/** `ps -e -o pid=,ppid=,comm=` lines → processes. */
export function parsePs(output: string): TreeProcess[] {
  return output
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*?)\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), comm: m[3]! }));
}

/** The root and all its descendants, root first, then in PID order. */
export function descendants(processes: readonly TreeProcess[], root: number): TreeProcess[] {
  const tree = processes.filter((p) => p.pid === root);
  for (let i = 0; i < tree.length; i++) tree.push(...processes.filter((p) => p.ppid === tree[i]!.pid).sort((a, b) => a.pid - b.pid));
  return tree;
}

export async function processTree(node: RemoteNode, root: number): Promise<TreeProcess[]> {
  const ps = await node.run(['ps', '-e', '-o', 'pid=,ppid=,comm='], { check: false, step: 'process tree' });
  return descendants(parsePs(ps.stdout), root);
}

/** The regular files the processes hold open (`find -xtype f` skips sockets, pipes, devices' links and deleted files, which CRIU keeps in the images). */
export async function openRegularFiles(node: RemoteNode, pids: readonly number[]): Promise<string[]> {
  if (pids.length === 0) return [];
  const found = await node.run(['find', ...pids.map((pid) => `/proc/${pid}/fd`), '-maxdepth', '1', '-xtype', 'f', '-printf', '%l\\n'], {
    check: false,
    step: 'open files',
  });
  return [...new Set(found.stdout.split('\n').filter((line) => line.startsWith('/')))].sort();
}

/** Open files that do not travel on their own: outside every directory that is moved anyway, and not kernel files. */
export function filesToMove(open: readonly string[], movedDirs: readonly string[]): string[] {
  const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir.replace(/\/$/, '')}/`);
  return open.filter((path) => !['/dev', '/proc', '/sys', ...movedDirs].some((dir) => inside(path, dir)));
}

/** Counters that only grow while a process is scheduled: CPU ticks and context switches, summed over a tree. */
export interface Activity {
  readonly cpuTicks: number;
  readonly contextSwitches: number;
  /** One letter per process (R, S, T, Z, ...), as /proc/<pid>/stat says. */
  readonly states: readonly string[];
}

/** Sums `/proc/<pid>/stat` utime+stime and `/proc/<pid>/status` context switches over the output of `cat` on them. */
export function parseActivity(statLines: string): Activity {
  let cpuTicks = 0;
  let contextSwitches = 0;
  const states: string[] = [];
  for (const line of statLines.split('\n')) {
    // The command name may hold spaces and parentheses; the fields after its last ')' are fixed.
    const stat = /^\d+ \(.*\) (\S) (.*)$/.exec(line);
    if (stat) {
      const fields = stat[2]!.split(' ');
      // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state.
      cpuTicks += Number(fields[10]) + Number(fields[11]);
      states.push(stat[1]!);
    }
    const switches = /^(?:non)?voluntary_ctxt_switches:\s+(\d+)/.exec(line);
    if (switches) contextSwitches += Number(switches[1]);
  }
  return { cpuTicks, contextSwitches, states };
}

export async function treeActivity(node: RemoteNode, pids: readonly number[]): Promise<Activity> {
  if (pids.length === 0) return { cpuTicks: 0, contextSwitches: 0, states: [] };
  const read = await node.run(['cat', ...pids.flatMap((pid) => [`/proc/${pid}/stat`, `/proc/${pid}/status`])], { check: false, step: 'activity' });
  return parseActivity(read.stdout);
}

/** Sums the VmRSS lines of `/proc/<pid>/status` files, in KiB (a process that has gone contributes none). */
export function parseRssKb(statusLines: string): number {
  return [...statusLines.matchAll(/^VmRSS:\s+(\d+) kB/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** The resident memory of a process and all its descendants, in MiB. */
export async function treeRssMb(node: RemoteNode, root: number): Promise<number> {
  const pids = (await processTree(node, root)).map((p) => p.pid);
  if (pids.length === 0) return 0;
  const read = await node.run(['cat', ...pids.map((pid) => `/proc/${pid}/status`)], { check: false, idempotent: true, step: 'rss' });
  return parseRssKb(read.stdout) / 1024;
}

/** Total size of files on a node (missing ones count 0). */
export async function fileBytes(node: RemoteNode, paths: readonly string[]): Promise<number> {
  if (paths.length === 0) return 0;
  const sizes = await node.run(['stat', '-L', '-c', '%s', ...paths], { check: false, step: 'file sizes' });
  return sizes.stdout.split('\n').reduce((sum, line) => sum + (Number(line) || 0), 0);
}
