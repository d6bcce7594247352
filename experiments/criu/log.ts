// Reading CRIU's own -v4 logs: every line starts with "(SS.uuuuuu)", the time since CRIU started,
// which dates events inside one long CRIU call (a lazy dump stays up until its last page is served).

/** Milliseconds after CRIU started at which `text` first appears in the log; undefined when it does not. */
export function logOffsetMs(log: string, text: string): number | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes(text)) continue;
    const stamp = /^\((\d+)\.(\d{6})\)/.exec(line);
    if (stamp) return Number(stamp[1]) * 1000 + Number(stamp[2]) / 1000;
  }
  return undefined;
}

/** The lazy-pages daemon's closing summary, summed over the processes it served ("UFFD transferred pages: (copied/total)"). */
export function lazyTransferredPages(log: string): { readonly copied: number; readonly total: number } | undefined {
  const lines = [...log.matchAll(/UFFD transferred pages: \((\d+)\/(\d+)\)/g)];
  if (lines.length === 0) return undefined;
  return lines.reduce((sum, m) => ({ copied: sum.copied + Number(m[1]), total: sum.total + Number(m[2]) }), { copied: 0, total: 0 });
}

/** The line the source's lazy dump logs once its non-page images are flushed and it starts serving pages. */
export const LAZY_SERVER_STARTED = 'Starting lazy pages server';

/** The line a dump logs when it has stopped the first task (PTRACE_SEIZE + interrupt): the freeze. */
export const TASK_SEIZED = 'Seized task';
