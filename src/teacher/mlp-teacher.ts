import type { Csr } from '../core/csr.js';
import { NumericError } from '../core/errors.js';
import { topKInto } from '../core/metrics.js';
import { SparseAdagrad } from '../core/optimizer.js';
import { Rng } from '../core/rng.js';
import { softmaxInto } from '../core/softmax.js';
import { labelLogFrequencies } from '../core/trainer.js';

/**
 * Baseline teacher: one hidden ReLU layer over sparse inputs, full softmax over all L labels.
 * logits(x) = W2ᵀ relu(W1ᵀx + b1) + b2. Wider than the student and not rank-limited by a
 * normalised d-dimensional bottleneck, so it is the stronger model the student learns from.
 */
export class MlpTeacher {
  constructor(
    readonly inputDim: number,
    readonly hidden: number,
    readonly numLabels: number,
    readonly W1: Float32Array, // [D, H]
    readonly b1: Float32Array, // [H]
    readonly W2: Float32Array, // [L, H]  (label table, row per label)
    readonly b2: Float32Array, // [L]
  ) {}

  static init(inputDim: number, hidden: number, numLabels: number, seed: number): MlpTeacher {
    const rng = new Rng(seed);
    const W1 = new Float32Array(inputDim * hidden);
    const a1 = Math.sqrt(2 / Math.max(1, Math.min(inputDim, 64)));
    for (let i = 0; i < W1.length; i++) W1[i] = rng.normal() * a1 * 0.1;
    const W2 = new Float32Array(numLabels * hidden);
    const a2 = 1 / Math.sqrt(hidden);
    for (let i = 0; i < W2.length; i++) W2[i] = rng.normal() * a2 * 0.1;
    return new MlpTeacher(inputDim, hidden, numLabels, W1, new Float32Array(hidden), W2, new Float32Array(numLabels));
  }

  /** Hidden activations of sparse row [start, end) into h[0..H). */
  hiddenInto(indices: Int32Array, values: Float32Array | null, start: number, end: number, h: Float32Array): void {
    const H = this.hidden;
    for (let j = 0; j < H; j++) h[j] = this.b1[j];
    for (let p = start; p < end; p++) {
      const f = indices[p];
      if (f >= this.inputDim) continue;
      const x = values ? values[p] : 1;
      const base = f * H;
      for (let j = 0; j < H; j++) h[j] += x * this.W1[base + j];
    }
    for (let j = 0; j < H; j++) if (h[j] < 0) h[j] = 0;
  }

  /** Logits over all labels from hidden activations h. */
  logitsFromHidden(h: Float32Array, out: Float32Array, outOffset = 0): void {
    const H = this.hidden;
    const W2 = this.W2;
    for (let y = 0; y < this.numLabels; y++) {
      const base = y * H;
      let s = this.b2[y];
      for (let j = 0; j < H; j++) s += h[j] * W2[base + j];
      out[outOffset + y] = s;
    }
  }

  /** Logits over all labels of sparse row [start, end) into out; h[0..H) is scratch for the hidden layer. */
  logitsInto(indices: Int32Array, values: Float32Array | null, start: number, end: number, out: Float32Array, outOffset: number, h: Float32Array): void {
    this.hiddenInto(indices, values, start, end, h);
    this.logitsFromHidden(h, out, outOffset);
  }
}

/** Plain SGD state for one fit: buffers allocated once. */
export class MlpFitRun {
  readonly teacher: MlpTeacher;
  private readonly optW1: SparseAdagrad;
  private readonly optB1: SparseAdagrad;
  private readonly optW2: SparseAdagrad;
  private readonly optB2: SparseAdagrad;
  private readonly h: Float32Array;
  private readonly dh: Float32Array;
  private readonly mask: Float32Array;
  private readonly logits: Float32Array;
  private readonly probs: Float32Array;
  private readonly rng: Rng;

