import { CsrBuilder } from '../core/data/csr.js';
import type { Csr } from '../core/data/csr.js';

/**
 * A sparse one-vs-rest linear scorer over L2-normalised inputs:
 *   score(x, y) = Σ_f W[y, f] · x_f / ‖x‖ + b_y
 * W is stored label-major (one sparse row per label, as the solver writes it) and, for
 * prediction, feature-major (the labels each feature votes for), built once on demand.
 */
export class SparseLinearModel {
  private byFeature: Csr | null = null;
  /** Labels by bias, highest first: the answer for labels no input feature touches. */
  private biasOrder: Int32Array | null = null;

  constructor(
    readonly numFeatures: number,
    readonly numLabels: number,
    /** [L, D] label-major weights, values present. */
    readonly weights: Csr,
    /** [L] */
    readonly bias: Float32Array,
  ) {}

  get nnz(): number {
    return this.weights.indptr[this.weights.rows];
  }

  /** 1/‖x‖ of sparse row [start, end) (0 for an empty row). */
  static inverseNorm(values: Float32Array | null, start: number, end: number): number {
    let s = 0;
    for (let p = start; p < end; p++) {
      const v = values ? values[p] : 1;
      s += v * v;
    }
    return s > 0 ? 1 / Math.sqrt(s) : 0;
  }

  /** Feature-major copy of W: for feature f, the labels with a weight on it. */
  featureMajor(): Csr {
    if (this.byFeature) return this.byFeature;
    const W = this.weights;
    const D = this.numFeatures;
    const n = W.indptr[W.rows];
    const indptr = new Int32Array(D + 1);
    for (let p = 0; p < n; p++) indptr[W.indices[p] + 1]++;
    for (let f = 0; f < D; f++) indptr[f + 1] += indptr[f];
    const fill = indptr.slice(0, D);
    const indices = new Int32Array(n);
    const values = new Float32Array(n);
    for (let y = 0; y < W.rows; y++) {
      for (let p = W.indptr[y]; p < W.indptr[y + 1]; p++) {
        const q = fill[W.indices[p]]++;
        indices[q] = y;
        values[q] = W.values![p];
      }
    }
    this.byFeature = { rows: D, cols: this.numLabels, indptr, indices, values };
    return this.byFeature;
  }

  labelsByBias(): Int32Array {
    if (this.biasOrder) return this.biasOrder;
    const order = new Int32Array(this.numLabels);
    for (let y = 0; y < order.length; y++) order[y] = y;
    this.biasOrder = order.sort((a, b) => this.bias[b] - this.bias[a] || a - b);
    return this.biasOrder;
  }

  /** Score of one (row, label) pair: a sorted-merge of the row and the label's weights. */
  scorePair(indices: Int32Array, values: Float32Array | null, start: number, end: number, label: number, invNorm: number): number {
    const W = this.weights;
    let p = start;
    let q = W.indptr[label];
    const qEnd = W.indptr[label + 1];
    let s = 0;
    while (p < end && q < qEnd) {
      const a = indices[p];
      const b = W.indices[q];
      if (a === b) {
        s += (values ? values[p] : 1) * W.values![q];
        p++;
        q++;
      } else if (a < b) p++;
      else q++;
    }
    return s * invNorm + this.bias[label];
  }
}

/**
 * Per-query scratch for scoring every label of one sparse row through the feature-major weights:
 * only the labels some feature touches are visited; the rest score their bias.
 */
export class AllLabelScorer {
  readonly acc: Float32Array; // [L], bias + Σ; valid for `touched[0..count)`
  readonly touched: Int32Array;
  private readonly seen: Uint8Array;
  count = 0;

  constructor(private readonly model: SparseLinearModel) {
    this.acc = new Float32Array(model.numLabels);
    this.touched = new Int32Array(model.numLabels);
    this.seen = new Uint8Array(model.numLabels);
  }

