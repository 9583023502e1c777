import { describe, expect, it } from 'vitest';
import { TermIndex } from '../src/core/data/term-index.js';

describe('TermIndex', () => {
  it('answers as one Map would, over keys spread across its shards', () => {
    const index = new TermIndex();
    const reference = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const key = `w${(i * 7919) % 5000} ${i % 3 === 0 ? 'ü' : ''}`; // repeats and non-ASCII keys
      index.set(key, i);
      reference.set(key, i);
    }
    for (const [k, v] of reference) expect(index.get(k)).toBe(v);
    expect(index.get('absent')).toBeUndefined();
    expect(index.get('')).toBeUndefined();
  });
});
