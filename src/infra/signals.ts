/**
 * SIGTERM/SIGINT for a long-running process: the first signal runs close() and exits 0 (1 when
 * closing fails), a second one exits at once. Returns what takes the handlers off again.
 */
export function closeOnSignals(close: () => Promise<void>, log: (line: string, level: 'info' | 'error') => void, what: string): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`${what}: ${signal} again, exiting now`, 'error');
      process.exit(1);
    }
    stopping = true;
    log(`${what}: ${signal}, closing`, 'info');
    close().then(
      () => process.exit(0),
      (e: unknown) => {
        log(`${what}: shutdown failed: ${(e as Error).stack ?? String(e)}`, 'error');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/**
 * Starts a long-running thing with the signal handlers already in place, and closes it on the
 * first signal. A process that says it is ready from inside `start` could otherwise be sent a
 * SIGTERM before the handlers exist, which kills it with the signal (a test saw a worker exit so).
 * A signal that comes while it starts closes it once started.
 */
export function startClosingOnSignals<T>(start: () => Promise<T>, close: (started: T) => Promise<void>, log: (line: string, level: 'info' | 'error') => void, what: string): Promise<T> {
  let started: Promise<T> | null = null;
  // the handlers run from the event loop, after `started` is set below
  closeOnSignals(async () => close(await started!), log, what);
  started = start();
  return started;
}
