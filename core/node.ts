// The Node seam: everything the pipeline does on a machine goes through this interface,
// so a node is "an address we can run argv arrays on", whether lab namespace or EC2.

/** One finished command on a node: the same shape for success and failure. */
export interface CommandResult {
  readonly node: string;
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Measured by the controller around the SSH round trip. */
  readonly durationMs: number;
  /** Measured on the node itself (epoch ms of its clock), when the command ran with `timed`. */
  readonly nodeTiming?: { readonly startedAtMs: number; readonly durationMs: number };
}

/** Which end of a migration a node is. */
export type Role = 'source' | 'destination';

export interface RunOptions {
  /** Fail with ExternalError on a non-zero exit (default true). */
  readonly check?: boolean;
  /** Give up after this long; the remote command is then left to cleanup. */
  readonly timeoutMs?: number;
  /** Time the command on the node's own clock (start and duration). */
  readonly timed?: boolean;
  /** Detach stdio from the SSH channel, for `setsid -f` starts: true sends output to /dev/null, a path appends it there. */
  readonly detachStdio?: boolean | string;
  /** Names the step in errors ("dump", "transfer", ...). */
  readonly step?: string;
  /**
   * Running it twice does no harm (a read, `mkdir -p`, `rm -rf`, `pkill`): on a dropped
   * connection it is retried on a new one, with backoff. Default false: a dropped connection
   * during a dump, a transfer or a start is an error, since the first attempt may have done part of it.
   */
  readonly idempotent?: boolean;
  readonly signal?: AbortSignal;
  /**
   * Run as the SSH user even when commands go through sudo (nodes.ssh_user is not root): for what
   * belongs to that user, such as its own authorized_keys. Default false: as root.
   */
  readonly asUser?: boolean;
}

export interface RemoteNode {
  readonly name: string;
  readonly ip: string;
  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult>;
  writeFile(remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
  readFile(remotePath: string): Promise<Buffer>;
  upload(localPath: string, remotePath: string, mode?: number): Promise<void>;
  download(remotePath: string, localPath: string): Promise<void>;
  /** The node's SSH host key as OpenSSH `type base64`, as verified at connect. */
  readonly hostKey: string | undefined;
  close(): Promise<void>;
}
