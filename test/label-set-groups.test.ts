import { describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { projectedLabelCentroids } from '../src/ann/label-centroids.js';
import { expandGroupPools, groupMeans, labelSetGroups } from '../src/ann/label-set-groups.js';
import { RandomProjection } from '../src/ann/random-projection.js';
import { selectRows } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { synthesize } from '../src/core/data/synth.js';
import { CENTROID_PROJECTION_DIM, mineFromCentroids } from '../src/pipeline/mine.js';
import { csr } from './support/csr-rows.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { firstPoolKey, mineFirstPool } from '../src/pipeline/pool-training.js';


describe('label-set groups', () => {
  it('groups rows with the same label set, numbered by first appearance', () => {
    const g = labelSetGroups(csr([[3], [1, 4], [3], [], [1, 4], [1], []], 5));
    expect([...g.groupOf]).toEqual([0, 1, 0, 2, 1, 3, 2]);
    expect([...g.firstRow]).toEqual([0, 1, 3, 5]);
  });

  it('groupMeans is the plain mean of each group, expandGroupPools copies the group pool to its rows', () => {
    const g = labelSetGroups(csr([[0], [1], [0], [0]], 2));
    const q = Float32Array.from([1, 2, 10, 20, 3, 4, 5, 9]); // 4 rows of 2
    expect([...groupMeans(q, 2, g)]).toEqual([3, 5, 10, 20]);
    expect([...expandGroupPools(Int32Array.from([7, 8, 5, 6]), 2, g)]).toEqual([7, 8, 5, 6, 7, 8, 7, 8]);
  });
});

describe('mining one pool per label set', () => {
  // each synthetic label set given to three points with different features (3 points per set at least)
  const { train: base } = synthesize({ points: 200, testPoints: 10, features: 400, labels: 300, seed: 5 });
  const labelRows = Array.from({ length: 600 }, (_, i) => i % 200);
  const featureRows = Array.from({ length: 600 }, (_, i) => (i < 200 ? i : (i * 7 + 3) % 200));
  const train: Dataset = { ...base, features: selectRows(base.features, featureRows), labels: { ...selectRows(base.labels, labelRows), cols: base.labels.cols } };
  const K = 10;
  const L = base.labels.cols;

  it('gives each point the exact top-K of its group mean, never one of its positives', async () => {
    const pool = await mineFromCentroids(train, L, { poolSize: K, seed: 2, byLabelSet: true });
    const groups = labelSetGroups(train.labels);
    expect(groups.firstRow.length).toBeLessThanOrEqual(200);
    // reference: exact search with the group means over every label's centroid
    const projection = new RandomProjection(train.features.cols, CENTROID_PROJECTION_DIM, 2, { normalize: true });
    const centroids = projectedLabelCentroids(train.features, train.labels, L, projection);
    const means = groupMeans(projection.projectCsr(train.features), CENTROID_PROJECTION_DIM, groups);
    const exact = exactTopK(centroids, L, CENTROID_PROJECTION_DIM, means, groups.firstRow.length, K, selectRows(train.labels, groups.firstRow));
    let hits = 0;
    let found = 0;
    for (let r = 0; r < train.features.rows; r++) {
      const g = groups.groupOf[r];
      const want = new Set<number>();
      // labels without points (near-zero random centroids) are not indexed, so not expected
      for (let j = 0; j < K; j++) if (exact.scores[g * K + j] > 0.01) want.add(exact.labels[g * K + j]);
      const positives = new Set(train.labels.indices.subarray(train.labels.indptr[r], train.labels.indptr[r + 1]));
      for (let j = 0; j < K; j++) {
        const y = pool.labels[r * K + j];
        expect(positives.has(y)).toBe(false);
        if (want.has(y)) hits++;
      }
      found += want.size;
    }
    expect(found).toBeGreaterThan(0);
    expect(hits / found).toBeGreaterThan(0.95);
    // the per-point pools differ: the group's is not any one point's
    const perPoint = await mineFromCentroids(train, L, { poolSize: K, seed: 2 });
    expect(perPoint.labels).not.toEqual(pool.labels);
  });

  it('is the first pool of a job with firstPoolByLabelSet, under a pool key of its own', async () => {
    const config = { ...DEFAULT_TRAIN_CONFIG, poolSize: K, seed: 2 };
    const grouped = await mineFirstPool(train, { ...config, firstPoolByLabelSet: true }, 1);
    expect(grouped.labels).toEqual((await mineFromCentroids(train, L, { poolSize: K, seed: 2, precision: 'int8', byLabelSet: true })).labels);
    const perPoint = { ...config, firstPoolByLabelSet: false };
    expect(grouped.labels).not.toEqual((await mineFirstPool(train, perPoint, 1)).labels);
    expect(firstPoolKey({ ...config, firstPoolByLabelSet: true })).not.toBe(firstPoolKey(perPoint));
  });

  it('is the per-point pool when no two points share their labels', async () => {
    const distinct = labelSetGroups(base.labels).firstRow;
    const unique: Dataset = { ...base, features: selectRows(base.features, distinct), labels: { ...selectRows(base.labels, distinct), cols: L } };
    const grouped = await mineFromCentroids(unique, L, { poolSize: K, seed: 4, byLabelSet: true });
    const perPoint = await mineFromCentroids(unique, L, { poolSize: K, seed: 4 });
    expect(grouped.labels).toEqual(perPoint.labels);
  });
});
