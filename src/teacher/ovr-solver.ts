/**
 * One-vs-rest L2-regularised squared-hinge (L2-loss SVM) classifiers over sparse rows, one label
 * at a time, by dual coordinate descent with shrinking (Hsieh et al. 2008, the liblinear solver
 * that PECOS XR-Linear and scikit-learn's LinearSVC run). Each label sees its positives and the
 * negatives given to it (every row, or a shortlist of hard ones); its weights are kept where
 * |w_f| exceeds a threshold, so W stays sparse.
 */
import { CsrBuilder, labelPositives, maxRowLength, type Csr } from '../core/data/csr.js';
import { NumericError } from '../core/util/errors.js';
import { fmix32 } from '../core/util/hash.js';
import { Rng } from '../core/util/rng.js';
import { SparseLinearModel } from './sparse-linear-model.js';

export interface OvrSolverConfig {
  /** Inverse regularisation strength (liblinear's C). @defaultValue 1 */
  C: number;
  /** Value of the constant bias feature (PECOS: 1). @defaultValue 1 */
  biasFeature: number;
  /** Weights with |w| ≤ threshold are dropped (PECOS: 0.1). @defaultValue 0.1 */
  threshold: number;
  /** Stop when the projected-gradient spread falls below this (liblinear: 0.1). @defaultValue 0.1 */
  eps: number;
  /** Passes over a label's rows at most. @defaultValue 20 */
  maxPasses: number;
  seed: number;
}

export const DEFAULT_OVR_SOLVER: OvrSolverConfig = { C: 1, biasFeature: 1, threshold: 0.1, eps: 0.1, maxPasses: 20, seed: 1 };

/** Which rows each label trains on: row ids per label (CSR [L, N], values null). */
export type LabelRows = Csr;

/**
 * Label → rows it trains on: its positives among `rows` plus, per row, the labels of `negatives`
 * (row i's shortlist, [N, L]); null negatives = every row is a negative for every label.
 */
export function labelRows(labels: Csr, rows: Int32Array, negatives: Csr | null, numLabels: number): LabelRows | null {
  if (!negatives) return null;
  const counts = new Int32Array(numLabels + 1);
  const mark = new Int32Array(numLabels).fill(-1);
  const visit = (i: number, add: (y: number) => void): void => {
    for (let p = labels.indptr[i]; p < labels.indptr[i + 1]; p++) {
      const y = labels.indices[p];
      if (y < numLabels && mark[y] !== i) {
        mark[y] = i;
        add(y);
      }
    }
    for (let p = negatives.indptr[i]; p < negatives.indptr[i + 1]; p++) {
      const y = negatives.indices[p];
      if (mark[y] !== i) {
        mark[y] = i;
        add(y);
      }
    }
  };
  for (const i of rows) visit(i, (y) => counts[y + 1]++);
  for (let y = 0; y < numLabels; y++) counts[y + 1] += counts[y];
  const fill = counts.slice(0, numLabels);
  const indices = new Int32Array(counts[numLabels]);
  mark.fill(-1);
  for (const i of rows) visit(i, (y) => (indices[fill[y]++] = i));
  return { rows: numLabels, cols: labels.rows, indptr: counts, indices, values: null };
}

/** The training set as the solver sees it: rows scaled to unit length, each label's positive rows. */
export interface OvrData {
  features: Csr;
  /** features.values scaled so every row has unit length (the model normalises inputs the same way). */
  xv: Float32Array;
  /** Label → the rows that carry it (CSR [L, N]). */
  positives: Csr;
  numLabels: number;
}

export function ovrData(features: Csr, labels: Csr, numLabels: number): OvrData {
  const N = features.rows;
  const xv = new Float32Array(features.indptr[N]);
  for (let i = 0; i < N; i++) {
    const s = features.indptr[i];
    const e = features.indptr[i + 1];
    const inv = SparseLinearModel.inverseNorm(features.values, s, e);
    for (let p = s; p < e; p++) xv[p] = (features.values ? features.values[p] : 1) * inv;
  }
  return { features, xv, positives: labelPositives(labels, numLabels), numLabels };
}

