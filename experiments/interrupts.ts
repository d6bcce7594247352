// Ctrl-C and SIGTERM for a long command (a run, a sweep, a watch): the first aborts the work,
// which cleans up; the second exits at once.

export async function withInterrupts<T>(
  onFirst: (signalName: string) => void,
  work: (signal: AbortSignal) => Promise<T>,
  onSecond?: (signalName: string) => void,
): Promise<T> {
  const controller = new AbortController();
  const handler = (signalName: string) => {
    if (controller.signal.aborted) {
      onSecond?.(signalName);
      process.exit(130);
    }
    onFirst(signalName);
    controller.abort();
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
