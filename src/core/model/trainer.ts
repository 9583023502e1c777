import { labelCounts, maxRowLength, type Csr } from '../data/csr.js';
import { CancelledError, NumericError } from '../util/errors.js';
import { DistillationObjective, type CandidateSet, type LossParts } from './objective.js';
import type { KernelMemory, Kernels } from '../simd/kernel-memory.js';
import { adagradFactory, SparseAdagrad, type RowOptimizer, type RowOptimizerFactory } from './optimizer.js';
import { Rng } from '../util/rng.js';
import { dot } from '../util/vectors.js';
import type { Student } from './student.js';
import type { TrainConfig } from './train-config.js';

/**
 * Each training example's mined candidate pool: K label ids per row (-1 pads short rows),
 * positives already excluded, with the teacher's score of each pair when a teacher is used.
 */
export interface NegativePool {
  size: number; // K
  labels: Int32Array; // [N, K]
  teacherScores: Float32Array | null; // [N, K]
}

export interface EpochStats {
  epoch: number;
  loss: number;
  ce: number;
  kl: number;
  examples: number;
  seconds: number;
  examplesPerSecond: number;
}

/** The most candidates an example of `labels` can have under `cfg`: its positives and every negative. */
function candidateCapacity(labels: Csr, cfg: Pick<TrainConfig, 'hardNegatives' | 'randomNegatives' | 'inBatchNegatives'>): number {
  return maxRowLength(labels) + cfg.hardNegatives + cfg.randomNegatives + cfg.inBatchNegatives;
}

/** The batched step's arrays: candidate ids, scores and gradients (`cap` each), the example's input ids and values (`maxNnz` each). */
const batchedScratch = (cap: number, maxNnz: number): number => 3 * cap + 2 * maxNnz;

/**
 * Kernel-memory floats a trainer of this data carves for its batched step (StudentTrainer.trainExampleBatched):
 * candidate ids, scores and gradients, and the example's input ids and values. Without room for them it steps row by row.
 */
export function stepScratchFloats(features: Csr, labels: Csr, cfg: Pick<TrainConfig, 'hardNegatives' | 'randomNegatives' | 'inBatchNegatives'>): number {
  return batchedScratch(candidateCapacity(labels, cfg), Math.max(1, maxRowLength(features)));
}

/** Addresses of the batched step's kernel-memory arrays (kernels.wat's `backward`). */
interface BatchedStep {
  kernels: Kernels;
  optV: SparseAdagrad;
  optW1: SparseAdagrad;
  V: number;
  AV: number;
  W1: number;
  AW1: number;
  /** The example's input ids and values, copied in before each backward pass. */
  feats: Int32Array;
  vals: Float32Array;
}

export type EpochProgress = (done: number, total: number, meanLoss: number) => void;

/** Loss sums over some examples (a slice of an epoch, or all of it). */
export interface LossSums {
  loss: number;
  ce: number;
  kl: number;
  examples: number;
}

/** An epoch's statistics from its loss sums and its wall time. */
export function epochStats(epoch: number, sums: LossSums, seconds: number): EpochStats {
  const N = sums.examples;
  return {
    epoch,
    loss: N ? sums.loss / N : 0,
    ce: N ? sums.ce / N : 0,
    kl: N ? sums.kl / N : 0,
    examples: N,
    seconds,
    examplesPerSecond: seconds > 0 ? N / seconds : 0,
  };
}

/**
 * Trains a Student with the candidate-set objective: per example, candidates are its positives,
 * hard negatives sampled from its pool, uniform random negatives and positives of other batch
 * members. One example at a time, sparse Adagrad on the rows touched (fastText-style SGD);
 * every buffer is allocated once here, nothing in the per-example loop.
 */
