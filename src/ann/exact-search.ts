/**
 * Brute-force maximum inner product search: the reference the HNSW index is checked against, and
 * the exact evaluation path. Blockwise (a block of queries × a block of labels whose vectors stay
 * in cache), merged into each query's running top-k with topKMergeInto. Allocates only per call.
 */
import type { Csr } from '../core/data/csr.js';
import { topKMergeInto } from '../core/model/metrics.js';

const QUERY_BLOCK = 16;
const LABEL_BLOCK = 512;

/**
 * Top-k labels by inner product for each query.
 * vectors: [count, dim], queries: [n, dim] → labels/scores: [n, k], best first, ties to the lower
 * label; slots beyond the available labels hold −1 / −Infinity. `excluded` (n rows, optional) lists
 * per query the labels never to return.
 */
export function exactTopK(
  vectors: Float32Array,
  count: number,
  dim: number,
  queries: Float32Array,
  n: number,
  k: number,
  excluded?: Csr,
): { labels: Int32Array; scores: Float32Array } {
  if (vectors.length < count * dim) throw new RangeError(`vectors hold ${vectors.length} < ${count}×${dim} values`);
  if (queries.length < n * dim) throw new RangeError(`queries hold ${queries.length} < ${n}×${dim} values`);
  if (excluded && excluded.rows < n) throw new RangeError(`excluded has ${excluded.rows} rows, need ${n}`);
  const labels = new Int32Array(n * k).fill(-1);
  const scores = new Float32Array(n * k).fill(-Infinity);
  if (k <= 0) return { labels, scores };

  const block = new Float32Array(QUERY_BLOCK * LABEL_BLOCK); // [queries in block, labels in block]
  const filled = new Int32Array(QUERY_BLOCK);
  const exPtr = new Int32Array(QUERY_BLOCK); // next unconsumed entry of each query's excluded row

  for (let q0 = 0; q0 < n; q0 += QUERY_BLOCK) {
    const qb = Math.min(QUERY_BLOCK, n - q0);
    filled.fill(0);
    if (excluded) for (let a = 0; a < qb; a++) exPtr[a] = excluded.indptr[q0 + a];
    for (let l0 = 0; l0 < count; l0 += LABEL_BLOCK) {
      const lb = Math.min(LABEL_BLOCK, count - l0);
      const l1 = l0 + lb;
      for (let a = 0; a < qb; a++) {
        const qo = (q0 + a) * dim;
        const bo = a * LABEL_BLOCK;
        // four labels per pass: each query value is loaded once for four dot products
        let b = 0;
        for (; b + 4 <= lb; b += 4) {
          const v0 = (l0 + b) * dim;
          const v1 = v0 + dim;
          const v2 = v1 + dim;
          const v3 = v2 + dim;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          let s3 = 0;
          for (let d = 0; d < dim; d++) {
            const x = queries[qo + d];
            s0 += x * vectors[v0 + d];
            s1 += x * vectors[v1 + d];
            s2 += x * vectors[v2 + d];
            s3 += x * vectors[v3 + d];
          }
          block[bo + b] = s0;
          block[bo + b + 1] = s1;
          block[bo + b + 2] = s2;
          block[bo + b + 3] = s3;
        }
        for (; b < lb; b++) {
          const vo = (l0 + b) * dim;
          let s = 0;
          for (let d = 0; d < dim; d++) s += queries[qo + d] * vectors[vo + d];
          block[bo + b] = s;
        }
        if (excluded) {
          const end = excluded.indptr[q0 + a + 1];
          let p = exPtr[a];
          const ex = excluded.indices;
          while (p < end && ex[p] < l0) p++;
          for (; p < end && ex[p] < l1; p++) block[bo + ex[p] - l0] = -Infinity;
          exPtr[a] = p;
        }
        filled[a] = topKMergeInto(block, bo, lb, l0, k, labels, scores, (q0 + a) * k, filled[a]);
      }
    }
  }
  return { labels, scores };
}
