// The Node seam over ssh2: argv commands quoted by quoteArgv, SFTP for files, an optional
// jump host (the bastion) through forwardOut, and pinned host keys.
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { AbortedError, ExternalError } from '../errors.js';
import type { CommandResult, RemoteNode, RunOptions } from './node.js';
import { formatHostKey, type KnownHosts } from './known-hosts.js';
import { quoteArg, quoteArgv } from './quote.js';

export interface SshEndpoint {
  readonly name: string;
  readonly ip: string;
  readonly port: number;
  readonly user: string;
}

export interface SshTarget extends SshEndpoint {
  readonly privateKey: Buffer;
  readonly knownHosts?: KnownHosts;
  /** Reach the node through this host (ssh -J). */
  readonly bastion?: SshEndpoint;
  readonly connectTimeoutMs?: number;
}

const OUTPUT_LIMIT_BYTES = 4 * 1024 * 1024;
const TIMING_MARK = 'criu-lab-timing';

/** Keeps at most the last OUTPUT_LIMIT_BYTES of a stream, so a chatty command cannot exhaust memory. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > OUTPUT_LIMIT_BYTES && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  toString(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

function connectClient(config: ConnectConfig, endpoint: SshEndpoint, knownHosts: KnownHosts | undefined): Promise<{ client: Client; hostKey: string }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKey = '';
    let rejectedKey = '';
    client.on('ready', () => resolve({ client, hostKey }));
    client.on('error', (error) => {
      const reason = rejectedKey
        ? `host key ${rejectedKey.slice(0, 40)}… is not the one pinned for ${endpoint.ip}; if the node was recreated, run \`criu-lab lab up\` (or redeploy) to record its new key`
        : error.message;
      reject(new ExternalError(`cannot connect to ${endpoint.name} (${endpoint.user}@${endpoint.ip}:${endpoint.port}): ${reason}`, { node: endpoint.name, step: 'connect' }));
    });
    client.connect({
      ...config,
      hostVerifier: (key: Buffer) => {
        hostKey = formatHostKey(key);
        if (!knownHosts || knownHosts.matches(endpoint.ip, hostKey)) return true;
        rejectedKey = hostKey;
        return false;
      },
    });
  });
}

export class SshNode implements RemoteNode {
  private sftpSession: Promise<SFTPWrapper> | undefined;

  private constructor(
    private readonly target: SshTarget,
    private readonly client: Client,
    private readonly jump: Client | undefined,
    readonly hostKey: string,
  ) {}

  get name(): string {
    return this.target.name;
  }
  get ip(): string {
    return this.target.ip;
  }

  static async connect(target: SshTarget): Promise<SshNode> {
    const common = { privateKey: target.privateKey, readyTimeout: target.connectTimeoutMs ?? 15_000, keepaliveInterval: 10_000 };
    if (!target.bastion) {
      const { client, hostKey } = await connectClient({ ...common, host: target.ip, port: target.port, username: target.user }, target, target.knownHosts);
      return new SshNode(target, client, undefined, hostKey);
    }
    const bastion = target.bastion;
    const jump = await connectClient({ ...common, host: bastion.ip, port: bastion.port, username: bastion.user }, bastion, target.knownHosts);
    try {
      const sock = await new Promise<ClientChannel>((resolve, reject) =>
        jump.client.forwardOut('127.0.0.1', 0, target.ip, target.port, (error, stream) =>
          error ? reject(new ExternalError(`bastion ${bastion.name} cannot reach ${target.name} (${target.ip}:${target.port}): ${error.message}`, { node: target.name, step: 'connect' })) : resolve(stream),
        ),
      );
      const { client, hostKey } = await connectClient({ ...common, sock, username: target.user }, target, target.knownHosts);
      return new SshNode(target, client, jump.client, hostKey);
    } catch (error) {
      jump.client.end();
      throw error;
    }
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    const { check = true, timed = false, detachStdio = false, timeoutMs, signal, step } = options;
    let command = quoteArgv(argv);
    if (detachStdio) command += ` </dev/null >>${quoteArg(detachStdio === true ? '/dev/null' : detachStdio)} 2>&1`;
    if (timed) {
      // Start and end are read on the node, so phase times exclude the SSH round trip.
      command = `t0=$(date +%s%N); ${command}; rc=$?; t1=$(date +%s%N); printf '\\n${TIMING_MARK} %s %s\\n' "$t0" "$t1" >&2; exit $rc`;
    }
    const started = performance.now();
    return new Promise<CommandResult>((resolve, reject) => {
      if (signal?.aborted) return reject(new AbortedError());
      this.client.exec(command, (error, stream) => {
        if (error) return reject(new ExternalError(`cannot run a command on ${this.name}: ${error.message}`, { node: this.name, step, command: quoteArgv(argv) }));
        const stdout = new OutputTail();
        const stderr = new OutputTail();
        let settled = false;
        const stop = (reason: Error): void => {
          if (settled) return;
          settled = true;
          cleanupListeners();
          try {
            stream.signal('KILL');
          } catch {
            /* the server may not support signals; closing the channel is enough for us */
          }
          stream.close();
          reject(reason);
        };
        const timer = timeoutMs
          ? setTimeout(() => stop(new ExternalError(`${step ?? argv[0]} on ${this.name} did not finish within ${Math.round(timeoutMs / 1000)} s`, { node: this.name, step, command: quoteArgv(argv), logTail: stderr.toString().slice(-2000) })), timeoutMs)
          : undefined;
        const onAbort = (): void => stop(new AbortedError());
        signal?.addEventListener('abort', onAbort, { once: true });
        const cleanupListeners = (): void => {
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
        };
        stream.on('data', (chunk: Buffer) => stdout.push(chunk));
        stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        stream.on('close', (code: number | null) => {
          if (settled) return;
          settled = true;
          cleanupListeners();
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
          const result: CommandResult = { node: this.name, argv, exitCode: code, stdout: stdout.toString(), stderr: err, durationMs: performance.now() - started, nodeTiming };
          if (check && code !== 0) {
            reject(new ExternalError(`${step ?? argv[0]} failed on ${this.name} (exit ${code})`, { node: this.name, step, command: quoteArgv(argv), exitCode: code, logTail: tail(err || result.stdout, 15) }));
          } else resolve(result);
        });
      });
    });
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise((resolve, reject) =>
      this.client.sftp((error, sftp) => (error ? reject(new ExternalError(`SFTP unavailable on ${this.name}: ${error.message}`, { node: this.name })) : resolve(sftp))),
    );
    return this.sftpSession;
  }

  private fileError(what: string, path: string, error: Error): ExternalError {
    return new ExternalError(`cannot ${what} ${path} on ${this.name}: ${error.message}`, { node: this.name, step: what });
  }

  async writeFile(remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) =>
      sftp.writeFile(remotePath, content, { mode }, (error) => (error ? reject(this.fileError('write', remotePath, error)) : resolve())),
    );
  }

  async readFile(remotePath: string): Promise<Buffer> {
    const sftp = await this.sftp();
    return new Promise<Buffer>((resolve, reject) =>
      sftp.readFile(remotePath, (error: Error | undefined, data: Buffer) => (error ? reject(this.fileError('read', remotePath, error)) : resolve(data))),
    );
  }

  async upload(localPath: string, remotePath: string, mode = 0o644): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) =>
      sftp.fastPut(localPath, remotePath, { mode }, (error) => (error ? reject(this.fileError('upload', remotePath, error)) : resolve())),
    );
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const sftp = await this.sftp();
    await new Promise<void>((resolve, reject) =>
      sftp.fastGet(remotePath, localPath, (error) => (error ? reject(this.fileError('download', remotePath, error)) : resolve())),
    );
  }

  async close(): Promise<void> {
    this.client.end();
    this.jump?.end();
  }
}

/** The last `lines` lines of a text, for error messages. */
export function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