export class StudentTrainer {
  private readonly rng: Rng;
  private readonly objective: DistillationObjective;
  private readonly optW1: RowOptimizer;
  private readonly optV: RowOptimizer;
  private readonly order: Int32Array;
  private readonly isPositive: Uint8Array; // [L] marks the current example's positives
  private readonly logLabelFreq: Float32Array; // [L] log(count_y / total positives)
  private readonly q: Float32Array;
  private readonly dq: Float64Array | Float32Array; // JS: summed in double (no rounding on every store); kernels: float32 in their memory
  private readonly kernels: Kernels | null; // SIMD steps, when q, dq, du and the student's V are in their memory
  /** The memory the kernels work in (Hogwild threads attach it), or null for plain loops. */
  readonly kernelMemory: KernelMemory | null;
  private readonly du: Float32Array;
  /** With the kernels, config.batchedKernels and room for stepScratchFloats: each example's encoding, scores and backward pass in one kernel call each. */
  private readonly batched: BatchedStep | null = null;
  private readonly grad: Float32Array;
  private readonly candLabels: Int32Array;
  private readonly cand: CandidateSet;
  private readonly poolScratch: Int32Array;
  private readonly poolWeights: Float64Array;
  private batchLabels: Int32Array;
  private pool: NegativePool | null = null;
  private positiveTeacherScores: Float32Array | null = null;
  private readonly parts: LossParts = { total: 0, ce: 0, kl: 0 };
  private readonly logQRandom: number; // log expected count of a label among the uniform negatives
  private readonly logQBatch: number; // log in-batch draws, plus logLabelFreq[y] per label

  constructor(
    readonly student: Student,
    readonly features: Csr,
    readonly labels: Csr,
    readonly config: TrainConfig,
    optimizer: RowOptimizerFactory = adagradFactory(config.rowwiseAdagrad, 'own'),
    kernelMemory: KernelMemory | null = null,
  ) {
    const { dim: d, numLabels: L } = student.shape;
    if (features.rows !== labels.rows) throw new Error(`features have ${features.rows} rows, labels ${labels.rows}`);
    this.rng = new Rng(config.seed ^ 0x5eed);
    this.objective = new DistillationObjective(config.alpha, config.temperature);
    this.optW1 = optimizer(student.W1, d, config.lr);
    this.optV = optimizer(student.V, d, config.lr);
    this.order = new Int32Array(features.rows);
    for (let i = 0; i < this.order.length; i++) this.order[i] = i;
    this.isPositive = new Uint8Array(L);
    this.logLabelFreq = labelLogFrequencies(labels, L);
    // q, dq and du in the kernels' memory, if it holds V and has room left for them (else plain loops)
    const scratch = kernelMemory?.holds(student.V) && kernelMemory.holds(student.W1) ? kernelMemory.tryFloats(3 * d) : null;
    this.kernels = scratch && kernelMemory ? kernelMemory.kernels : null;
    this.q = scratch ? scratch.subarray(0, d) : new Float32Array(d);
    this.dq = scratch ? scratch.subarray(d, 2 * d) : new Float64Array(d);
    this.du = scratch ? scratch.subarray(2 * d, 3 * d) : new Float32Array(d);
    this.kernelMemory = this.kernels ? kernelMemory : null;
    const cap = candidateCapacity(labels, config);
    const maxNnz = Math.max(1, maxRowLength(features));
    // the batched step needs both optimizers stepping per coordinate with the kernels, and room for its arrays
    const buffer = this.kernelMemory?.memory.buffer;
    const vRows = buffer && this.optV instanceof SparseAdagrad ? this.optV.kernelRows(buffer) : null;
    const w1Rows = buffer && this.optW1 instanceof SparseAdagrad ? this.optW1.kernelRows(buffer) : null;
    const stepScratch = config.batchedKernels && vRows && w1Rows ? this.kernelMemory!.tryFloats(batchedScratch(cap, maxNnz)) : null;
    let scores: Float32Array;
    if (stepScratch && vRows && w1Rows && this.kernels) {
      // float i of the scratch: byte offset at(i)
      const at = (i: number): number => stepScratch.byteOffset + 4 * i;
      const buf = stepScratch.buffer;
      this.candLabels = new Int32Array(buf, at(0), cap);
      this.grad = new Float32Array(buf, at(cap), cap);
      scores = new Float32Array(buf, at(2 * cap), cap);
      this.batched = { kernels: this.kernels, optV: vRows.optimizer, optW1: w1Rows.optimizer, V: vRows.params, AV: vRows.accum, W1: w1Rows.params, AW1: w1Rows.accum, feats: new Int32Array(buf, at(3 * cap), maxNnz), vals: new Float32Array(buf, at(3 * cap + maxNnz), maxNnz) };
    } else {
      this.candLabels = new Int32Array(cap);
      this.grad = new Float32Array(cap);
      scores = new Float32Array(cap);
    }
    this.cand = {
      n: 0,
      scores,
      logQ: new Float32Array(cap),
      positive: new Uint8Array(cap),
      teacher: new Float32Array(cap),
      scored: new Uint8Array(cap),
    };
    this.poolScratch = new Int32Array(Math.max(1, config.poolSize));
    this.poolWeights = new Float64Array(Math.max(1, config.poolSize));
    this.batchLabels = new Int32Array(1024);
    this.logQRandom = Math.log(config.randomNegatives / L);
    this.logQBatch = Math.log(config.inBatchNegatives);
  }

