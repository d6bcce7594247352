// Live progress for long phases: an updating line on a terminal (elapsed, bytes for transfers),
// plain start/end lines otherwise. Written to stderr so stdout stays for the summary or JSON.
import { MIB } from './metrics.js';

export interface Progress {
  /** Runs `work` as a named step; `probeBytes` (optional) is polled for a bytes-so-far figure. */
  track<T>(label: string, work: () => Promise<T>, probeBytes?: () => Promise<number>): Promise<T>;
  note(message: string): void;
}

export function createProgress(stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const live = stream.isTTY === true && !quiet;
  const write = (text: string) => {
    if (!quiet) stream.write(text);
  };
  return {
    note: (message) => write(`${message}\n`),
    async track(label, work, probeBytes) {
      const started = performance.now();
      let bytes: number | undefined;
      let probing = false;
      const render = () => {
        const elapsed = ((performance.now() - started) / 1000).toFixed(1);
        const moved = bytes === undefined ? '' : `  ${(bytes / MIB).toFixed(1)} MiB`;
        stream.write(`\r\x1b[2K  … ${label.padEnd(22)} ${elapsed}s${moved}`);
      };
      let timer: NodeJS.Timeout | undefined;
      if (live) {
        render();
        timer = setInterval(() => {
          render();
          if (probeBytes && !probing) {
            probing = true;
            probeBytes()
              .then(
                (b) => (bytes = b),
                () => undefined,
              )
              .finally(() => (probing = false));
          }
        }, 250);
      } else write(`  → ${label}\n`);
      const finish = (mark: string) => {
        if (timer) clearInterval(timer);
        const elapsed = ((performance.now() - started) / 1000).toFixed(2);
        write(`${live ? '\r\x1b[2K' : ''}  ${mark} ${label.padEnd(22)} ${elapsed}s\n`);
      };
      try {
        const result = await work();
        finish('✓');
        return result;
      } catch (error) {
        finish('✗');
        throw error;
      }
    },
  };
}
