// The Node seam over ssh2: argv commands quoted by quoteArgv, SFTP for files, an optional
// jump host (the bastion) through forwardOut, and pinned host keys. Every call has a timeout;
// a dropped connection is re-made with backoff, and only idempotent steps are retried on it.
import { readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { AbortedError, ExternalError } from '../../core/errors.js';
import type { CommandResult, RemoteNode, RunOptions } from '../../core/node.js';
import { formatHostKey, type KnownHosts } from './known-hosts.js';
import { quoteArg, quoteArgv } from '../../core/quote.js';

export interface SshEndpoint {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly user: string;
}

export interface SshTarget extends SshEndpoint {
  /** The key to authenticate with, or else the ssh-agent socket holding it (an encrypted key). */
  readonly privateKey?: Buffer;
  readonly agent?: string;
  /** The pinned host keys, or an explicit choice to accept any key (--trust-unknown-host-keys). */
  readonly knownHosts: KnownHosts | 'trust-unknown';
  /** Reach the node through this host (ssh -J). */
  readonly bastion?: SshEndpoint;
  readonly connectTimeoutMs?: number;
  /** For a command or file operation that names no timeout of its own. @default 60 s */
  readonly defaultTimeoutMs?: number;
  /** Reconnects tried after a dropped connection, 0.5 s, 1 s, 2 s, … apart. @default 4 */
  readonly reconnectAttempts?: number;
  /** Told about each dropped connection and reconnect (the run shows it as progress). */
  readonly onReconnect?: (message: string) => void;
  /**
   * The user is not root: every command runs through `sudo -n --` (unless it asks for `asUser`),
   * and files are read and written through `sudo` too, since the run's directories belong to root.
   */
  readonly sudo?: boolean;
  /** Told about every finished command (logging.level debug). */
  readonly onCommand?: (result: CommandResult) => void;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const RECONNECT_BASE_MS = 500;
/** How long a channel that closed without an exit status waits for the connection's own close. */
const LOSS_GRACE_MS = 1_000;

/** The connection under a command or file operation went away (internal: turned into an ExternalError by `attempt`). */
class ConnectionLost extends Error {}

interface Link {
  readonly client: Client;
  readonly jump: Client | undefined;
  readonly hostKey: string;
}

/** The address did not answer at all (refused, no route, timed out before the handshake): a wrong address, not a broken node. */
export class UnreachableNodeError extends ExternalError {
  constructor(
    readonly endpoint: SshEndpoint,
    readonly reason: string,
  ) {
    super(`cannot reach ${endpoint.name} at ${endpoint.ip}:${endpoint.port}: ${reason}`, { node: endpoint.name, step: 'connect' });
    this.name = 'UnreachableNodeError';
  }
}

const OUTPUT_LIMIT_BYTES = 4 * 1024 * 1024;
const TIMING_MARK = 'criu-lab-timing';

/** Keeps at most the last `limit` bytes of a stream, so a chatty command cannot exhaust memory. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit = OUTPUT_LIMIT_BYTES) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  toString(): string {
    return this.bytes().toString('utf8');
  }
}

/** What only file operations through sudo give a command: bytes on its stdin, and its stdout whole and as bytes. */
interface RawIo {
  readonly input?: Buffer;
  readonly onStdout?: (stdout: Buffer) => void;
}

/** A command line as the node's shell runs it: through `sudo -n` as root when the user is not root. */
export function asRoot(command: string): string {
  return `sudo -n -- sh -c ${quoteArg(command)}`;
}

function connectClient(config: ConnectConfig, endpoint: SshEndpoint, knownHosts: SshTarget['knownHosts']): Promise<{ client: Client; hostKey: string }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKey = '';
    let rejectedKey = '';
    client.on('ready', () => {
      // Without TCP_NODELAY every command after the first waits ~40 ms (Nagle's algorithm meets the
      // server's delayed ACK): 45 ms instead of 3 ms per command on the lab, in the downtime too.
      client.setNoDelay(true);
      resolve({ client, hostKey });
    });
    // A server that drops the connection during the handshake emits no error; without this the connect would wait for readyTimeout.
    client.on('close', () =>
      reject(
        new ExternalError(`cannot connect to ${endpoint.name} (${endpoint.user}@${endpoint.ip}:${endpoint.port}): the connection closed during the handshake`, {
          node: endpoint.name,
          step: 'connect',
        }),
      ),
    );
    client.on('error', (error: Error & { level?: string }) => {
      if (!rejectedKey && (error.level === 'client-socket' || error.level === 'client-timeout'))
        return reject(new UnreachableNodeError(endpoint, error.message));
      const reason = rejectedKey
        ? `host key ${rejectedKey.slice(0, 40)}… is not the one pinned for ${endpoint.ip}; if the node was recreated, run \`criu-lab lab up\` (or redeploy) to record its new key`
        : error.message;
      reject(
        new ExternalError(`cannot connect to ${endpoint.name} (${endpoint.user}@${endpoint.ip}:${endpoint.port}): ${reason}`, {
          node: endpoint.name,
          step: 'connect',
        }),
      );
    });
    client.connect({
      ...config,
      hostVerifier: (key: Buffer) => {
        hostKey = formatHostKey(key);
        if (knownHosts === 'trust-unknown' || knownHosts.matches(endpoint.ip, hostKey)) return true;
        rejectedKey = hostKey;
        return false;
      },
    });
  });
}