  /** The pool hard negatives are drawn from (replaced after each re-mining). */
  setPool(pool: NegativePool | null): void {
    if (pool && pool.labels.length !== pool.size * this.features.rows) throw new Error('pool does not match the training set');
    this.pool = pool;
  }

  /** Teacher scores of the positives, aligned with labels.indices (null: no teacher). */
  setPositiveTeacherScores(scores: Float32Array | null): void {
    if (scores && scores.length !== this.labels.indices.length) throw new Error('positive scores do not match the label matrix');
    this.positiveTeacherScores = scores;
  }

  /** What setPool and setPositiveTeacherScores set last (training threads get the same). */
  samplingInputs(): { pool: NegativePool | null; positiveScores: Float32Array | null } {
    return { pool: this.pool, positiveScores: this.positiveTeacherScores };
  }

  /** Whether each example steps in three kernel calls (trainExampleBatched), not one per parameter row. */
  get batchedStep(): boolean {
    return this.batched !== null;
  }

  /** Optimizer state, for checkpoints. */
  optimizerState(): { w1: Float32Array; v: Float32Array } {
    return { w1: this.optW1.accum, v: this.optV.accum };
  }

  /** What besides parameters and optimizer state a resumed run needs to continue identically. */
  exportState(): { rng: Int32Array; order: Int32Array } {
    return { rng: this.rng.getState(), order: this.order.slice() };
  }

  importState(state: { rng: ArrayLike<number>; order: Int32Array }): void {
    if (state.order.length !== this.order.length) throw new Error('checkpoint order does not match the training set');
    this.rng.setState(state.rng);
    this.order.set(state.order);
  }

  /**
   * One pass over the data. `shouldStop` is polled at every batch boundary; when it returns true
   * the epoch ends with a CancelledError (parameters keep the updates made so far).
   */
  trainEpoch(epoch: number, onProgress?: EpochProgress, shouldStop?: () => boolean): EpochStats {
    const started = performance.now();
    const order = this.shuffledOrder();
    const sums = this.trainSlice(order, 0, order.length, epoch, onProgress, shouldStop);
    return epochStats(epoch, sums, (performance.now() - started) / 1000);
  }

  /** The next epoch's example order: the previous one shuffled by the trainer's own generator. */
  shuffledOrder(): Int32Array {
    this.rng.shuffle(this.order);
    return this.order;
  }

  /** Restarts the sampling generator from `seed` (a Hogwild thread's own stream for an epoch). */
  seedSampling(seed: number): void {
    this.rng.setState(new Rng(seed).getState());
  }

  /**
   * Trains the examples order[s0..s1) in batches of batchSize from s0 (the batch is the pool of
   * in-batch negatives). onProgress(done, total, meanLoss) counts within the slice; shouldStop as
   * for trainEpoch. Returns the loss sums over the slice.
   */
  trainSlice(order: Int32Array, s0: number, s1: number, epoch: number, onProgress?: EpochProgress, shouldStop?: () => boolean): LossSums {
    const cfg = this.config;
    let sum = 0;
    let sumCe = 0;
    let sumKl = 0;
    for (let b0 = s0; b0 < s1; b0 += cfg.batchSize) {
      if (shouldStop?.()) throw new CancelledError(`cancelled during epoch ${epoch}`);
      const b1 = Math.min(s1, b0 + cfg.batchSize);
      const batchCount = this.collectBatchLabels(order, b0, b1);
      for (let i = b0; i < b1; i++) {
        const ex = order[i];
        const loss = this.trainExample(ex, batchCount);
        if (!Number.isFinite(loss)) {
          throw new NumericError(`loss became ${loss} at epoch ${epoch}, example ${ex}: lower the learning rate (now ${cfg.lr}) or raise tau (now ${cfg.tau})`);
        }
        sum += loss;
        sumCe += this.parts.ce;
        sumKl += this.parts.kl;
      }
      if (onProgress) onProgress(b1 - s0, s1 - s0, sum / (b1 - s0));
    }
    return { loss: sum, ce: sumCe, kl: sumKl, examples: s1 - s0 };
  }

