// watch.json, beside a watched run's metrics.json: when the spot notice was seen, when the
// migration was done, and the margin left before the termination time the notice names.
import { DEADLINES_S } from '../metrics.js';

export const WATCH_FILE = 'watch.json';

export interface WatchRecord {
  /** `instance-action` as the source node served it (IMDS, or the notice file that stands in for it). */
  readonly notice: { readonly action: string; readonly time: string };
  /** Where the probe found it: `imds` or `notice-file`. */
  readonly via: 'imds' | 'notice-file';
  readonly pollIntervalS: number;
  /** The source node's clock when the probe first returned the notice. */
  readonly noticeSeenAt: string;
  /** When the restored process ran on the destination (the end of the migration). */
  readonly migrationDoneAt: string | undefined;
  /** Seen → done. */
  readonly noticeToDoneMs: number | undefined;
  /** AWS's notice: 120 s before the termination time. */
  readonly deadlineS: number;
  /** Termination time minus done: what was left; negative when the migration missed it. */
  readonly marginMs: number | undefined;
  readonly met: boolean;
  /** With `--fis`: the AWS FIS experiment that sent the notice, and start → notice seen (controller's clock to the node's). */
  readonly fis?: {
    readonly templateId: string;
    readonly experimentId: string;
    readonly startedAt: string;
    readonly status: string | undefined;
    readonly startToNoticeMs: number;
  };
}

/**
 * The verdict: the termination time the notice names is the deadline (the notice's time
 * field); without a readable one, seen + 120 s, which flatters the run by the polling delay.
 */
export function watchVerdict(noticeSeenAtMs: number, noticeTime: string, migrationDoneAtMs: number | undefined) {
  const named = Date.parse(noticeTime);
  const terminationAtMs = Number.isFinite(named) ? named : noticeSeenAtMs + DEADLINES_S.aws * 1000;
  const noticeToDoneMs = migrationDoneAtMs === undefined ? undefined : migrationDoneAtMs - noticeSeenAtMs;
  const marginMs = migrationDoneAtMs === undefined ? undefined : terminationAtMs - migrationDoneAtMs;
  return { noticeToDoneMs, marginMs, deadlineS: DEADLINES_S.aws, met: marginMs !== undefined && marginMs >= 0 };
}
