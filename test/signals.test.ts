/**
 * startClosingOnSignals: a SIGTERM that comes after a process said it is ready but before its
 * start returned closes it (exit 0) instead of killing it with the signal.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { closeOnSignals } from '../src/infra/signals.js';

describe('startClosingOnSignals', () => {
  it('a SIGTERM while starting waits for the start, then closes and exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/signal-child.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (code, signal) => r([code, signal])));
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready') && !child.killed) child.kill('SIGTERM');
    });
    expect(await exited).toEqual([0, null]);
    expect(out.split('\n').filter(Boolean)).toEqual(['ready', 'closed']);
  }, 30_000);

  it('closeOnSignals gives back what takes its handlers off (a server whose listen failed leaves none)', () => {
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    const off = closeOnSignals(async () => undefined, () => undefined, 'test');
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual(before.map((n) => n + 1));
    off();
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual(before);
  });
});