  private collectBatchLabels(order: Int32Array, b0: number, b1: number): number {
    const { indptr, indices } = this.labels;
    let n = 0;
    for (let i = b0; i < b1; i++) n += indptr[order[i] + 1] - indptr[order[i]];
    if (n > this.batchLabels.length) this.batchLabels = new Int32Array(n * 2);
    n = 0;
    for (let i = b0; i < b1; i++) {
      const ex = order[i];
      for (let p = indptr[ex]; p < indptr[ex + 1]; p++) this.batchLabels[n++] = indices[p];
    }
    return n;
  }

  /** One SGD step on one example; returns its loss. */
  private trainExample(ex: number, batchCount: number): number {
    if (this.batched !== null) return this.trainExampleBatched(this.batched, ex, batchCount);
    const n = this.buildCandidates(ex, batchCount);
    const s = this.student;
    const d = s.shape.dim;
    const invTau = 1 / s.shape.tau;
    const f = this.features;
    const q = this.q;
    const V = s.V;
    const k = this.kernels;
    const norm = k !== null ? this.encodeWithKernels(k, ex) : s.encodeSparseInto(f.indices, f.values, f.indptr[ex], f.indptr[ex + 1], q, 0);
    const cand = this.cand;
    if (k !== null) for (let c = 0; c < n; c++) cand.scores[c] = k.dot(q.byteOffset, V.byteOffset + 4 * d * this.candLabels[c], d) * invTau;
    else for (let c = 0; c < n; c++) cand.scores[c] = dot(q, 0, V, this.candLabels[c] * d, d) * invTau;
    const loss = this.objective.forward(cand, this.grad, this.parts);
    this.clearPositives(ex);

    // dL/dq uses V before its update; then V rows step, then W1 rows through the normalisation.
    this.gradientOfQuery(n, invTau);
    const dq = this.dq;
    for (let c = 0; c < n; c++) {
      const g = this.grad[c] * invTau;
      if (g !== 0) this.optV.stepRow(this.candLabels[c], q, 0, g);
    }
    if (norm > 0) {
      const e = s.embeddingDim; // the bias slot is a constant: no gradient flows into W1 from it
      let qdq = 0;
      for (let j = 0; j < e; j++) qdq += q[j] * dq[j];
      const inv = 1 / norm;
      for (let j = 0; j < e; j++) this.du[j] = (dq[j] - q[j] * qdq) * inv;
      for (let p = f.indptr[ex]; p < f.indptr[ex + 1]; p++) {
        this.optW1.stepRow(f.indices[p], this.du, 0, f.values ? f.values[p] : 1);
      }
    }
    return loss;
  }

  /**
   * trainExample with the kernels' batched calls: the encoding in one, the candidates' scores in one, the backward pass (dq, the V rows'
   * steps, du, the input rows' steps) in another, bit for bit what the per-row calls give (test/simd-kernels.test.ts):
   * JavaScript around the per-row calls was about half of a step's time (Delicious' profile, BENCHMARKS.md section 2).
   */
  private trainExampleBatched(b: BatchedStep, ex: number, batchCount: number): number {
    const k = b.kernels;
    const n = this.buildCandidates(ex, batchCount);
    const s = this.student;
    const d = s.shape.dim;
    const invTau = 1 / s.shape.tau;
    const { indptr, indices, values } = this.features;
    const p0 = indptr[ex];
    const nnz = indptr[ex + 1] - p0;
    for (let p = 0; p < nnz; p++) {
      b.feats[p] = indices[p0 + p];
      b.vals[p] = values ? values[p0 + p] : 1;
    }
    // encodeWithKernels in one call
    const q = this.q.byteOffset;
    const norm = this.toUnitQuery(k, k.encode(q, b.W1, b.feats.byteOffset, b.vals.byteOffset, nnz, d));
    k.dots(this.cand.scores.byteOffset, q, b.V, this.candLabels.byteOffset, n, d, invTau);
    const loss = this.objective.forward(this.cand, this.grad, this.parts);
    this.clearPositives(ex);
    k.backward(q, this.dq.byteOffset, this.du.byteOffset, d, b.V, b.AV, this.candLabels.byteOffset, this.grad.byteOffset, n, invTau, b.optV.lr, b.W1, b.AW1, b.feats.byteOffset, b.vals.byteOffset, nnz, b.optW1.lr, s.embeddingDim, norm > 0 ? 1 / norm : 0);
    return loss;
  }