export class SshNode implements RemoteNode {
  private sftpSession: Promise<SFTPWrapper> | undefined;
  private client!: Client;
  private jump: Client | undefined;
  /** Resolves when the current connection closes. */
  private closed!: Promise<void>;
  private lost = false;
  private closing = false;
  private reconnecting: Promise<void> | undefined;
  readonly hostKey: string;
  /** One line per dropped connection and reconnect, for the results. */
  readonly reconnects: string[] = [];

  private constructor(
    private readonly target: SshTarget,
    link: Link,
  ) {
    this.hostKey = link.hostKey;
    this.adopt(link);
  }

  private adopt(link: Link): void {
    this.client = link.client;
    this.jump = link.jump;
    this.lost = false;
    this.sftpSession = undefined;
    // Every operation in flight listens for the connection's close (collecting logs runs a dozen at once).
    link.client.setMaxListeners(64);
    this.closed = new Promise((resolve) =>
      link.client.once('close', () => {
        if (this.client === link.client) this.lost = true;
        resolve();
      }),
    );
  }

  get name(): string {
    return this.target.name;
  }
  get ip(): string {
    return this.target.ip;
  }

  static async connect(target: SshTarget): Promise<SshNode> {
    return new SshNode(target, await SshNode.open(target));
  }

  private static async open(target: SshTarget): Promise<Link> {
    const common = { privateKey: target.privateKey, agent: target.agent, readyTimeout: target.connectTimeoutMs ?? 15_000, keepaliveInterval: 10_000 };
    if (!target.bastion) {
      const { client, hostKey } = await connectClient({ ...common, host: target.ip, port: target.port, username: target.user }, target, target.knownHosts);
      return { client, jump: undefined, hostKey };
    }
    const bastion = target.bastion;
    const jump = await connectClient({ ...common, host: bastion.ip, port: bastion.port, username: bastion.user }, bastion, target.knownHosts);
    try {
      const sock = await new Promise<ClientChannel>((resolve, reject) =>
        jump.client.forwardOut('127.0.0.1', 0, target.ip, target.port, (error, stream) =>
          error
            ? reject(
                new ExternalError(`bastion ${bastion.name} cannot reach ${target.name} (${target.ip}:${target.port}): ${error.message}`, {
                  node: target.name,
                  step: 'connect',
                }),
              )
            : resolve(stream),
        ),
      );
      const { client, hostKey } = await connectClient({ ...common, sock, username: target.user }, target, target.knownHosts);
      return { client, jump: jump.client, hostKey };
    } catch (error) {
      jump.client.end();
      throw error;
    }
  }