  /** Accumulates the scores of row [start, end); labels touched are touched[0..count). */
  score(indices: Int32Array, values: Float32Array | null, start: number, end: number): void {
    for (let i = 0; i < this.count; i++) this.seen[this.touched[i]] = 0;
    this.count = 0;
    const F = this.model.featureMajor();
    const bias = this.model.bias;
    const inv = SparseLinearModel.inverseNorm(values, start, end);
    for (let p = start; p < end; p++) {
      const f = indices[p];
      if (f >= F.rows) continue;
      const x = (values ? values[p] : 1) * inv;
      for (let q = F.indptr[f]; q < F.indptr[f + 1]; q++) {
        const y = F.indices[q];
        if (!this.seen[y]) {
          this.seen[y] = 1;
          this.touched[this.count++] = y;
          this.acc[y] = bias[y];
        }
        this.acc[y] += x * F.values![q];
      }
    }
  }

  /** Score of label y for the last scored row: its accumulated score, or its bias when no feature touched it. */
  scoreOf(y: number): number {
    return this.seen[y] ? this.acc[y] : this.model.bias[y];
  }

  /**
   * Top k labels of the last scored row into outLabels/outScores[off ..), best first (ties: lower
   * label). Untouched labels compete with their bias alone.
   */
  topK(k: number, outLabels: Int32Array, outScores: Float32Array, off: number): void {
    let filled = this.touchedOnlyTopK(k, outLabels, outScores, off);
    const order = this.model.labelsByBias();
    let added = 0;
    for (let r = 0; r < order.length && added < k; r++) {
      const y = order[r];
      if (this.seen[y]) continue;
      filled = pushTopK(y, this.model.bias[y], k, filled, outLabels, outScores, off);
      added++;
    }
    for (let j = filled; j < k; j++) {
      outLabels[off + j] = -1;
      outScores[off + j] = -Infinity;
    }
  }

  /** Top k among the labels the last row touched (the rest left unfilled); returns how many. */
  touchedOnlyTopK(k: number, outLabels: Int32Array, outScores: Float32Array, off: number): number {
    let filled = 0;
    for (let i = 0; i < this.count; i++) filled = pushTopK(this.touched[i], this.acc[this.touched[i]], k, filled, outLabels, outScores, off);
    for (let j = filled; j < k; j++) outLabels[off + j] = -1;
    return filled;
  }
}

/** Inserts (y, s) into a best-first top-k buffer holding `filled` entries; returns the new fill. */
export function pushTopK(y: number, s: number, k: number, filled: number, labels: Int32Array, scores: Float32Array, off: number): number {
  let j: number;
  if (filled < k) j = off + filled++;
  else {
    j = off + k - 1;
    if (!(s > scores[j] || (s === scores[j] && y < labels[j]))) return filled;
  }
  while (j > off && (scores[j - 1] < s || (scores[j - 1] === s && labels[j - 1] > y))) {
    scores[j] = scores[j - 1];
    labels[j] = labels[j - 1];
    j--;
  }
  scores[j] = s;
  labels[j] = y;
  return filled;
}

/** The mean of K models over the same labels and features: a linear model again (bagging). */
export function averageModels(models: SparseLinearModel[]): SparseLinearModel {
  return weightedSum(models, models.map(() => 1 / models.length));
}

/** Σ_k weights[k] · models[k] over the same labels and features: a linear model again. */
export function weightedSum(models: SparseLinearModel[], weights: number[]): SparseLinearModel {
  const first = models[0];
  const D = first.numFeatures;
  const L = first.numLabels;
  const acc = new Float64Array(D);
  const mark = new Uint8Array(D);
  const list = new Int32Array(D);
  const out = new CsrBuilder(true, L, models.reduce((s, m) => s + m.nnz, 0));
  const bias = new Float32Array(L);
  for (let y = 0; y < L; y++) {
    let nt = 0;
    let b = 0;
    models.forEach((m, k) => {
      const W = m.weights;
      const c = weights[k];
      b += c * m.bias[y];
      for (let p = W.indptr[y]; p < W.indptr[y + 1]; p++) {
        const f = W.indices[p];
        if (!mark[f]) {
          mark[f] = 1;
          list[nt++] = f;
        }
        acc[f] += c * W.values![p];
      }
    });
    list.subarray(0, nt).sort();
    for (let j = 0; j < nt; j++) {
      const f = list[j];
      out.push(f, acc[f]);
      acc[f] = 0;
      mark[f] = 0;
    }
    out.endRow();
    bias[y] = b;
  }
  return new SparseLinearModel(D, L, out.build(D), bias);
}
