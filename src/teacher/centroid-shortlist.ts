/**
 * Label centroids over L2-normalised rows, and the shortlist they give: per row, the labels whose
 * centroid is closest (cosine), positives left out. The shortlist is where a one-vs-rest
 * classifier finds its hard negatives (PECOS's matcher-aware negatives without the tree): a label
 * trains on its positives and on the rows that would confuse it, not on every row.
 */
import { CsrBuilder, type Csr } from '../core/data/csr.js';
import { AllLabelScorer, SparseLinearModel } from './sparse-linear-model.js';

/**
 * Unit-length centroid of each label's rows among `rows`, as a linear model with zero bias. Each
 * feature keeps its `maxPerFeature` largest-weight labels, so a feature in every label ("usr")
 * does not make scoring quadratic.
 */
export function labelCentroids(features: Csr, labels: Csr, numLabels: number, rows: Int32Array, maxPerFeature: number): SparseLinearModel {
  const D = features.cols;
  // label → its rows
  const indptr = new Int32Array(numLabels + 1);
  for (const i of rows) for (let p = labels.indptr[i]; p < labels.indptr[i + 1]; p++) if (labels.indices[p] < numLabels) indptr[labels.indices[p] + 1]++;
  for (let y = 0; y < numLabels; y++) indptr[y + 1] += indptr[y];
  const fill = indptr.slice(0, numLabels);
  const members = new Int32Array(indptr[numLabels]);
  for (const i of rows) for (let p = labels.indptr[i]; p < labels.indptr[i + 1]; p++) if (labels.indices[p] < numLabels) members[fill[labels.indices[p]]++] = i;

  const acc = new Float64Array(D);
  const mark = new Uint8Array(D);
  const list = new Int32Array(D);
  const out = new CsrBuilder(true, numLabels, 1 << 16);
  for (let y = 0; y < numLabels; y++) {
    let nt = 0;
    for (let m = indptr[y]; m < indptr[y + 1]; m++) {
      const i = members[m];
      const s = features.indptr[i];
      const e = features.indptr[i + 1];
      const inv = SparseLinearModel.inverseNorm(features.values, s, e);
      for (let p = s; p < e; p++) {
        const f = features.indices[p];
        if (!mark[f]) {
          mark[f] = 1;
          list[nt++] = f;
        }
        acc[f] += (features.values ? features.values[p] : 1) * inv;
      }
    }
    let norm = 0;
    for (let j = 0; j < nt; j++) norm += acc[list[j]] * acc[list[j]];
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    list.subarray(0, nt).sort();
    for (let j = 0; j < nt; j++) {
      const f = list[j];
      out.push(f, acc[f] * inv);
      acc[f] = 0;
      mark[f] = 0;
    }
    out.endRow();
  }
  const full = out.build(D);
  return new SparseLinearModel(D, numLabels, capPerFeature(full, D, maxPerFeature), new Float32Array(numLabels));
}

/** Keeps, for each feature, its `cap` largest weights (label-major in, label-major out). */
function capPerFeature(W: Csr, D: number, cap: number): Csr {
  const perFeature = new Int32Array(D);
  const n = W.indptr[W.rows];
  for (let p = 0; p < n; p++) perFeature[W.indices[p]]++;
  // threshold per crowded feature: the cap-th largest weight
  const minKeep = new Float32Array(D).fill(-Infinity);
  const crowded: number[] = [];
  for (let f = 0; f < D; f++) if (perFeature[f] > cap) crowded.push(f);
  if (!crowded.length) return W;
  const slot = new Int32Array(D).fill(-1);
  crowded.forEach((f, j) => {
    slot[f] = j;
  });
  const buckets = crowded.map((f) => new Float32Array(perFeature[f]));
  const used = new Int32Array(crowded.length);
  for (let p = 0; p < n; p++) {
    const j = slot[W.indices[p]];
    if (j >= 0) buckets[j][used[j]++] = W.values![p];
  }
  crowded.forEach((f, j) => {
    const b = buckets[j].sort();
    minKeep[f] = b[b.length - cap];
  });
  const out = new CsrBuilder(true, W.rows, n);
  for (let y = 0; y < W.rows; y++) {
    for (let p = W.indptr[y]; p < W.indptr[y + 1]; p++) if (W.values![p] >= minKeep[W.indices[p]]) out.push(W.indices[p], W.values![p]);
    out.endRow();
  }
  return out.build(W.cols);
}

/**
 * Per row of `rows` (in that order), the `k` labels the centroids score highest, its own labels
 * excluded: [rows.length, L] with rows indexed like `features` when `rows` is every row.
 */
export function centroidShortlist(centroids: SparseLinearModel, features: Csr, labels: Csr, k: number, onRow?: (done: number, total: number) => void): Csr {
  const N = features.rows;
  const scorer = new AllLabelScorer(centroids);
  const top = new Int32Array(k + 64);
  const topScores = new Float32Array(k + 64);
  const out = new CsrBuilder(false, N, N * k);
  const keep = new Int32Array(k);
  for (let i = 0; i < N; i++) {
    const l0 = labels.indptr[i];
    const l1 = labels.indptr[i + 1];
    const want = Math.min(top.length, k + (l1 - l0));
    scorer.score(features.indices, features.values, features.indptr[i], features.indptr[i + 1]);
    scorer.touchedOnlyTopK(want, top, topScores, 0);
    let n = 0;
    for (let r = 0; r < want && n < k; r++) {
      const y = top[r];
      if (y < 0) break;
      let positive = false;
      for (let p = l0; p < l1; p++) if (labels.indices[p] === y) positive = true;
      if (!positive) keep[n++] = y;
    }
    keep.subarray(0, n).sort();
    for (let j = 0; j < n; j++) out.push(keep[j]);
    out.endRow();
    if (onRow && ((i + 1) % 4096 === 0 || i + 1 === N)) onRow(i + 1, N);
  }
  return out.build(centroids.numLabels);
}
