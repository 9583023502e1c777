import { denseTopK, type Precision } from '../ann/dense-search.js';
import { LabelIndex } from '../ann/hnsw-index.js';
import { projectedLabelCentroids } from '../ann/label-centroids.js';
import { expandGroupPools, groupMeans, labelSetGroups } from '../ann/label-set-groups.js';
import { fromSubsetIds, gatherRows, labelsWithPoints, toSubsetIds } from '../ann/label-subset.js';
import { RandomProjection } from '../ann/random-projection.js';
import { ShardedLabelIndex } from '../ann/sharded-index.js';
import { selectRows, type Csr } from '../core/data/csr.js';
import type { Dataset } from '../core/data/dataset.js';
import type { Student } from '../core/model/student.js';
import type { NegativePool } from '../core/model/trainer.js';

/** Dimension of the random projection used for the first pool. */
export const CENTROID_PROJECTION_DIM = 64;

/**
 * Mining index settings. efConstruction 100 would build it 1.7× faster but lose ~1% recall of the
 * pools (bench/hnsw-build.ts, 10^5 labels); once only labels with points are indexed the build is
 * no longer the bulk of mining, so it stays at the published index's 200.
 */
export const MINING_HNSW = { M: 16, efConstruction: 200 };

/**
 * Indexed labels from which the mining index is split into MINING_SHARDS worker threads: both
 * shards build and answer every query in parallel, and the merged pools are closer to exact
 * (each shard searched with the full ef). Below it, starting the workers costs more than it saves.
 */
export const MINING_SHARD_MIN_LABELS = 50_000;
/** Fixed, not the machine's core count: the mined pools must not depend on the machine. */
export const MINING_SHARDS = 2;

/**
 * Up to this many multiply-adds (queries × labels × dim) a pool is mined by exact search on ONNX
 * Runtime's matrix product (dense-search.ts), above it through an HNSW index. Exact search gives
 * every query its true top labels and, up to this size, costs less than building and searching an
 * index: apt-files re-mining per point is 3.5·10^12 (≈ 40 s on 2 cores against 69–96 s through
 * HNSW at recall@64 0.94), its first pool 0.9·10^12 (BENCHMARKS.md section 2c).
 */
export const EXACT_MINING_MAX_MACS = 4e12;


export interface MineOptions {
  poolSize: number;
  seed: number;
  /** HNSW search breadth; raised to poolSize + max positives when smaller. @defaultValue 100 */
  ef?: number;
  /**
   * Shards of the mining index, each built and searched in its own worker thread; 1 = one index
   * on this thread. @defaultValue MINING_SHARDS from MINING_SHARD_MIN_LABELS labels on, else 1
   */
  shards?: number;
  /**
   * One query per distinct positive-label set (the mean of its points' vectors) instead of one per
   * point; every point gets its group's pool. Re-mining by default (remineByLabelSet): in the random
   * projection of the label centroids a set's mean is far from its points (apt-files: recall@64
   * 0.43 against exact per-point pools), in a trained student's space near them (0.91, in 40 % of
   * the time; bench/mining.ts, BENCHMARKS.md section 2c). The first pool's too with firstPoolByLabelSet. @defaultValue false
   */
  byLabelSet?: boolean;
  /** Threads of the exact search (its results do not depend on them). @defaultValue 1 */
  threads?: number;
  /** Largest queries × labels × dim mined exactly. @defaultValue EXACT_MINING_MAX_MACS */
  exactMaxMacs?: number;
  /** The exact search's arithmetic (dense-search.ts). @defaultValue 'float32' */
  precision?: Precision;
}

/** The exact search's arithmetic a job's settings ask for. */
export function miningPrecision(config: { int8Mining: boolean }): Precision {
  return config.int8Mining ? 'int8' : 'float32';
}

/**
 * First pool: label centroids of the training features, randomly projected to a dense space,
 * in an HNSW index; each example's nearest labels that are not its positives. Only labels with
 * training points are indexed: the others have no centroid (just a tiny random vector, inner
 * product ≈ 0), and in a sparse label space they are most labels (10^6-label synth: 84%).
 */
export async function mineFromCentroids(train: Dataset, numLabels: number, opts: MineOptions): Promise<NegativePool> {
  const projection = new RandomProjection(train.features.cols, CENTROID_PROJECTION_DIM, opts.seed, { normalize: true });
  const centroids = projectedLabelCentroids(train.features, train.labels, numLabels, projection);
  const queries = projection.projectCsr(train.features);
  const withPoints = labelsWithPoints(train.labels, numLabels);
  if (withPoints.length === 0) return { size: opts.poolSize, labels: new Int32Array(opts.poolSize * train.features.rows).fill(-1), teacherScores: null };
  if (withPoints.length === numLabels) return mineWithVectors(centroids, numLabels, CENTROID_PROJECTION_DIM, queries, train.labels, opts);
  const subset = gatherRows(centroids, CENTROID_PROJECTION_DIM, withPoints);
  const excluded = toSubsetIds(train.labels, withPoints, numLabels);
  const pool = await mineWithVectors(subset, withPoints.length, CENTROID_PROJECTION_DIM, queries, excluded, opts);
  fromSubsetIds(pool.labels, withPoints);
  return pool;
}

/** Later pools: the student's own label embeddings and query encodings. */
export async function mineFromStudent(student: Student, train: Dataset, opts: MineOptions): Promise<NegativePool> {
  const queries = student.encodeAll(train.features);
  return mineWithVectors(student.V, student.shape.numLabels, student.shape.dim, queries, train.labels, opts);
}

/** vectors: [count, dim]; queries: [excluded.rows, dim]; each query's top poolSize labels not in its excluded row. */
async function mineWithVectors(vectors: Float32Array, count: number, dim: number, queries: Float32Array, excluded: Csr, opts: MineOptions): Promise<NegativePool> {
  const K = opts.poolSize;
  if (opts.byLabelSet) {
    const groups = labelSetGroups(excluded);
    if (groups.firstRow.length < excluded.rows) {
      const means = groupMeans(queries, dim, groups);
      const pool = await mineWithVectors(vectors, count, dim, means, selectRows(excluded, groups.firstRow), { ...opts, byLabelSet: false });
      return { size: K, labels: expandGroupPools(pool.labels, K, groups), teacherScores: null };
    }
  }
  const n = excluded.rows;
  if (n * count * dim <= (opts.exactMaxMacs ?? EXACT_MINING_MAX_MACS)) {
    const { labels } = await denseTopK(vectors, count, dim, queries, n, K, { excluded, threads: opts.threads, precision: opts.precision });
    return { size: K, labels, teacherScores: null };
  }
  const ef = Math.max(opts.ef ?? 100, K);
  const shards = opts.shards ?? (count >= MINING_SHARD_MIN_LABELS ? MINING_SHARDS : 1);
  const params = { M: MINING_HNSW.M, efConstruction: MINING_HNSW.efConstruction, seed: opts.seed };
  if (shards <= 1) {
    const index = LabelIndex.build(vectors, count, dim, params);
    const { labels } = index.searchBatchExcluding(queries, n, K, excluded, { ef });
    return { size: K, labels, teacherScores: null };
  }
  const index = await ShardedLabelIndex.build(vectors, count, dim, { ...params, shards });
  try {
    const { labels } = await index.searchBatchExcluding(queries, n, K, excluded, { ef });
    return { size: K, labels, teacherScores: null };
  } finally {
    await index.close();
  }
}
