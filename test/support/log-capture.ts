/** A Fastify logger that keeps every line in memory, to check what was (not) logged. */
import { Writable } from 'node:stream';

export function captureLogs(): { lines: string[]; logger: { level: 'trace'; stream: Writable } } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, logger: { level: 'trace', stream } };
}