  /** Student.encodeSparseInto of example ex into q, with the kernels: W1's rows summed two per pass, then made a unit vector. */
  private encodeWithKernels(k: Kernels, ex: number): number {
    const d = this.student.shape.dim;
    const { indptr, indices, values } = this.features;
    const W1 = this.student.W1.byteOffset;
    const q = this.q;
    const at = q.byteOffset;
    q.fill(0);
    let p = indptr[ex];
    const end = indptr[ex + 1];
    for (; p + 1 < end; p += 2) k.axpy2(at, W1 + 4 * d * indices[p], W1 + 4 * d * indices[p + 1], values ? values[p] : 1, values ? values[p + 1] : 1, d);
    if (p < end) k.axpy(at, W1 + 4 * d * indices[p], values ? values[p] : 1, d);
    return this.toUnitQuery(k, k.dot(at, at, d));
  }

  /** q (summed from W1's rows, `sumOfSquares` = q·q) scaled to a unit vector, its bias slot set; returns its norm before. */
  private toUnitQuery(k: Kernels, sumOfSquares: number): number {
    const d = this.student.shape.dim;
    const norm = Math.sqrt(sumOfSquares); // the bias slot's W1 column is 0: it adds nothing
    if (norm > 0) k.scale(this.q.byteOffset, 1 / norm, d);
    if (this.student.shape.labelBias) this.q[d - 1] = 1;
    return norm;
  }

  /**
   * dq = Σ_c (dL/ds_c / τ) · v_c over the candidates with a gradient, two V rows per pass over dq
   * (each dq element loaded and stored half as often as one row at a time).
   */
  private gradientOfQuery(n: number, invTau: number): void {
    const d = this.student.shape.dim;
    const V = this.student.V;
    const dq = this.dq;
    dq.fill(0);
    const k = this.kernels;
    let pending = -1; // a candidate with a gradient waiting for a partner
    for (let c = 0; c < n; c++) {
      if (this.grad[c] === 0) continue;
      if (pending < 0) {
        pending = c;
        continue;
      }
      const g0 = this.grad[pending] * invTau;
      const g1 = this.grad[c] * invTau;
      const b0 = this.candLabels[pending] * d;
      const b1 = this.candLabels[c] * d;
      if (k !== null) k.axpy2(dq.byteOffset, V.byteOffset + 4 * b0, V.byteOffset + 4 * b1, g0, g1, d);
      else for (let j = 0; j < d; j++) dq[j] += g0 * V[b0 + j] + g1 * V[b1 + j];
      pending = -1;
    }
    if (pending >= 0) {
      const g = this.grad[pending] * invTau;
      const b = this.candLabels[pending] * d;
      if (k !== null) k.axpy(dq.byteOffset, V.byteOffset + 4 * b, g, d);
      else for (let j = 0; j < d; j++) dq[j] += g * V[b + j];
    }
  }