  constructor(
    private readonly features: Csr,
    private readonly labels: Csr,
    numLabels: number,
    hidden: number,
    lr: number,
    private readonly dropout: number,
    seed: number,
  ) {
    this.teacher = MlpTeacher.init(features.cols, hidden, numLabels, seed);
    this.teacher.b2.set(labelLogFrequencies(labels, numLabels));
    this.optW1 = new SparseAdagrad(this.teacher.W1, hidden, lr);
    this.optB1 = new SparseAdagrad(this.teacher.b1, hidden, lr);
    this.optW2 = new SparseAdagrad(this.teacher.W2, hidden, lr);
    this.optB2 = new SparseAdagrad(this.teacher.b2, numLabels, lr);
    this.h = new Float32Array(hidden);
    this.dh = new Float32Array(hidden);
    this.mask = new Float32Array(hidden);
    this.logits = new Float32Array(numLabels);
    this.probs = new Float32Array(numLabels);
    this.rng = new Rng(seed ^ 0x3e1f);
  }

  epoch(rows: Int32Array): number {
    const order = rows.slice();
    this.rng.shuffle(order);
    const { indptr, indices, values } = this.features;
    const t = this.teacher;
    const H = t.hidden;
    const L = t.numLabels;
    const keep = 1 - this.dropout;
    let total = 0;
    let counted = 0;
    for (let i = 0; i < order.length; i++) {
      const ex = order[i];
      const l0 = this.labels.indptr[ex];
      const l1 = this.labels.indptr[ex + 1];
      if (l1 === l0) continue;
      t.hiddenInto(indices, values, indptr[ex], indptr[ex + 1], this.h);
      // Inverted dropout on the hidden layer: the teacher must generalise, not memorise.
      for (let j = 0; j < H; j++) {
        const m = this.rng.next() < keep ? 1 / keep : 0;
        this.mask[j] = m;
        this.h[j] *= m;
      }
      t.logitsFromHidden(this.h, this.logits);
      const lse = softmaxInto(this.logits, L, 1, this.probs);
      const w = 1 / (l1 - l0);
      let loss = 0;
      for (let p = l0; p < l1; p++) {
        const y = this.labels.indices[p];
        loss += w * (lse - this.logits[y]);
        this.probs[y] -= w;
      }
      if (!Number.isFinite(loss)) throw new NumericError(`teacher loss became ${loss} at example ${ex}: lower the learning rate`);
      total += loss;
      counted++;
      const dh = this.dh;
      dh.fill(0);
      for (let y = 0; y < L; y++) {
        const g = this.probs[y];
        const base = y * H;
        for (let j = 0; j < H; j++) dh[j] += g * t.W2[base + j];
      }
      for (let y = 0; y < L; y++) this.optW2.stepRow(y, this.h, 0, this.probs[y]);
      this.optB2.stepRow(0, this.probs, 0, 1);
      for (let j = 0; j < H; j++) dh[j] = this.h[j] > 0 ? dh[j] * this.mask[j] : 0;
      this.optB1.stepRow(0, dh, 0, 1);
      for (let p = indptr[ex]; p < indptr[ex + 1]; p++) this.optW1.stepRow(indices[p], dh, 0, values ? values[p] : 1);
    }
    return counted ? total / counted : 0;
  }

  /**
   * Mean of P@1, P@3 and P@5 over `rows`: steadier than P@1 alone on a small held-out slice,
   * which is what picks the epoch.
   */
  validationScore(rows: Int32Array): number {
    const { indptr, indices, values } = this.features;
    const t = this.teacher;
    const L = t.numLabels;
    const top = new Int32Array(5);
    const topScore = new Float32Array(5);
    let score = 0;
    for (let i = 0; i < rows.length; i++) {
      const ex = rows[i];
      t.logitsInto(indices, values, indptr[ex], indptr[ex + 1], this.logits, 0, this.h);
      topKInto(this.logits, 0, L, 5, top, topScore, 0);
      let hits = 0;
      for (let r = 0; r < 5; r++) {
        for (let p = this.labels.indptr[ex]; p < this.labels.indptr[ex + 1]; p++) if (this.labels.indices[p] === top[r]) hits++;
        if (r === 0) score += hits;
        else if (r === 2) score += hits / 3;
        else if (r === 4) score += hits / 5;
      }
    }
    return rows.length ? score / (3 * rows.length) : 0;
  }
}