/** Classifiers of labels [y0, y1): weights as CSR rows y − y0, and their biases. */
export interface LabelBlock {
  y0: number;
  weights: Csr;
  bias: Float32Array;
}

/** The model whose label rows are the blocks' (any order, together covering [0, L)). */
export function modelOfBlocks(blocks: LabelBlock[], numFeatures: number, numLabels: number): SparseLinearModel {
  const sorted = [...blocks].sort((a, b) => a.y0 - b.y0);
  const nnz = sorted.reduce((s, b) => s + b.weights.indptr[b.weights.rows], 0);
  const indptr = new Int32Array(numLabels + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  const bias = new Float32Array(numLabels);
  let at = 0;
  for (const b of sorted) {
    const W = b.weights;
    const n = W.indptr[W.rows];
    indices.set(W.indices.subarray(0, n), at);
    values.set(W.values!.subarray(0, n), at);
    for (let r = 0; r < W.rows; r++) indptr[b.y0 + r + 1] = at + W.indptr[r + 1];
    bias.set(b.bias, b.y0);
    at += n;
  }
  for (let y = 0; y < numLabels; y++) if (indptr[y + 1] < indptr[y]) throw new RangeError(`label blocks do not cover label ${y}`);
  return new SparseLinearModel(numFeatures, numLabels, { rows: numLabels, cols: numFeatures, indptr, indices, values }, bias);
}

/** Per-thread scratch of the solver, sized for D features and up to n rows per label. */
class Scratch {
  readonly w: Float64Array;
  readonly touched: Uint8Array;
  readonly touchedList: Int32Array;
  readonly isPositive: Uint8Array;
  readonly inFit: Uint8Array;
  alpha = new Float64Array(0);
  index = new Int32Array(0);
  sign = new Int8Array(0);
  pos = new Int32Array(0);

  constructor(
    readonly D: number,
    readonly N: number,
  ) {
    this.w = new Float64Array(D);
    this.touched = new Uint8Array(D);
    this.touchedList = new Int32Array(D);
    this.isPositive = new Uint8Array(N);
    this.inFit = new Uint8Array(N);
  }

  ensureRows(n: number): void {
    if (this.alpha.length >= n) return;
    this.alpha = new Float64Array(n);
    this.index = new Int32Array(n);
    this.sign = new Int8Array(n);
    this.pos = new Int32Array(n);
  }
}

let scratch: Scratch | null = null;

/**
 * Classifiers of labels [y0, y1). Each label's row order is shuffled by its own generator
 * (seeded by cfg.seed and the label), so a label's weights do not depend on how labels are split
 * into blocks or threads.
 */
export function fitLabelBlock(data: OvrData, rows: Int32Array, perLabel: LabelRows | null, cfg: OvrSolverConfig, y0: number, y1: number): LabelBlock {
  const { features, xv, positives: posStart } = data;
  const D = features.cols;
  const N = features.rows;
  if (!scratch || scratch.D !== D || scratch.N !== N) scratch = new Scratch(D, N);
  const sc = scratch;
  sc.ensureRows(perLabel ? maxRowLength(perLabel, y0, y1) : rows.length);
  const { w, touched, touchedList, isPositive, inFit, alpha, index, sign, pos } = sc;
  const out = new CsrBuilder(true, y1 - y0, 1 << 12);
  const bias = new Float32Array(y1 - y0);
  const B = cfg.biasFeature;
  const Dii = 0.5 / cfg.C;
  const Qii = 1 + B * B + Dii; // rows have unit length
  const fp = features.indptr;
  const fi = features.indices;
  for (const i of rows) inFit[i] = 1;

  for (let y = y0; y < y1; y++) {
    // this label's rows and their signs
    let n = 0;
    for (let p = posStart.indptr[y]; p < posStart.indptr[y + 1]; p++) isPositive[posStart.indices[p]] = 1;
    if (perLabel) {
      for (let p = perLabel.indptr[y]; p < perLabel.indptr[y + 1]; p++) index[n++] = perLabel.indices[p];
    } else for (let r = 0; r < rows.length; r++) index[n++] = rows[r];
    let nt = 0;
    for (let r = 0; r < n; r++) {
      const i = index[r];
      sign[r] = isPositive[i] && inFit[i] ? 1 : -1;
      alpha[r] = 0;
      for (let p = fp[i]; p < fp[i + 1]; p++) {
        const f = fi[p];
        if (!touched[f]) {
          touched[f] = 1;
          touchedList[nt++] = f;
        }
      }
    }
    const rng = new Rng(fmix32(cfg.seed ^ Math.imul(y + 1, 0x9e3779b1)));
    const wb = solveDual(fp, fi, xv, w, index, sign, alpha, pos, n, Qii, Dii, B, cfg, rng);
    // keep the weights that matter, in feature order
    touchedList.subarray(0, nt).sort();
    for (let j = 0; j < nt; j++) {
      const f = touchedList[j];
      const v = w[f];
      if (Math.abs(v) > cfg.threshold) out.push(f, v);
      w[f] = 0;
      touched[f] = 0;
    }
    out.endRow();
    bias[y - y0] = n > 0 ? wb * B : -1;
    if (!Number.isFinite(bias[y - y0])) throw new NumericError(`one-vs-rest solver diverged on label ${y}`);
    for (let p = posStart.indptr[y]; p < posStart.indptr[y + 1]; p++) isPositive[posStart.indices[p]] = 0;
  }
  for (const i of rows) inFit[i] = 0;
  return { y0, weights: out.build(D), bias };
}

/**
 * Dual coordinate descent with shrinking for one label over rows index[0..n) with signs sign[·]:
 * updates w in place (features) and returns the bias weight.
 */
function solveDual(
  fp: Int32Array,
  fi: Int32Array,
  xv: Float32Array,
  w: Float64Array,
  index: Int32Array,
  sign: Int8Array,
  alpha: Float64Array,
  pos: Int32Array,
  n: number,
  Qii: number,
  Dii: number,
  B: number,
  cfg: OvrSolverConfig,
  rng: Rng,
): number {
  for (let r = 0; r < n; r++) pos[r] = r;
  let wb = 0;
  let active = n;
  let pgMaxOld = Infinity;
  for (let pass = 0; pass < cfg.maxPasses && n > 0; pass++) {
    let pgMax = -Infinity;
    let pgMin = Infinity;
    for (let s = 0; s < active; s++) {
      const t = s + (rng.nextU32() % (active - s));
      const tmp = pos[s];
      pos[s] = pos[t];
      pos[t] = tmp;
    }
    for (let s = 0; s < active; s++) {
      const r = pos[s];
      const i = index[r];
      const yi = sign[r];
      const p0 = fp[i];
      const p1 = fp[i + 1];
      let dot = wb * B;
      for (let p = p0; p < p1; p++) dot += w[fi[p]] * xv[p];
      const G = yi * dot - 1 + alpha[r] * Dii;
      let PG = 0;
      if (alpha[r] === 0) {
        if (G > pgMaxOld) {
          // shrink: a well-classified negative-margin row leaves the active set
          active--;
          pos[s] = pos[active];
          pos[active] = r;
          s--;
          continue;
        }
        if (G < 0) PG = G;
      } else PG = G;
      if (PG > pgMax) pgMax = PG;
      if (PG < pgMin) pgMin = PG;
      if (PG > 1e-12 || PG < -1e-12) {
        const old = alpha[r];
        const a = Math.max(old - G / Qii, 0);
        alpha[r] = a;
        const d = (a - old) * yi;
        for (let p = p0; p < p1; p++) w[fi[p]] += d * xv[p];
        wb += d * B;
      }
    }
    if (pgMax - pgMin <= cfg.eps) {
      if (active === n) break;
      active = n;
      pgMaxOld = Infinity;
      continue;
    }
    pgMaxOld = pgMax <= 0 ? Infinity : pgMax;
  }
  return wb;
}

