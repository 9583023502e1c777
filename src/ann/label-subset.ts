/**
 * Indexing a subset of the labels: the labels' rows gathered into one compact array, label ids
 * translated to subset positions for the excluded lists and back for the results. Used by mining,
 * whose centroid index skips labels without training points (their "centroid" is only a tiny
 * random vector: never a useful hard negative, and most of a sparse label space's index build).
 */
import { labelCounts, type Csr } from '../core/data/csr.js';

/** Labels (< numLabels) that carry at least one row of `labels`, ascending. */
export function labelsWithPoints(labels: Csr, numLabels: number): Int32Array {
  const counts = labelCounts(labels, numLabels);
  let count = 0;
  for (let l = 0; l < numLabels; l++) if (counts[l] > 0) count++;
  const out = new Int32Array(count);
  for (let l = 0, w = 0; l < numLabels; l++) if (counts[l] > 0) out[w++] = l;
  return out;
}

/** Rows `ids` of vectors [*, dim]: [ids.length, dim]. */
export function gatherRows(vectors: Float32Array, dim: number, ids: Int32Array): Float32Array {
  const out = new Float32Array(ids.length * dim);
  for (let j = 0; j < ids.length; j++) out.set(vectors.subarray(ids[j] * dim, ids[j] * dim + dim), j * dim);
  return out;
}

/**
 * `excluded` (label ids, rows sorted) with every label replaced by its position in the ascending
 * `ids`; labels not in `ids` are dropped. The map is increasing, so rows stay sorted.
 */
export function toSubsetIds(excluded: Csr, ids: Int32Array, numLabels: number): Csr {
  const position = new Int32Array(numLabels).fill(-1);
  for (let j = 0; j < ids.length; j++) position[ids[j]] = j;
  const { rows, indptr, indices } = excluded;
  const outPtr = new Int32Array(rows + 1);
  const outIdx = new Int32Array(indptr[rows]);
  let w = 0;
  for (let r = 0; r < rows; r++) {
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const l = indices[p];
      const j = l >= 0 && l < numLabels ? position[l] : -1;
      if (j >= 0) outIdx[w++] = j;
    }
    outPtr[r + 1] = w;
  }
  return { rows, cols: ids.length, indptr: outPtr, indices: outIdx.subarray(0, w), values: null };
}

/** In place: subset positions → label ids; −1 (no result) stays. */
export function fromSubsetIds(results: Int32Array, ids: Int32Array): void {
  for (let i = 0; i < results.length; i++) if (results[i] >= 0) results[i] = ids[results[i]];
}
