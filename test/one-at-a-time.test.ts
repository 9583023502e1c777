import { describe, expect, it } from 'vitest';
import { oneAtATime } from '../src/core/util/one-at-a-time.js';

describe('oneAtATime', () => {
  it('starts a call only once the one before has settled, in call order, rejections included', async () => {
    const events: string[] = [];
    let inside = 0;
    let most = 0;
    const work = oneAtATime(async (name: string, ms: number, fail = false) => {
      inside++;
      most = Math.max(most, inside);
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      inside--;
      if (fail) throw new Error(`${name} failed`);
      return name;
    });
    const [a, b, c] = [work('a', 20), work('b', 1, true), work('c', 5)];
    await expect(a).resolves.toBe('a');
    await expect(b).rejects.toThrow('b failed');
    await expect(c).resolves.toBe('c');
    expect(most).toBe(1);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });
});
