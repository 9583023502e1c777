/**
 * Student initialised from the teacher: when the teacher is a sparse linear model (what `teacher
 * fit` writes), its weights W [L, D] factor as W ≈ A Bᵀ at the student's rank, B becomes the
 * query tower W1 and A the label table V, its bias the student's label bias. The student then
 * starts at the teacher's rank-d shadow instead of at random, on the scale of the scores it
 * distils: s = (m·q̂·a + b)·scale ≈ teacher score · scale, m the median ‖Bᵀx̂‖ of training rows
 * (q̂ is a unit vector where the teacher's Bᵀx̂ is not).
 */
import { sparseRowTimesDenseInto, type Csr } from '../core/data/csr.js';
import { stat } from 'node:fs/promises';
import { energyShareBound } from '../core/model/energy-bound.js';
import { lowRankFactors, type LowRankFactors } from '../core/model/low-rank.js';
import type { Student, StudentShape } from '../core/model/student.js';
import { SparseLinearModel } from '../teacher/sparse-linear-model.js';
import { readSparseLinearTeacher, rememberSparseLinearTeacher, type FileIdentity } from '../teacher/sparse-linear-read.js';
import { asShared } from '../core/util/shared-arrays.js';

export interface TeacherInitReport {
  rank: number;
  /** Share of ‖W‖²_F the rank-d factors hold. */
  energy: number;
  /** False when the factors hold too little of W to start from (MIN_ENERGY): the student stays random. */
  applied: boolean;
}

/**
 * Below this share of the teacher's weight energy the rank-d shadow ranks by the biases alone:
 * apt-files at d=256 holds 10.3 % and its start scored P@1 0.01 (BENCHMARKS.md section 0); every
 * start measured to help held ≥ 56.5 %.
 */
export const MIN_ENERGY = 0.5;

/** Rows sampled for the median query norm. */
const NORM_SAMPLE = 2000;

/** Median ‖Bᵀx̂‖ over (a stride sample of) the rows of `features`. */
function medianQueryNorm(features: Csr, B: Float32Array, rank: number): number {
  const step = Math.max(1, Math.floor(features.rows / NORM_SAMPLE));
  const norms: number[] = [];
  const u = new Float32Array(rank);
  for (let r = 0; r < features.rows; r += step) {
    const start = features.indptr[r];
    const end = features.indptr[r + 1];
    const invX = SparseLinearModel.inverseNorm(features.values, start, end);
    if (invX > 0) norms.push(sparseRowTimesDenseInto(features.indices, features.values, start, end, B, rank, u, 0) * invX);
  }
  norms.sort((a, b) => a - b);
  return norms.length ? norms[norms.length >> 1] : 1;
}

/** The teacher's weights and their rank-k factors; the last one is kept (auto trials reuse it). */
interface TeacherFactors {
  model: SparseLinearModel;
  weights: Csr;
  factors: LowRankFactors;
  energy: number;
}
let lastFactors: { key: string; file: FileIdentity; value: TeacherFactors | null } | null = null;

/** The last factors made, as plain data another thread can adopt (the auto search's trial threads). */
export interface FactorsMemo {
  key: string;
  /** The teacher file they were made from, as it was then. */
  file: FileIdentity;
  value: { numFeatures: number; numLabels: number; modelWeights: Csr; bias: Float32Array; weights: Csr; factors: LowRankFactors; energy: number } | null;
}

export function lastTeacherFactors(): FactorsMemo | null {
  if (!lastFactors) return null;
  // in shared memory (kept so, for the next caller): posted to each thread without a copy (debtags'
  // factors and weights took 0.6 s to post per thread and 0.6 s to receive cloned, npm run bench:memory)
  if (lastFactors.value) lastFactors.value = inSharedMemory(lastFactors.value);
  const v = lastFactors.value;
  const value = v && { numFeatures: v.model.numFeatures, numLabels: v.model.numLabels, modelWeights: v.model.weights, bias: v.model.bias, weights: v.weights, factors: v.factors, energy: v.energy };
  return { key: lastFactors.key, file: lastFactors.file, value };
}

function inSharedMemory(t: TeacherFactors): TeacherFactors {
  const made = new Map<ArrayBufferView, ArrayBufferView>();
  const share = <T extends Int32Array | Float32Array | Float64Array>(a: T): T => {
    const known = made.get(a) as T | undefined;
    if (known) return known;
    const s = asShared(a);
    made.set(a, s);
    return s;
  };
  const csr = (m: Csr): Csr => ({ ...m, indptr: share(m.indptr), indices: share(m.indices), values: m.values && share(m.values) });
  const { model, factors: f } = t;
  return {
    model: new SparseLinearModel(model.numFeatures, model.numLabels, csr(model.weights), share(model.bias)),
    weights: csr(t.weights),
    factors: { ...f, left: share(f.left), right: share(f.right), singularValues: share(f.singularValues) },
    energy: t.energy,
  };
}

/** Takes another thread's last factors as this thread's, so its trials do not factor the teacher again. */
export function adoptTeacherFactors(memo: FactorsMemo): void {
  const v = memo.value;
  const value = v && { model: new SparseLinearModel(v.numFeatures, v.numLabels, v.modelWeights, v.bias), weights: v.weights, factors: v.factors, energy: v.energy };
  lastFactors = { key: memo.key, file: memo.file, value };
  // the same file's weights, for the trials' training pairs (SparseLinearScorer.read): not read again
  if (value) rememberSparseLinearTeacher(memo.file, value.model);
}

