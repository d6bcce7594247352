// Reads what each instance's boot script printed to its serial console (through the EC2 API,
// an authenticated channel): the SSH host keys to pin, and whether the bootstrap finished.
import { ExternalError } from '../../core/errors.js';
import { runProcess, type ProcessRunner } from '../../core/process.js';
import { BOOT_MARKER, BOOTSTRAP_LOG } from './user-data.js';

export interface HostKey {
  /** e.g. `ssh-ed25519` */
  readonly type: string;
  /** The base64 key blob. */
  readonly key: string;
}

export type BootStatus =
  | { readonly kind: 'pending' }
  | { readonly kind: 'ready' }
  /** `logTail`: the bootstrap log's last lines, printed to the console before the failed line. */
  | { readonly kind: 'failed'; readonly detail: string; readonly logTail: string };

export interface BootReport {
  readonly status: BootStatus;
  readonly hostKeys: readonly HostKey[];
  /** What setup-host.sh said last on a node (e.g. `host ready: nothing to do ...` on a baked image); the bastion has none. */
  readonly setup?: string;
}

const markerPattern = (rest: string) => new RegExp(`${BOOT_MARKER.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} ${rest}`);
const HOST_KEY = markerPattern('host-key (\\S+) ([A-Za-z0-9+/]+={0,3})');
const READY = markerPattern('ready\\s*$');
const FAILED = markerPattern('failed (.*)$');
// setup-host.sh prefixes its lines with its name; the report keeps what follows.
const SETUP = markerPattern('setup (?:setup-host: )?(.*)$');
const LOG = markerPattern('log (.*)$');

/** The report in a console log; console lines may carry prefixes (timestamps, cloud-init tags). */
export function parseBootReport(consoleOutput: string): BootReport {
  let status: BootStatus = { kind: 'pending' };
  let setup: string | undefined;
  const hostKeys = new Map<string, HostKey>();
  const logLines: string[] = [];
  for (const line of consoleOutput.split(/\r?\n/)) {
    const hostKey = HOST_KEY.exec(line);
    const failed = FAILED.exec(line);
    const setupLine = SETUP.exec(line);
    const logLine = LOG.exec(line);
    if (hostKey?.[1] && hostKey[2]) hostKeys.set(hostKey[1], { type: hostKey[1], key: hostKey[2] });
    else if (READY.test(line)) status = { kind: 'ready' };
    else if (failed) status = { kind: 'failed', detail: failed[1]?.trim() ?? '', logTail: logLines.join('\n') };
    else if (setupLine) setup = setupLine[1]?.trim();
    else if (logLine) logLines.push(logLine[1] ?? '');
  }
  return { status, hostKeys: [...hostKeys.values()], ...(setup === undefined ? {} : { setup }) };
}

/** Fetches an instance's latest console output. */
export type ConsoleReader = (instanceId: string) => Promise<string>;

/** Reads consoles with the aws CLI (`--latest` works on Nitro instances, which m5 and t3 are). */
export function awsConsoleReader(region: string, run: ProcessRunner = runProcess): ConsoleReader {
  return async (instanceId) => {
    const result = await run(
      ['aws', 'ec2', 'get-console-output', '--region', region, '--instance-id', instanceId, '--latest', '--query', 'Output', '--output', 'text'],
      { check: false },
    );
    if (result.exitCode !== 0) {
      throw new ExternalError(`reading the console of ${instanceId} failed (exit ${result.exitCode})`, { logTail: result.output });
    }
    return result.output === 'None\n' ? '' : result.output;
  };
}

export interface BootHost {
  readonly name: string;
  readonly instanceId: string;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly log?: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls every host's console until each reports ready (with host keys), one reports a failed
 * bootstrap, or the time is up. Returns the reports by host name.
 */
export async function waitForBootReports(
  hosts: readonly BootHost[],
  readConsole: ConsoleReader,
  options: WaitOptions,
): Promise<ReadonlyMap<string, BootReport>> {
  const sleep = options.sleep ?? defaultSleep;
  const deadline = Date.now() + options.timeoutMs;
  const reports = new Map<string, BootReport>();
  for (;;) {
    for (const host of hosts.filter((h) => reports.get(h.name)?.status.kind !== 'ready')) {
      const report = parseBootReport(await readConsole(host.instanceId));
      reports.set(host.name, report);
      if (report.status.kind === 'failed') {
        throw new ExternalError(
          `${host.name} (${host.instanceId}) failed its bootstrap: ${report.status.detail}; ` +
            `see ${BOOTSTRAP_LOG} on it (ssh through the bastion, then sudo tail -50 ${BOOTSTRAP_LOG})`,
          { logTail: report.status.logTail },
        );
      }
      if (report.status.kind === 'ready' && report.hostKeys.length === 0) {
        throw new ExternalError(`${host.name} (${host.instanceId}) reported ready but no SSH host keys to pin`);
      }
      if (report.status.kind === 'ready' && report.setup !== undefined) options.log?.(`${host.name} ready (setup-host: ${report.setup})`);
    }
    const pending = hosts.filter((h) => reports.get(h.name)?.status.kind !== 'ready').map((h) => h.name);
    if (pending.length === 0) return reports;
    if (Date.now() >= deadline) {
      throw new ExternalError(
        `still booting after ${Math.round(options.timeoutMs / 60_000)} min: ${pending.join(', ')}; ` +
          'a node builds CRIU on first boot (about 10 min); run `criu-lab infra deploy` again to resume waiting',
      );
    }
    options.log?.(`waiting for bootstrap: ${pending.join(', ')}`);
    await sleep(options.pollMs);
  }
}
