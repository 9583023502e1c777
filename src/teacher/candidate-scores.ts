/**
 * A linear teacher's scores over each row's candidate labels: every label when the teacher was
 * trained one-vs-all, else the row's centroid shortlist (the labels its classifiers were trained
 * to tell apart, PECOS's beam), plus extra labels (positives) when asked.
 */
import { CsrBuilder, type Csr } from '../core/data/csr.js';
import { topKInto } from '../core/model/metrics.js';
import { AllLabelScorer, type SparseLinearModel } from './sparse-linear-model.js';

/** Candidates per row as CSR (labels sorted within a row) and their scores, aligned. */
export interface RowScores {
  candidates: Csr;
  scores: Float32Array;
}

/**
 * Scores rows `rows` of `features` against their candidates: all labels when `shortlist` is null,
 * else shortlist row r ∪ extra row r (rows of `shortlist`/`extra` follow `rows`' order).
 */
export function scoreRows(model: SparseLinearModel, features: Csr, rows: Int32Array, shortlist: Csr | null, extra: Csr | null = null): RowScores {
  const L = model.numLabels;
  const scorer = new AllLabelScorer(model);
  const out = new CsrBuilder(false, rows.length, rows.length * (shortlist ? 64 : L));
  let scores = new Float32Array(rows.length * (shortlist ? 64 : L));
  let size = 0;
  const isTouched = new Uint8Array(L);
  const merged = new Int32Array(L);
  for (let r = 0; r < rows.length; r++) {
    const i = rows[r];
    scorer.score(features.indices, features.values, features.indptr[i], features.indptr[i + 1]);
    for (let t = 0; t < scorer.count; t++) isTouched[scorer.touched[t]] = 1;
    let n = 0;
    if (!shortlist) for (let y = 0; y < L; y++) merged[n++] = y;
    else n = mergeRows(shortlist, extra, r, merged);
    if (size + n > scores.length) {
      const grown = new Float32Array(Math.max(size + n, scores.length * 2));
      grown.set(scores);
      scores = grown;
    }
    for (let j = 0; j < n; j++) {
      const y = merged[j];
      out.push(y);
      scores[size++] = isTouched[y] ? scorer.acc[y] : model.bias[y];
    }
    out.endRow();
    for (let t = 0; t < scorer.count; t++) isTouched[scorer.touched[t]] = 0;
  }
  return { candidates: out.build(L), scores: scores.slice(0, size) };
}

/** Sorted union of row r of a and (when given) b into out; returns its length. */
function mergeRows(a: Csr, b: Csr | null, r: number, out: Int32Array): number {
  let p = a.indptr[r];
  const pe = a.indptr[r + 1];
  let q = b ? b.indptr[r] : 0;
  const qe = b ? b.indptr[r + 1] : 0;
  let n = 0;
  while (p < pe || q < qe) {
    const x = p < pe ? a.indices[p] : Infinity;
    const y = q < qe ? b!.indices[q] : Infinity;
    if (x === y) {
      out[n++] = x;
      p++;
      q++;
    } else if (x < y) out[n++] = a.indices[p++];
    else out[n++] = b!.indices[q++];
  }
  return n;
}

/** Top k candidate labels per row, best first, -1 padded: [rows, k]. */
export function topKOfRows(rs: RowScores, k: number): { labels: Int32Array; scores: Float32Array } {
  const { candidates: c, scores } = rs;
  const labels = new Int32Array(c.rows * k);
  const top = new Float32Array(c.rows * k);
  for (let r = 0; r < c.rows; r++) {
    const s = c.indptr[r];
    const n = c.indptr[r + 1] - s;
    topKInto(scores, s, n, k, labels, top, r * k);
    for (let j = 0; j < k; j++) if (labels[r * k + j] >= 0) labels[r * k + j] = c.indices[s + labels[r * k + j]];
  }
  return { labels, scores: top };
}

/** 1 where a candidate is one of the row's true labels (rows of `truth` follow `rows`). */
export function positiveMask(rs: RowScores, truth: Csr, rows: Int32Array): Uint8Array {
  const c = rs.candidates;
  const mask = new Uint8Array(c.indptr[c.rows]);
  for (let r = 0; r < c.rows; r++) {
    const i = rows[r];
    for (let p = c.indptr[r]; p < c.indptr[r + 1]; p++) {
      for (let q = truth.indptr[i]; q < truth.indptr[i + 1]; q++) if (truth.indices[q] === c.indices[p]) mask[p] = 1;
    }
  }
  return mask;
}
