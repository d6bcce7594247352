// The spot interruption notice as the source node sees it: one probe command, run on the node
// every poll, reads the notice file if one is there, else asks the instance metadata service
// (IMDSv2: a session token, then spot/instance-action, 404 until a notice exists). A simulated
// notice is that file, so it travels the same probe and parser as a real one.

export const IMDS_URL = 'http://169.254.169.254';
/** Where `--simulate-after` (or an operator by hand) drops a notice on the node; /srv is per node in the lab. */
export const NOTICE_FILE = '/srv/criu-lab/spot/instance-action';
export const POLL_INTERVAL_S = 5;

export type ProbeVia = 'notice-file' | 'imds' | 'none' | 'imds-unreachable';

export interface SpotNotice {
  readonly action: string;
  /** ISO time the instance will be stopped or terminated. */
  readonly time: string;
}

export interface ProbeResult {
  /** The node's clock when it probed (epoch ms). */
  readonly nodeTimeMs: number;
  readonly via: ProbeVia;
  readonly notice: SpotNotice | undefined;
}

// $1: the notice file, $2: the IMDS base URL. Prints the node's clock, where it looked, and the notice body.
const PROBE_SCRIPT = [
  'date +%s%3N',
  'if [ -s "$1" ]; then echo notice-file; cat "$1"; exit 0; fi',
  'token=$(curl -sf -m 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" "$2/latest/api/token") || { echo imds-unreachable; exit 0; }',
  'if body=$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" "$2/latest/meta-data/spot/instance-action"); then echo imds; printf "%s\\n" "$body"; else echo none; fi',
].join('\n');

export function probeArgv(noticeFile: string = NOTICE_FILE, imdsUrl: string = IMDS_URL): string[] {
  return ['sh', '-c', PROBE_SCRIPT, 'sh', noticeFile, imdsUrl];
}

/** The probe's output; a body that is not a notice (HTML from a proxy, a torn write) counts as none. */
export function parseProbe(stdout: string): ProbeResult {
  const [clock = '', via = 'none', ...body] = stdout.split('\n');
  const nodeTimeMs = Number(clock.trim());
  const known: ProbeVia[] = ['notice-file', 'imds', 'none', 'imds-unreachable'];
  const where = (known as string[]).includes(via.trim()) ? (via.trim() as ProbeVia) : 'none';
  let notice: SpotNotice | undefined;
  if (where === 'notice-file' || where === 'imds') {
    try {
      const parsed = JSON.parse(body.join('\n')) as { action?: unknown; time?: unknown };
      if (typeof parsed.action === 'string' && typeof parsed.time === 'string') notice = { action: parsed.action, time: parsed.time };
    } catch {
      notice = undefined;
    }
  }
  return { nodeTimeMs: Number.isFinite(nodeTimeMs) ? nodeTimeMs : Date.now(), via: notice ? where : where === 'imds-unreachable' ? where : 'none', notice };
}

/** What AWS serves two minutes before it stops the instance: terminate, at now + 120 s. */
export function simulatedNotice(nowMs: number, leadS = 120): SpotNotice {
  return { action: 'terminate', time: new Date(nowMs + leadS * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') };
}
