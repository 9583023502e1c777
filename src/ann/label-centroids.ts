/**
 * Label representations for the first mining round: the (randomly projected) centroid of the
 * training points carrying each label, unit norm, ready for a maximum-inner-product HNSW index.
 */
import type { Csr } from '../core/data/csr.js';
import { Rng } from '../core/util/rng.js';
import type { RandomProjection } from './random-projection.js';

/** L2 norm of the random vector given to labels without training points. */
export const EMPTY_LABEL_NORM = 1e-3;

/**
 * centroids: [numLabels, projection.outputDim]. One pass over points: each point is projected once
 * (with the projection's own normalize option) and added to each of its labels, then every label
 * row is scaled to unit norm. O(nnz·outDim + points·labelsPerPoint·outDim).
 * Labels with no points (or a zero sum) get a random vector of norm {@link EMPTY_LABEL_NORM}
 * (seeded from projection.seed), so HNSW can hold them and their inner products stay ≈ 0.
 */
export function projectedLabelCentroids(
  features: Csr,
  labels: Csr,
  numLabels: number,
  projection: RandomProjection,
): Float32Array {
  if (features.rows !== labels.rows) {
    throw new RangeError(`features has ${features.rows} rows, labels ${labels.rows}`);
  }
  if (labels.cols > numLabels) throw new RangeError(`labels has ${labels.cols} columns > numLabels ${numLabels}`);
  if (features.cols > projection.inputDim) {
    throw new RangeError(`features has ${features.cols} columns, projection input dim is ${projection.inputDim}`);
  }
  const d = projection.outputDim;
  const out = new Float32Array(numLabels * d);
  const point = new Float32Array(d);
  const { indptr: fp, indices: fi, values: fv } = features;
  const { indptr: lp, indices: li } = labels;
  for (let r = 0; r < features.rows; r++) {
    const l0 = lp[r];
    const l1 = lp[r + 1];
    if (l0 === l1) continue;
    projection.projectSparseInto(fi, fv, fp[r], fp[r + 1], point, 0);
    for (let p = l0; p < l1; p++) {
      const o = li[p] * d;
      for (let j = 0; j < d; j++) out[o + j] += point[j];
    }
  }
  let rng: Rng | null = null;
  for (let l = 0; l < numLabels; l++) {
    const o = l * d;
    let ss = 0;
    for (let j = 0; j < d; j++) ss += out[o + j] * out[o + j];
    if (ss > 0) {
      const inv = 1 / Math.sqrt(ss);
      for (let j = 0; j < d; j++) out[o + j] *= inv;
      continue;
    }
    rng ??= new Rng((projection.seed ^ 0x5bd1e995) >>> 0);
    ss = 0;
    for (let j = 0; j < d; j++) {
      const v = rng.normal();
      out[o + j] = v;
      ss += v * v;
    }
    const scale = EMPTY_LABEL_NORM / Math.sqrt(ss);
    for (let j = 0; j < d; j++) out[o + j] *= scale;
  }
  return out;
}
