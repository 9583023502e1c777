/**
 * For test/signals.test.ts: says "ready" from inside a start that takes another 300 ms, as a
 * worker logs its ready line before its start returns; prints "closed" when closed.
 */
import { startClosingOnSignals } from '../../src/infra/signals.js';

await startClosingOnSignals(
  async () => {
    console.log('ready');
    await new Promise((r) => setTimeout(r, 300));
    return { started: Date.now() };
  },
  async () => {
    console.log('closed');
  },
  () => undefined,
  'signal-child',
);
setInterval(() => undefined, 60_000); // runs until a signal