/**
 * The teacher's first `numLabels` weight rows factored at `rank`, and the share of their energy
 * the factors hold; null when the teacher is not a sparse linear model over `numFeatures` features.
 */
async function teacherFactors(teacherPath: string, numFeatures: number, numLabels: number, rank: number, seed: number): Promise<TeacherFactors | null> {
  const st = await stat(teacherPath);
  if (st.isDirectory()) return null; // a text-teacher bundle: no sparse weights
  const file: FileIdentity = { path: teacherPath, size: st.size, mtimeMs: st.mtimeMs };
  const key = JSON.stringify([file, numFeatures, numLabels, rank, seed]);
  if (lastFactors?.key === key) return lastFactors.value;
  const model = await readSparseLinearTeacher(teacherPath);
  let value: TeacherFactors | null = null;
  if (model && fits(model, numFeatures, numLabels)) {
    const L = numLabels;
    const weights = firstRows(model.weights, L);
    const factors = await lowRankFactors(weights, rank, { seed });
    let total = 0;
    const vals = weights.values!;
    for (let p = 0; p < weights.indptr[L]; p++) total += vals[p] * vals[p];
    let kept = 0;
    for (const s of factors.singularValues) kept += s * s;
    value = { model, weights, factors, energy: total > 0 ? kept / total : 0 };
  }
  lastFactors = { key, file, value };
  return value;
}

/** Whether the teacher's weights cover a student over these features and labels. */
function fits(model: SparseLinearModel, numFeatures: number, numLabels: number): boolean {
  return model.numFeatures === numFeatures && model.numLabels >= numLabels;
}

/** A weight matrix's first `rows` rows, without a copy. */
function firstRows(w: Csr, rows: number): Csr {
  return w.rows === rows ? w : { ...w, rows, indptr: w.indptr.subarray(0, rows + 1) };
}

/** How far under MIN_ENERGY energyShareBound must be to skip the factoring: room for its estimate's spread (8 % on apt-files). */
const BOUND_MARGIN = 1.5;

/**
 * The teacher-start energy as teacherStartEnergy gives it or, where energyShareBound already puts
 * it out of reach (under MIN_ENERGY / BOUND_MARGIN), that bound as `atMost` and no factoring
 * (apt-files' fold-0 teacher: 0.5 s against 17–19 s of factoring, npm run bench:energy-bound).
 */
export async function teacherStartReach(teacherPath: string, shape: StudentShape, seed: number): Promise<{ energy: number | null; atMost?: number }> {
  const rank = shape.labelBias ? shape.dim - 1 : shape.dim;
  // the bound is never under √(rank / labels) (‖W Wᵀ‖_F ≥ ‖W‖_F² / √labels): with fewer labels it cannot
  // rule the teacher start out, and is not worth its probes (debtags: 0.6 s)
  const mayRuleOut = Math.sqrt(rank / shape.numLabels) * BOUND_MARGIN < MIN_ENERGY;
  const model = mayRuleOut && !(await stat(teacherPath)).isDirectory() ? await readSparseLinearTeacher(teacherPath) : null;
  if (model && fits(model, shape.inputDim, shape.numLabels)) {
    const atMost = energyShareBound(firstRows(model.weights, shape.numLabels), rank, seed);
    if (atMost * BOUND_MARGIN < MIN_ENERGY) return { energy: null, atMost };
  }
  return { energy: await teacherStartEnergy(teacherPath, shape, seed) };
}

/**
 * Whether a student of this shape would start from the teacher: the share of the teacher's weight
 * energy its rank holds, null when the teacher's weights are not readable.
 */
export async function teacherStartEnergy(teacherPath: string, shape: StudentShape, seed: number): Promise<number | null> {
  const rank = shape.labelBias ? shape.dim - 1 : shape.dim;
  const f = await teacherFactors(teacherPath, shape.inputDim, shape.numLabels, rank, seed);
  return f ? f.energy : null;
}

/**
 * Overwrites student.W1 and student.V; null (student untouched) when the teacher's weights are
 * not readable or do not fit. `scoreScale`: what the teacher's scores are multiplied by before
 * they are distilled (1 / calibration temperature).
 */
export async function initStudentFromTeacher(student: Student, teacherPath: string, features: Csr, opts: { seed: number; scoreScale: number }): Promise<TeacherInitReport | null> {
  const { inputDim: D, numLabels: L, dim: d, tau, labelBias } = student.shape;
  const rank = student.embeddingDim;
  const t = await teacherFactors(teacherPath, D, L, rank, opts.seed);
  if (!t) return null;
  const { model, factors: f, energy } = t;
  if (energy < MIN_ENERGY) return { rank, energy, applied: false };
  const vScale = tau * opts.scoreScale * medianQueryNorm(features, f.right, rank);
  // each row written once, its slots past the rank zeroed (debtags' W1: 139 MB, a fill and a copy before)
  const { W1, V } = student;
  for (let i = 0; i < D; i++) {
    W1.set(f.right.subarray(i * rank, (i + 1) * rank), i * d);
    W1.fill(0, i * d + rank, (i + 1) * d);
  }
  for (let y = 0; y < L; y++) {
    for (let j = 0; j < rank; j++) V[y * d + j] = f.left[y * rank + j] * vScale;
    V.fill(0, y * d + rank, (y + 1) * d);
    if (labelBias) V[y * d + d - 1] = tau * opts.scoreScale * model.bias[y];
  }
  return { rank, energy, applied: true };
}
