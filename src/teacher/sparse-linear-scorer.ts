/**
 * A teacher `distilxr teacher fit` wrote, scored in JavaScript from its own weights (read back by
 * sparse-linear-read.ts): the function its ONNX graph computes, Σ_f W[y, f]·x_f / ‖x‖ + b_y.
 * The graph looks up each (row, label, feature) in a hash map: 11.1 s for Delicious' 3,185 × 983
 * pairs of the test split's teacher metrics, where the feature-major sum visits only the weights a
 * row's features touch. Candidate pairs (training) read a dense label-major copy of W when it is
 * small enough, one multiply-add per (pair, feature of the row): 1.07 M Delicious pool pairs in
 * 0.074 s against 2.26 s through ONNX Runtime (bench/weights-scoring.ts). Sums in another order than ONNX Runtime, so a score
 * may differ in its last bits (≤ 1e-6 there): a job scores all its pairs one way (teacherWeights).
 */
import type { Csr } from '../core/data/csr.js';
import type { CandidateScorer } from './onnx-teacher.js';
import { readSparseLinearTeacher } from './sparse-linear-read.js';
import { AllLabelScorer, SparseLinearModel } from './sparse-linear-model.js';

/** Largest dense copy of W (labels × features floats, 64 MiB) candidate pairs are scored from. */
export const DENSE_WEIGHTS_MAX = 1 << 24;

export class SparseLinearScorer implements CandidateScorer {
  private readonly all: AllLabelScorer;
  private dense: Float32Array | null | undefined;

  constructor(
    readonly model: SparseLinearModel,
    /** Largest dense copy of W made, in floats (0: score every pair through the sparse weights). */
    private readonly denseMax = DENSE_WEIGHTS_MAX,
  ) {
    this.all = new AllLabelScorer(model);
  }

  /** The teacher at `path` when it is one `teacher fit` wrote for `numFeatures` features and at least `numLabels` labels; else null. */
  static async read(path: string, numFeatures: number, numLabels: number, denseMax = DENSE_WEIGHTS_MAX): Promise<SparseLinearScorer | null> {
    const model = await readSparseLinearTeacher(path);
    return model && model.numFeatures === numFeatures && model.numLabels >= numLabels ? new SparseLinearScorer(model, denseMax) : null;
  }

  async scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr): Promise<Float32Array> {
    if (candidates.rows !== examples.length) throw new RangeError(`candidates has ${candidates.rows} rows but there are ${examples.length} examples`);
    const cp = candidates.indptr;
    const ci = candidates.indices;
    const base = cp[0];
    const out = new Float32Array(cp[candidates.rows] - base);
    const L = this.model.numLabels;
    const dense = this.denseWeights();
    for (let i = 0; i < examples.length; i++) {
      const e = examples[i];
      if (!(e >= 0 && e < features.rows)) throw new RangeError(`example ${e} out of range [0, ${features.rows})`);
      for (let p = cp[i]; p < cp[i + 1]; p++) {
        if (!(ci[p] >= 0 && ci[p] < L)) throw new RangeError(`candidate label ${ci[p]} is out of range: the teacher has ${L} labels`);
      }
      if (dense) this.pairsFromDense(dense, features, e, ci, cp[i], cp[i + 1], out, base);
      else {
        this.all.score(features.indices, features.values, features.indptr[e], features.indptr[e + 1]);
        for (let p = cp[i]; p < cp[i + 1]; p++) out[p - base] = this.all.scoreOf(ci[p]);
      }
    }
    return out;
  }

  /** Candidates [from, to) of row e: Σ_f W[y, f]·x_f / ‖x‖ + b_y, W read from its dense copy. */
  private pairsFromDense(dense: Float32Array, features: Csr, e: number, labels: Int32Array, from: number, to: number, out: Float32Array, base: number): void {
    const D = this.model.numFeatures;
    const { indices, values } = features;
    const start = features.indptr[e];
    const end = features.indptr[e + 1];
    const inv = SparseLinearModel.inverseNorm(values, start, end);
    for (let p = from; p < to; p++) {
      const y = labels[p];
      const row = y * D;
      let s = 0;
      for (let q = start; q < end; q++) {
        const f = indices[q];
        if (f < D) s += dense[row + f] * (values ? values[q] : 1);
      }
      out[p - base] = s * inv + this.model.bias[y];
    }
  }

  /** W as a dense [L, D] array, made on first use; null when it would exceed denseMax floats. */
  private denseWeights(): Float32Array | null {
    if (this.dense !== undefined) return this.dense;
    const { numLabels: L, numFeatures: D, weights: W } = this.model;
    if (L * D > this.denseMax) return (this.dense = null);
    const dense = new Float32Array(L * D);
    for (let y = 0; y < L; y++) for (let p = W.indptr[y]; p < W.indptr[y + 1]; p++) dense[y * D + W.indices[p]] = W.values![p];
    return (this.dense = dense);
  }
}
