/**
 * A teacher `distilxr teacher fit` wrote, scored in JavaScript from its own weights (read back by
 * sparse-linear-read.ts): the function its ONNX graph computes, Σ_f W[y, f]·x_f / ‖x‖ + b_y.
 * For scoring every label of many rows (the test split's teacher metrics): the graph looks up
 * each (row, label, feature) in a hash map, 11.1 s for Delicious' 3,185 × 983 pairs, where the
 * feature-major sum visits only the weights a row's features touch. Sums in another order than
 * ONNX Runtime, so a score may differ in its last bits: training pairs keep the ONNX model.
 */
import type { Csr } from '../core/data/csr.js';
import type { CandidateScorer } from './onnx-teacher.js';
import { readSparseLinearTeacher } from './sparse-linear-read.js';
import { AllLabelScorer, type SparseLinearModel } from './sparse-linear-model.js';

export class SparseLinearScorer implements CandidateScorer {
  private readonly all: AllLabelScorer;

  constructor(readonly model: SparseLinearModel) {
    this.all = new AllLabelScorer(model);
  }

  /** The teacher at `path` when it is one `teacher fit` wrote for `numFeatures` features and at least `numLabels` labels; else null. */
  static async read(path: string, numFeatures: number, numLabels: number): Promise<SparseLinearScorer | null> {
    const model = await readSparseLinearTeacher(path);
    return model && model.numFeatures === numFeatures && model.numLabels >= numLabels ? new SparseLinearScorer(model) : null;
  }

  async scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr): Promise<Float32Array> {
    if (candidates.rows !== examples.length) throw new RangeError(`candidates has ${candidates.rows} rows but there are ${examples.length} examples`);
    const cp = candidates.indptr;
    const ci = candidates.indices;
    const base = cp[0];
    const out = new Float32Array(cp[candidates.rows] - base);
    const L = this.model.numLabels;
    for (let i = 0; i < examples.length; i++) {
      const e = examples[i];
      if (!(e >= 0 && e < features.rows)) throw new RangeError(`example ${e} out of range [0, ${features.rows})`);
      this.all.score(features.indices, features.values, features.indptr[e], features.indptr[e + 1]);
      for (let p = cp[i]; p < cp[i + 1]; p++) {
        const y = ci[p];
        if (!(y >= 0 && y < L)) throw new RangeError(`candidate label ${y} is out of range: the teacher has ${L} labels`);
        out[p - base] = this.all.scoreOf(y);
      }
    }
    return out;
  }
}
