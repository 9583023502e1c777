/**
 * SIGTERM/SIGINT for a long-running process: the first signal runs close() and exits 0 (1 when
 * closing fails), a second one exits at once.
 */
export function closeOnSignals(close: () => Promise<void>, log: (line: string, level: 'info' | 'error') => void, what: string): void {
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
}
