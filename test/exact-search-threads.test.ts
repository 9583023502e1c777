import { describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { exactTopKThreaded } from '../src/ann/exact-search-threads.js';
import { Rng } from '../src/core/util/rng.js';

describe('exact search over worker threads', () => {
  const rng = new Rng(11);
  const dim = 12;
  const count = 700;
  const n = 301; // not a multiple of the thread count
  const vectors = Float32Array.from({ length: count * dim }, () => rng.normal());
  const queries = Float32Array.from({ length: n * dim }, () => rng.normal());

  it('gives exactTopK’s labels and scores bit for bit, whatever the thread count', async () => {
    const one = exactTopK(vectors, count, dim, queries, n, 17);
    for (const threads of [2, 3]) {
      const split = await exactTopKThreaded(vectors, count, dim, queries, n, 17, threads, 0);
      expect(split.labels).toEqual(one.labels);
      expect(split.scores).toEqual(one.scores);
    }
  });

  it('reports a slice that fails', async () => {
    await expect(exactTopKThreaded(vectors, count, dim, queries, n, -1, 2, 0)).rejects.toThrow(/exact search worker/);
  });
});
