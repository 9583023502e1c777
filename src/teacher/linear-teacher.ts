import type { Csr } from '../core/csr.js';
import { NumericError } from '../core/errors.js';
import { SparseAdagrad } from '../core/optimizer.js';
import { Rng } from '../core/rng.js';
import { softmaxInto } from '../core/softmax.js';
import { labelLogFrequencies } from '../core/trainer.js';

/** Full-rank linear teacher: logits(x) = Wᵀx + b over all L labels. */
export class LinearTeacher {
  constructor(
    readonly inputDim: number,
    readonly numLabels: number,
    readonly W: Float32Array, // [D, L]
    readonly b: Float32Array, // [L]
  ) {}

  static zeros(inputDim: number, numLabels: number): LinearTeacher {
    return new LinearTeacher(inputDim, numLabels, new Float32Array(inputDim * numLabels), new Float32Array(numLabels));
  }

  /** Writes the L logits of sparse row [start, end) into out[outOffset..]. */
  logitsInto(indices: Int32Array, values: Float32Array | null, start: number, end: number, out: Float32Array, outOffset = 0): void {
    const L = this.numLabels;
    const W = this.W;
    for (let y = 0; y < L; y++) out[outOffset + y] = this.b[y];
    for (let p = start; p < end; p++) {
      const f = indices[p];
      if (f >= this.inputDim) continue;
      const x = values ? values[p] : 1;
      const base = f * L;
      for (let y = 0; y < L; y++) out[outOffset + y] += x * W[base + y];
    }
  }
}

export interface LinearFitOptions {
  /** @defaultValue 30 */
  maxEpochs: number;
  /** Adagrad learning rate. @defaultValue 0.1 */
  lr: number;
  /** Share of the training data held out to pick the epoch count. @defaultValue 0.1 */
  validationFraction: number;
  /** Epochs without validation P@1 gain before stopping. @defaultValue 3 */
  patience: number;
  seed: number;
  onEpoch?: (info: { phase: 'select' | 'final'; epoch: number; loss: number; validationP1?: number }) => void;
}

export const DEFAULT_LINEAR_FIT: LinearFitOptions = { maxEpochs: 30, lr: 0.1, validationFraction: 0.1, patience: 3, seed: 1 };

/**
 * Fits the teacher with the multi-label softmax loss (target 1/|Y| on each positive) over all
 * labels. The epoch count is chosen on a held-out slice of the training data (never the test),
 * then the model is refitted on all of it for that many epochs.
 */
export function fitLinearTeacher(features: Csr, labels: Csr, numLabels: number, opts: LinearFitOptions): { teacher: LinearTeacher; epochs: number } {
  const rng = new Rng(opts.seed);
  const all = new Int32Array(features.rows);
  for (let i = 0; i < all.length; i++) all[i] = i;
  rng.shuffle(all);
  const nVal = Math.floor(all.length * opts.validationFraction);
  let epochs = opts.maxEpochs;
  if (nVal > 0) {
    const val = all.subarray(0, nVal);
    const fit = all.subarray(nVal);
    const run = new LinearFitRun(features, labels, numLabels, opts.lr, opts.seed);
    let best = -1;
    let bestEpoch = 1;
    for (let e = 1; e <= opts.maxEpochs; e++) {
      const loss = run.epoch(fit);
      const p1 = run.precisionAt1(val);
      opts.onEpoch?.({ phase: 'select', epoch: e, loss, validationP1: p1 });
      if (p1 > best + 1e-9) {
        best = p1;
        bestEpoch = e;
      } else if (e - bestEpoch >= opts.patience) break;
    }
    epochs = bestEpoch;
  }
  const run = new LinearFitRun(features, labels, numLabels, opts.lr, opts.seed);
  for (let e = 1; e <= epochs; e++) {
    const loss = run.epoch(all);
    opts.onEpoch?.({ phase: 'final', epoch: e, loss });
  }
  return { teacher: run.teacher, epochs };
}

class LinearFitRun {
  readonly teacher: LinearTeacher;
  private readonly optW: SparseAdagrad;
  private readonly optB: SparseAdagrad;
  private readonly logits: Float32Array;
  private readonly probs: Float32Array;
  private readonly rng: Rng;

  constructor(
    private readonly features: Csr,
    private readonly labels: Csr,
    private readonly numLabels: number,
    lr: number,
    seed: number,
  ) {
    this.teacher = LinearTeacher.zeros(features.cols, numLabels);
    // Start at the label prior: the first epochs then learn what the features add to it.
    this.teacher.b.set(labelLogFrequencies(labels, numLabels));
    this.optW = new SparseAdagrad(this.teacher.W, numLabels, lr);
    this.optB = new SparseAdagrad(this.teacher.b, numLabels, lr);
    this.logits = new Float32Array(numLabels);
    this.probs = new Float32Array(numLabels);
    this.rng = new Rng(seed ^ 0x7eac);
  }

  epoch(rows: Int32Array): number {
    const order = rows.slice();
    this.rng.shuffle(order);
    const { indptr, indices, values } = this.features;
    const L = this.numLabels;
    let total = 0;
    let counted = 0;
    for (let i = 0; i < order.length; i++) {
      const ex = order[i];
      const l0 = this.labels.indptr[ex];
      const l1 = this.labels.indptr[ex + 1];
      if (l1 === l0) continue;
      this.teacher.logitsInto(indices, values, indptr[ex], indptr[ex + 1], this.logits);
      const lse = softmaxInto(this.logits, L, 1, this.probs);
      const w = 1 / (l1 - l0);
      let loss = 0;
      for (let p = l0; p < l1; p++) {
        const y = this.labels.indices[p];
        loss += w * (lse - this.logits[y]);
        this.probs[y] -= w; // probs now holds dLoss/dlogits
      }
      if (!Number.isFinite(loss)) throw new NumericError(`teacher loss became ${loss} at example ${ex}: lower the learning rate`);
      total += loss;
      counted++;
      this.optB.stepRow(0, this.probs, 0, 1);
      for (let p = indptr[ex]; p < indptr[ex + 1]; p++) this.optW.stepRow(indices[p], this.probs, 0, values ? values[p] : 1);
    }
    return counted ? total / counted : 0;
  }

  precisionAt1(rows: Int32Array): number {
    const { indptr, indices, values } = this.features;
    let hits = 0;
    for (let i = 0; i < rows.length; i++) {
      const ex = rows[i];
      this.teacher.logitsInto(indices, values, indptr[ex], indptr[ex + 1], this.logits);
      let best = 0;
      for (let y = 1; y < this.numLabels; y++) if (this.logits[y] > this.logits[best]) best = y;
      for (let p = this.labels.indptr[ex]; p < this.labels.indptr[ex + 1]; p++) if (this.labels.indices[p] === best) hits++;
    }
    return rows.length ? hits / rows.length : 0;
  }
}
