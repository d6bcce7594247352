// argv builders for the CRIU calls, in one place so strategies share flags and log names.

export const CRIU = 'criu';

export interface DumpOptions {
  readonly pid: number | string;
  readonly imageDir: string;
  readonly logFile: string;
  readonly leaveStopped: boolean;
  readonly extraFlags: readonly string[];
}

/** `criu dump`: a shell job is not involved (payloads start under setsid), so no --shell-job. */
export function dumpArgv(options: DumpOptions): string[] {
  return [
    CRIU, 'dump', '--tree', String(options.pid), '--images-dir', options.imageDir,
    '--log-file', options.logFile, '-v4',
    ...(options.leaveStopped ? ['--leave-stopped'] : []),
    ...options.extraFlags,
  ];
}

export interface RestoreOptions {
  readonly imageDir: string;
  readonly logFile: string;
  readonly extraFlags: readonly string[];
}

/** `criu restore --restore-detached`: CRIU returns once the tree runs, reparented to the node's init. */
export function restoreArgv(options: RestoreOptions): string[] {
  return [CRIU, 'restore', '--images-dir', options.imageDir, '--log-file', options.logFile, '-v4', '--restore-detached', ...options.extraFlags];
}

/** Parses `criu --version` output ("Version: 4.2.1"). */
export function parseCriuVersion(output: string): string | undefined {
  return /^Version:\s*(\S+)/m.exec(output)?.[1];
}