  /** A new connection in place of a dropped one; concurrent callers share it. It must present the same host key. */
  private reconnect(): Promise<void> {
    this.reconnecting ??= (async () => {
      const attempts = this.target.reconnectAttempts ?? 4;
      let lastError: unknown;
      for (let attempt = 0; attempt < attempts; attempt++) {
        await sleep(RECONNECT_BASE_MS * 2 ** attempt);
        try {
          const link = await SshNode.open(this.target);
          if (link.hostKey !== this.hostKey) {
            link.client.end();
            link.jump?.end();
            throw new ExternalError(`${this.name} answered a reconnect with another host key than at connect`, { node: this.name, step: 'reconnect' });
          }
          this.jump?.end();
          this.adopt(link);
          this.note(`reconnected to ${this.name} (attempt ${attempt + 1})`);
          return;
        } catch (error) {
          lastError = error;
        }
      }
      throw new ExternalError(`the connection to ${this.name} dropped and ${attempts} reconnects failed: ${(lastError as Error).message}`, {
        node: this.name,
        step: 'reconnect',
      });
    })().finally(() => {
      this.reconnecting = undefined;
    });
    return this.reconnecting;
  }

  private note(message: string): void {
    this.reconnects.push(message);
    this.target.onReconnect?.(message);
  }

  /** True when a failure without a status came from the connection going away (its close may trail the channel's by a moment). */
  private async droppedUnder(client: Client): Promise<boolean> {
    if (this.closing) return false;
    if (this.client === client && !this.lost) await Promise.race([this.closed, sleep(LOSS_GRACE_MS)]);
    return this.lost || this.client !== client;
  }

  /**
   * Runs one remote operation on a live connection (re-made first if it dropped earlier); when the
   * connection drops under it, an idempotent operation is retried on a new one, any other fails.
   */
  private async attempt<T>(what: { step: string; command?: string; idempotent: boolean }, work: () => Promise<T>): Promise<T> {
    for (let drops = 0; ; drops++) {
      if (drops > (this.target.reconnectAttempts ?? 4))
        throw new ExternalError(`the connection to ${this.name} dropped ${drops} times during ${what.step}; giving up`, {
          node: this.name,
          step: what.step,
          command: what.command,
        });
      if (this.lost && !this.closing) await this.reconnect();
      try {
        return await work();
      } catch (error) {
        if (!(error instanceof ConnectionLost)) throw error;
        // Closed by this controller (a failing cleanup step closes connections while others still run): nothing to retry on.
        if (this.closing)
          throw new ExternalError(`the connection to ${this.name} was closed before ${what.step} finished`, {
            node: this.name,
            step: what.step,
            command: what.command,
          });
        this.note(`the connection to ${this.name} dropped during ${what.step}${what.idempotent ? '; retrying it on a new connection' : ''}`);
        if (!what.idempotent)
          throw new ExternalError(
            `the connection to ${this.name} dropped during ${what.step}; not retried, since ${what.step} is not idempotent (part of it may have run)`,
            { node: this.name, step: what.step, command: what.command },
          );
      }
    }
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.runWith(argv, options, {});
  }

  private async runWith(argv: readonly string[], options: RunOptions, io: RawIo): Promise<CommandResult> {
    const step = options.step ?? argv[0] ?? 'command';
    const result = await this.attempt({ step, command: quoteArgv(argv), idempotent: options.idempotent === true }, () => this.runOnce(argv, options, io));
    this.target.onCommand?.(result);
    return result;
  }

