import { describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { projectedLabelCentroids } from '../src/ann/label-centroids.js';
import { fromSubsetIds, gatherRows, labelsWithPoints, toSubsetIds } from '../src/ann/label-subset.js';
import { RandomProjection } from '../src/ann/random-projection.js';
import type { Csr } from '../src/core/data/csr.js';
import { synthesize } from '../src/core/data/synth.js';
import { CENTROID_PROJECTION_DIM, mineFromCentroids } from '../src/pipeline/mine.js';
import { csr } from './support/csr-rows.js';


function rowsOf(m: Csr): number[][] {
  return Array.from({ length: m.rows }, (_, r) => Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1])));
}

describe('label subsets', () => {
  it('labelsWithPoints lists each label carried by some row, ascending', () => {
    expect([...labelsWithPoints(csr([[5, 7], [], [1, 5], [7]], 9), 9)]).toEqual([1, 5, 7]);
    expect([...labelsWithPoints(csr([[], []], 4), 4)]).toEqual([]);
  });

  it('gatherRows copies the chosen rows in order', () => {
    const v = Float32Array.from({ length: 12 }, (_, i) => i); // 4 rows of 3
    expect([...gatherRows(v, 3, Int32Array.from([1, 3]))]).toEqual([3, 4, 5, 9, 10, 11]);
  });

  it('toSubsetIds maps labels to positions (dropping the others) and fromSubsetIds maps back', () => {
    const ids = Int32Array.from([2, 4, 9]);
    const ex = csr([[1, 2, 9], [], [4], [0, 3]], 10);
    const sub = toSubsetIds(ex, ids, 10);
    expect(sub.cols).toBe(3);
    expect(rowsOf(sub)).toEqual([[0, 2], [], [1], []]);
    const results = Int32Array.from([2, 0, -1, 1]);
    fromSubsetIds(results, ids);
    expect([...results]).toEqual([9, 2, -1, 4]);
  });
});

describe('mining from centroids', () => {
  // 2000 labels, 300 points: most labels have no training point
  const { train } = synthesize({ points: 300, testPoints: 10, features: 500, labels: 2000, seed: 21 });
  const K = 12;

  it('finds the exact nearest non-positive labels, only ever labels with training points', async () => {
    const withPoints = new Set(labelsWithPoints(train.labels, 2000));
    expect(withPoints.size).toBeLessThan(1000);
    const pool = await mineFromCentroids(train, 2000, { poolSize: K, seed: 3 });
    // reference: exact search over every label's centroid, as the mining index saw them before
    const projection = new RandomProjection(train.features.cols, CENTROID_PROJECTION_DIM, 3, { normalize: true });
    const centroids = projectedLabelCentroids(train.features, train.labels, 2000, projection);
    const queries = projection.projectCsr(train.features);
    const n = train.features.rows;
    const exact = exactTopK(centroids, 2000, CENTROID_PROJECTION_DIM, queries, n, K, train.labels);
    let hits = 0;
    let real = 0;
    for (let q = 0; q < n; q++) {
      const want = new Set(exact.labels.subarray(q * K, q * K + K));
      for (let j = 0; j < K; j++) {
        const y = pool.labels[q * K + j];
        if (y >= 0) expect(withPoints.has(y)).toBe(true);
        if (want.has(y)) hits++;
        if (exact.scores[q * K + j] > 0.01) real++; // exact neighbours that are real centroids
      }
    }
    expect(real / (n * K)).toBeGreaterThan(0.95); // labels without points were (almost) never near
    expect(hits / (n * K)).toBeGreaterThan(0.93);
  });

  it('gives an empty pool when no training point has a label', async () => {
    const none = { ...train, labels: csr(Array.from({ length: train.features.rows }, () => []), 2000) };
    const pool = await mineFromCentroids(none, 2000, { poolSize: 4, seed: 1 });
    expect(pool.labels.length).toBe(4 * train.features.rows);
    expect(pool.labels.every((y) => y === -1)).toBe(true);
  });
});