  /** Fills candLabels/cand for example ex and returns the candidate count. Marks positives. */
  private buildCandidates(ex: number, batchCount: number): number {
    const cfg = this.config;
    const L = this.student.shape.numLabels;
    const cand = this.cand;
    const { indptr, indices } = this.labels;
    const posScores = this.positiveTeacherScores;
    let n = 0;
    for (let p = indptr[ex]; p < indptr[ex + 1]; p++) {
      const y = indices[p];
      if (y >= L) continue; // a label the student does not model (cannot happen for training data)
      this.isPositive[y] = 1;
      this.setCandidate(n++, y, 0, 1, posScores ? posScores[p] : 0, posScores ? 1 : 0);
    }
    n = this.addHardNegatives(ex, n);
    if (cfg.randomNegatives > 0 && L > 1) {
      const logQ = this.logQRandom;
      for (let k = 0; k < cfg.randomNegatives; k++) {
        let y = this.rng.int(L);
        for (let tries = 0; this.isPositive[y] && tries < 8; tries++) y = this.rng.int(L);
        if (this.isPositive[y]) continue;
        this.setCandidate(n++, y, logQ, 0, 0, 0);
      }
    }
    if (cfg.inBatchNegatives > 0 && batchCount > 0) {
      const logB = this.logQBatch;
      for (let k = 0; k < cfg.inBatchNegatives; k++) {
        const y = this.batchLabels[this.rng.int(batchCount)];
        if (this.isPositive[y]) continue;
        this.setCandidate(n++, y, logB + this.logLabelFreq[y], 0, 0, 0);
      }
    }
    cand.n = n;
    return n;
  }

  private addHardNegatives(ex: number, n: number): number {
    const pool = this.pool;
    const h = this.config.hardNegatives;
    if (!pool || h === 0 || pool.size === 0) return n;
    const K = pool.size;
    const base = ex * K;
    let avail = 0;
    for (let k = 0; k < K; k++) if (pool.labels[base + k] >= 0) this.poolScratch[avail++] = k;
    const take = Math.min(h, avail);
    const ts = pool.teacherScores;
    if (this.config.teacherWeightedNegatives && ts) {
      // Sample without replacement ∝ exp(t/T): the negatives the teacher finds most confusable.
      const invT = 1 / this.config.temperature;
      let max = -Infinity;
      for (let i = 0; i < avail; i++) max = Math.max(max, ts[base + this.poolScratch[i]] * invT);
      for (let i = 0; i < avail; i++) this.poolWeights[i] = Math.exp(ts[base + this.poolScratch[i]] * invT - max);
      for (let t = 0; t < take; t++) {
        let total = 0;
        for (let i = t; i < avail; i++) total += this.poolWeights[i];
        let r = this.rng.next() * total;
        let pick = t;
        for (let i = t; i < avail; i++) {
          r -= this.poolWeights[i];
          if (r <= 0) {
            pick = i;
            break;
          }
        }
        this.swapScratch(t, pick);
      }
    } else {
      for (let t = 0; t < take; t++) this.swapScratch(t, t + this.rng.int(avail - t));
    }
    for (let t = 0; t < take; t++) {
      const k = this.poolScratch[t];
      const y = pool.labels[base + k];
      this.setCandidate(n++, y, 0, 0, ts ? ts[base + k] : 0, ts ? 1 : 0);
    }
    return n;
  }

  private swapScratch(i: number, j: number): void {
    const a = this.poolScratch[i];
    this.poolScratch[i] = this.poolScratch[j];
    this.poolScratch[j] = a;
    const w = this.poolWeights[i];
    this.poolWeights[i] = this.poolWeights[j];
    this.poolWeights[j] = w;
  }

  private setCandidate(slot: number, label: number, logQ: number, positive: number, teacher: number, scored: number): void {
    this.candLabels[slot] = label;
    this.cand.logQ[slot] = logQ;
    this.cand.positive[slot] = positive;
    this.cand.teacher[slot] = teacher;
    this.cand.scored[slot] = scored;
  }

  private clearPositives(ex: number): void {
    const { indptr, indices } = this.labels;
    const L = this.student.shape.numLabels;
    for (let p = indptr[ex]; p < indptr[ex + 1]; p++) if (indices[p] < L) this.isPositive[indices[p]] = 0;
  }
}

/** log(count_y / total positive count); labels never seen get the log of half a count. */
export function labelLogFrequencies(labels: Csr, numLabels: number): Float32Array {
  const counts = labelCounts(labels, numLabels);
  const nnz = labels.indptr[labels.rows];
  const out = new Float32Array(numLabels);
  const total = Math.max(1, nnz);
  for (let y = 0; y < numLabels; y++) out[y] = Math.log(Math.max(0.5, counts[y]) / total);
  return out;
}
