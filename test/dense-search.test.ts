import { describe, expect, it } from 'vitest';
import { denseTopK } from '../src/ann/dense-search.js';
import { exactTopK } from '../src/ann/exact-search.js';
import type { Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';

/** Small integers: every inner product is exact in float32, so any summation order gives the same bits (and ties). */
function integerMatrix(rng: Rng, rows: number, dim: number, range: number): Float32Array {
  return Float32Array.from({ length: rows * dim }, () => Math.floor(rng.next() * (2 * range + 1)) - range);
}

function randomExcluded(rng: Rng, rows: number, count: number, maxPerRow: number): Csr {
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  for (let r = 0; r < rows; r++) {
    const m = Math.floor(rng.next() * (maxPerRow + 1));
    const row = new Set<number>();
    while (row.size < m) row.add(Math.floor(rng.next() * count));
    indices.push(...[...row].sort((a, b) => a - b));
    indptr[r + 1] = indices.length;
  }
  return { rows, cols: count, indptr, indices: Int32Array.from(indices), values: null };
}

describe('dense exact search on ONNX Runtime', () => {
  const rng = new Rng(5);
  const dim = 9;
  const count = 613;
  const n = 257;
  // few distinct values: many exact ties, which must go to the lower label as in exactTopK
  const vectors = integerMatrix(rng, count, dim, 2);
  const queries = integerMatrix(rng, n, dim, 2);

  it('gives exactTopK’s labels and scores, ties to the lower label, across blocks and thread counts', async () => {
    const ref = exactTopK(vectors, count, dim, queries, n, 20);
    for (const threads of [1, 2]) {
      for (const blockScores of [count * 7, 1 << 25]) {
        const got = await denseTopK(vectors, count, dim, queries, n, 20, { threads, blockScores });
        expect(got.labels).toEqual(ref.labels);
        expect(got.scores).toEqual(ref.scores);
      }
    }
  });

  it('never returns an excluded label and fills the rest as exactTopK does', async () => {
    const excluded = randomExcluded(rng, n, count, 6);
    const ref = exactTopK(vectors, count, dim, queries, n, 15, excluded);
    const got = await denseTopK(vectors, count, dim, queries, n, 15, { excluded, blockScores: count * 10 });
    expect(got.labels).toEqual(ref.labels);
    expect(got.scores).toEqual(ref.scores);
  });

  it('pads with −1 / −Infinity when fewer labels than k remain', async () => {
    const few = 5;
    const excluded: Csr = { rows: 2, cols: few, indptr: Int32Array.of(0, 2, 2), indices: Int32Array.of(1, 3), values: null };
    const got = await denseTopK(vectors, few, dim, queries, 2, 8, { excluded });
    const ref = exactTopK(vectors, few, dim, queries, 2, 8, excluded);
    expect(got.labels).toEqual(ref.labels);
    expect(got.scores).toEqual(ref.scores);
    expect(Array.from(got.labels.subarray(0, 8)).filter((l) => l >= 0).sort()).toEqual([0, 2, 4]);
  });

  it('matches exactTopK on real-valued vectors up to float rounding', async () => {
    const d = 64;
    const v = Float32Array.from({ length: 2000 * d }, () => rng.normal());
    const q = Float32Array.from({ length: 100 * d }, () => rng.normal());
    const ref = exactTopK(v, 2000, d, q, 100, 10);
    const got = await denseTopK(v, 2000, d, q, 100, 10, { threads: 2 });
    let same = 0;
    for (let i = 0; i < ref.labels.length; i++) {
      expect(got.scores[i]).toBeCloseTo(ref.scores[i], 3);
      if (got.labels[i] === ref.labels[i]) same++;
    }
    expect(same).toBeGreaterThanOrEqual(ref.labels.length - 4); // only near-ties may swap
  });

  it('gives the same bits on 1 and 2 threads (mined pools must not depend on the machine’s cores)', async () => {
    const d = 257;
    const v = Float32Array.from({ length: 3001 * d }, () => rng.normal());
    const q = Float32Array.from({ length: 203 * d }, () => rng.normal());
    const one = await denseTopK(v, 3001, d, q, 203, 64, { threads: 1 });
    // the vectors in shared memory, as a Hogwild student's are
    const shared = new Float32Array(new SharedArrayBuffer(v.byteLength));
    shared.set(v);
    const two = await denseTopK(shared, 3001, d, q, 203, 64, { threads: 2, blockScores: 3001 * 50 });
    expect(two.labels).toEqual(one.labels);
    expect(two.scores).toEqual(one.scores);
  });

  describe('in int8 arithmetic', () => {
    it('sums exactly when the values are already on the grid, at the extremes too (no int16 saturation)', async () => {
      // labels in [−63, 63] with 63 in every dimension and queries in [−127, 127] with 127 in every
      // row: both scales are 1, so the integer sums are the float scores themselves
      const d = 40;
      const count = 300;
      const rows = 60;
      const v = integerMatrix(rng, count, d, 63);
      for (let j = 0; j < d; j++) v[j] = 63; // label 0: all 63
      for (let j = 0; j < d; j++) v[d + j] = -63; // label 1: all −63
      const q = integerMatrix(rng, rows, d, 127);
      for (let r = 0; r < rows; r++) q[r * d] = 127;
      for (let j = 0; j < d; j++) {
        q[j] = 127; // query 0: all 127 (uint8 255), against label 0: the largest pair sums
        q[d + j] = -127; // query 1: all −127
      }
      const ref = exactTopK(v, count, d, q, rows, 25);
      const got = await denseTopK(v, count, d, q, rows, 25, { precision: 'int8', threads: 2 });
      expect(got.labels).toEqual(ref.labels);
      expect(got.scores).toEqual(ref.scores);
      expect(got.scores[0]).toBe(127 * 63 * d);
      expect(got.labels[25]).toBe(1);
    });

    it('ranks real-valued vectors nearly as float search does, excluded labels never returned, the same bits on 1 and 2 threads', async () => {
      const d = 64;
      const count = 2000;
      const rows = 150;
      // dimensions of different sizes, as a student's bias column is: each gets its own scale
      const v = Float32Array.from({ length: count * d }, (_, i) => rng.normal() * (1 + (i % d)));
      const q = Float32Array.from({ length: rows * d }, () => rng.normal());
      const excluded = randomExcluded(rng, rows, count, 6);
      const ref = exactTopK(v, count, d, q, rows, 20, excluded);
      const one = await denseTopK(v, count, d, q, rows, 20, { precision: 'int8', excluded, threads: 1 });
      const two = await denseTopK(v, count, d, q, rows, 20, { precision: 'int8', excluded, threads: 2, blockScores: count * 7 });
      expect(two.labels).toEqual(one.labels);
      expect(two.scores).toEqual(one.scores);
      let overlap = 0;
      for (let r = 0; r < rows; r++) {
        const want = new Set(ref.labels.subarray(r * 20, r * 20 + 20));
        const row = one.labels.subarray(r * 20, r * 20 + 20);
        for (const l of row) {
          expect(isIn(excluded, r, l)).toBe(false);
          if (want.has(l)) overlap++;
        }
        // scores approximate the float ones: within 2 % of the row's best
        for (let j = 0; j < 20; j++) {
          const exact = dot(v, one.labels[r * 20 + j], q, r, d);
          expect(Math.abs(one.scores[r * 20 + j] - exact)).toBeLessThan(0.02 * Math.abs(ref.scores[r * 20]));
        }
      }
      expect(overlap / (rows * 20)).toBeGreaterThan(0.9);
    });
  });
});

function isIn(csr: Csr, row: number, label: number): boolean {
  return csr.indices.subarray(csr.indptr[row], csr.indptr[row + 1]).includes(label);
}

function dot(v: Float32Array, label: number, q: Float32Array, row: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += v[label * d + j] * q[row * d + j];
  return s;
}
