import { LabelIndex } from '../ann/hnsw-index.js';
import { projectedLabelCentroids } from '../ann/label-centroids.js';
import { RandomProjection } from '../ann/random-projection.js';
import type { Dataset } from '../core/dataset.js';
import type { Student } from '../core/student.js';
import type { NegativePool } from '../core/trainer.js';

/** Dimension of the random projection used for the first pool. */
export const CENTROID_PROJECTION_DIM = 64;

export interface MineOptions {
  poolSize: number;
  seed: number;
  /** HNSW search breadth; raised to poolSize + max positives when smaller. @defaultValue 100 */
  ef?: number;
}

/**
 * First pool: label centroids of the training features, randomly projected to a dense space,
 * in an HNSW index; each example's nearest labels that are not its positives.
 */
export function mineFromCentroids(train: Dataset, numLabels: number, opts: MineOptions): NegativePool {
  const projection = new RandomProjection(train.features.cols, CENTROID_PROJECTION_DIM, opts.seed, { normalize: true });
  const centroids = projectedLabelCentroids(train.features, train.labels, numLabels, projection);
  const queries = projection.projectCsr(train.features);
  return mineWithVectors(centroids, numLabels, CENTROID_PROJECTION_DIM, queries, train, opts);
}

/** Later pools: the student's own label embeddings and query encodings. */
export function mineFromStudent(student: Student, train: Dataset, opts: MineOptions): NegativePool {
  const queries = student.encodeAll(train.features);
  return mineWithVectors(student.V, student.shape.numLabels, student.shape.dim, queries, train, opts);
}

function mineWithVectors(vectors: Float32Array, count: number, dim: number, queries: Float32Array, train: Dataset, opts: MineOptions): NegativePool {
  const K = opts.poolSize;
  const index = LabelIndex.build(vectors, count, dim, { seed: opts.seed });
  index.setEf(Math.max(opts.ef ?? 100, K));
  const { labels } = index.searchBatchExcluding(queries, train.features.rows, K, train.labels);
  return { size: K, labels, teacherScores: null };
}