  private runOnce(argv: readonly string[], options: RunOptions, io: RawIo): Promise<CommandResult> {
    const { check = true, timed = false, detachStdio = false, timeoutMs = this.target.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS, signal, step } = options;
    // Whatever a run creates on a node (work dir, CRIU images, logs, the payload's own files: it
    // inherits the mask, and CRIU restores it) is for root alone: a frozen process's memory is in there.
    let command = `umask 077; ${quoteArgv(argv)}`;
    if (detachStdio) command += ` </dev/null >>${quoteArg(detachStdio === true ? '/dev/null' : detachStdio)} 2>&1`;
    if (timed) {
      // Start and end are read on the node, so phase times exclude the SSH round trip.
      command = `t0=$(date +%s%N); ${command}; rc=$?; t1=$(date +%s%N); printf '\\n${TIMING_MARK} %s %s\\n' "$t0" "$t1" >&2; exit $rc`;
    }
    // The whole line goes under sudo, so redirections and the timing wrapper run as root too.
    if (this.target.sudo && !options.asUser) command = asRoot(command);
    const started = performance.now();
    return new Promise<CommandResult>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError());
      if (this.lost) return reject(new ConnectionLost());
      const client = this.client;
      const onExec = (error: Error | undefined, stream: ClientChannel): void => {
        if (error)
          return reject(
            this.lost || this.client !== client
              ? new ConnectionLost()
              : new ExternalError(`cannot run a command on ${this.name}: ${error.message}`, { node: this.name, step, command: quoteArgv(argv) }),
          );
        const stdout = new OutputTail(io.onStdout ? Infinity : OUTPUT_LIMIT_BYTES);
        const stderr = new OutputTail();
        let settled = false;
        const stop = (reason: Error): void => {
          if (settled) return;
          settled = true;
          cleanupListeners();
          try {
            stream.signal('KILL');
            stream.close();
          } catch {
            /* the server may not support signals, or the connection is gone; either way the channel is done for us */
          }
          reject(reason);
        };
        // A connection that drops under a command does not always close its channels.
        const onDropped = (): void => stop(new ConnectionLost());
        client.once('close', onDropped);
        const timer = setTimeout(
          () =>
            stop(
              new ExternalError(`${step ?? argv[0]} on ${this.name} did not finish within ${Math.round(timeoutMs / 1000)} s`, {
                node: this.name,
                step,
                command: quoteArgv(argv),
                logTail: stderr.toString().slice(-2000),
              }),
            ),
          timeoutMs,
        );
        const onAbort = (): void => stop(new AbortedError());
        signal?.addEventListener('abort', onAbort, { once: true });
        const cleanupListeners = (): void => {
          clearTimeout(timer);
          client.off('close', onDropped);
          signal?.removeEventListener('abort', onAbort);
        };
        stream.on('data', (chunk: Buffer) => stdout.push(chunk));
        stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        if (io.input) stream.end(io.input);
        stream.on('close', (code: number | null | undefined) => {
          if (settled) return;
          settled = true;
          cleanupListeners();
          // No exit status at all: the channel went with the connection, not with the command.
          if (code === undefined) return reject(new ConnectionLost());
          let err = stderr.toString();
          let nodeTiming: CommandResult['nodeTiming'];
          if (timed) {
            const match = new RegExp(`\\n?${TIMING_MARK} (\\d+) (\\d+)\\n$`).exec(err);
            if (match) {
              err = err.slice(0, match.index);
              const t0 = Number(BigInt(match[1]!) / 1000n) / 1000;
              const t1 = Number(BigInt(match[2]!) / 1000n) / 1000;
              nodeTiming = { startedAtMs: t0, durationMs: t1 - t0 };
            }
          }
          if (io.onStdout && code === 0) io.onStdout(stdout.bytes());
          const result: CommandResult = {
            node: this.name,
            argv,
            exitCode: code,
            stdout: io.onStdout ? '' : stdout.toString(),
            stderr: err,
            durationMs: performance.now() - started,
            nodeTiming,
          };
          if (check && code !== 0) {
            reject(
              new ExternalError(`${step ?? argv[0]} failed on ${this.name} (exit ${code})`, {
                node: this.name,
                step,
                command: quoteArgv(argv),
                exitCode: code,
                logTail: tail(err || result.stdout, 15),
              }),
            );
          } else resolve(result);
        });
      };
      try {
        client.exec(command, onExec);
      } catch {
        // ssh2 throws "Not connected" when the socket is gone before its close event.
        reject(new ConnectionLost());
      }
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    const client = this.client;
    this.sftpSession ??= new Promise((resolve, reject) =>
      client.sftp((error, sftp) =>
        error ? reject(new ExternalError(`SFTP unavailable on ${this.name}: ${error.message}`, { node: this.name })) : resolve(sftp),
      ),
    );
    return this.sftpSession;
  }

  private fileError(what: string, path: string, error: Error): ExternalError {
    return new ExternalError(`cannot ${what} ${path} on ${this.name}: ${error.message}`, { node: this.name, step: what });
  }

  /** One SFTP operation, with the default timeout; whole-file reads and writes are idempotent, so a dropped connection retries them. */
  private fileOperation<T>(
    what: string,
    remotePath: string,
    operation: (sftp: SFTPWrapper, done: (error: Error | undefined | null, value?: T) => void) => void,
  ): Promise<T> {
    const timeoutMs = this.target.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    return this.attempt({ step: `${what} ${remotePath}`, idempotent: true }, async () => {
      const client = this.client;
      // An SFTP status (no such file, permission denied) carries a numeric code; a dropped channel does not.
      const failed = async (error: Error): Promise<Error> =>
        typeof (error as { code?: unknown }).code !== 'number' && (await this.droppedUnder(client))
          ? new ConnectionLost()
          : this.fileError(what, remotePath, error);
      const sftp = await this.sftp().catch(async (error: Error) => {
        this.sftpSession = undefined;
        throw await failed(error);
      });
      return new Promise<T>((resolve, reject) => {
        const onDropped = (): void => {
          clearTimeout(timer);
          reject(new ConnectionLost());
        };
        const timer = setTimeout(() => {
          client.off('close', onDropped);
          reject(
            new ExternalError(`cannot ${what} ${remotePath} on ${this.name}: no answer within ${Math.round(timeoutMs / 1000)} s`, {
              node: this.name,
              step: what,
            }),
          );
        }, timeoutMs);
        client.once('close', onDropped);
        operation(sftp, (error, value) => {
          clearTimeout(timer);
          client.off('close', onDropped);
          if (error) failed(error).then(reject, reject);
          else resolve(value as T);
        });
      });
    });
  }

  async writeFile(remotePath: string, content: string | Buffer, mode = 0o600): Promise<void> {
    if (this.target.sudo) {
      // SFTP writes as the user, who cannot write the run's root-owned directories: cat under sudo does.
      const argv = ['sh', '-c', 'cat > "$1" && chmod "$2" "$1"', 'sh', remotePath, mode.toString(8)];
      await this.runWith(argv, { step: `write ${remotePath}`, idempotent: true }, { input: Buffer.from(content) });
      return;
    }
    await this.fileOperation<void>('write', remotePath, (sftp, done) => sftp.writeFile(remotePath, content, { mode }, done));
  }

  async readFile(remotePath: string): Promise<Buffer> {
    if (this.target.sudo) {
      let content: Buffer = Buffer.alloc(0);
      await this.runWith(['cat', '--', remotePath], { step: `read ${remotePath}`, idempotent: true }, { onStdout: (bytes) => (content = bytes) });
      return content;
    }
    return this.fileOperation<Buffer>('read', remotePath, (sftp, done) =>
      sftp.readFile(remotePath, (error: Error | undefined, data: Buffer) => done(error, data)),
    );
  }

  async upload(localPath: string, remotePath: string, mode = 0o600): Promise<void> {
    if (this.target.sudo) return this.writeFile(remotePath, await readFile(localPath), mode);
    await this.fileOperation<void>('upload', remotePath, (sftp, done) => sftp.fastPut(localPath, remotePath, { mode }, done));
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    if (this.target.sudo) return writeFile(localPath, await this.readFile(remotePath));
    await this.fileOperation<void>('download', remotePath, (sftp, done) => sftp.fastGet(remotePath, localPath, done));
  }

  async close(): Promise<void> {
    this.closing = true;
    this.client.end();
    this.jump?.end();
  }
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
