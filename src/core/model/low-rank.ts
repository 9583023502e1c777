/**
 * Rank-k factorisation of a sparse matrix by randomized SVD (Halko, Martinsson & Tropp 2011,
 * algorithm 4.4: Gaussian range finder with power iterations): M ≈ A Bᵀ with A = U S^½ and
 * B = V S^½, the split that leaves both factors on the same scale. Only products with M and Mᵀ
 * touch the sparse matrix, so the cost is O(nnz · (k + oversampling) · (2 + 2·powerIterations)).
 * The tall dense products (rows × w by w × w) run on ONNX Runtime (dense-f64.ts), and so do the
 * products with M itself when M is filled enough to store densely (DENSE_MIN_FILL); the small steps
 * (Cholesky and eigen-decomposition of w × w matrices) go through ml-matrix.
 */
import { CholeskyDecomposition, EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import type { Csr } from '../data/csr.js';
import { Rng } from '../util/rng.js';
import { sharedFloats } from '../util/shared-arrays.js';
import { times64, transposeTimes64 } from './dense-f64.js';

export interface LowRankOptions {
  /** Extra sketch columns beyond k: better subspace, small cost. @defaultValue 10 */
  oversampling?: number;
  /** Power iterations: sharpen the sketch where the spectrum decays slowly. @defaultValue 2 */
  powerIterations?: number;
  seed?: number;
  /** Multiply by M as a dense matrix on ONNX Runtime. @defaultValue by DENSE_MIN_FILL and DENSE_MAX_ENTRIES */
  denseProducts?: boolean;
  /** Factor exactly through the eigen-decomposition of M·Mᵀ. @defaultValue gramIsCheaper(M, rank) */
  gram?: boolean;
}

export interface LowRankFactors {
  rank: number;
  /** [M.rows, rank] row-major, U·S^½. */
  left: Float32Array;
  /**
   * [M.cols, rank] row-major, V·S^½; in shared memory, since it is as large as the student's W1:
   * posted to other threads (the auto search's trial threads) without a copy.
   */
  right: Float32Array;
  /** The top singular values, descending. */
  singularValues: Float64Array;
}

/**
 * The sparse product one way or the other, row-major [*, w] dense sides: Y = M·Z (Z [cols, w] →
 * Y [rows, w]) or, transposed, Z = Mᵀ·Y (Y [rows, w] → Z [cols, w], Float64 unless `out` is given).
 */
function sparseProduct<T extends Float64Array | Float32Array>(M: Csr, X: Float64Array, w: number, transposed: boolean, out?: T): T {
  const Y = out ?? (new Float64Array((transposed ? M.cols : M.rows) * w) as T);
  for (let r = 0; r < M.rows; r++) {
    for (let p = M.indptr[r]; p < M.indptr[r + 1]; p++) {
      const a = M.values ? M.values[p] : 1;
      const yo = transposed ? M.indices[p] * w : r * w;
      const xo = transposed ? r * w : M.indices[p] * w;
      for (let j = 0; j < w; j++) Y[yo + j] += a * X[xo + j];
    }
  }
  return Y;
}

const transposeTimes = <T extends Float64Array | Float32Array = Float64Array>(M: Csr, Y: Float64Array, w: number, out?: T): T => sparseProduct(M, Y, w, true, out);

/**
 * A matrix with at least this share of its entries stored is multiplied as a dense one on ONNX
 * Runtime's Gemm, whose rate the sparse loop would need about 64× fewer entries to match (a guess
 * from one point, not a measured crossover): Delicious' teacher (983 × 500, 67 % filled) put the
 * --auto job's preparing stage at 2.5–4.0 s with the sparse loops, 1.3–1.4 s dense (bench:auto-jobs).
 */
export const DENSE_MIN_FILL = 1 / 64;
/** …and when it has at most this many entries (128 MiB as doubles). */
export const DENSE_MAX_ENTRIES = 1 << 24;

/** Products with M and Mᵀ: as a dense matrix on ONNX Runtime when it is filled and small enough, else the sparse loops. */
interface MatrixProducts {
  /** M·Z, Z [cols, w] → [rows, w]. */
  times(Z: Float64Array, w: number): Promise<Float64Array>;
  /** Mᵀ·Y, Y [rows, w] → [cols, w]. */
  transposeTimes(Y: Float64Array, w: number): Promise<Float64Array>;
}

/** Whether M is filled and small enough to multiply as a dense matrix. */
function densely(M: Csr): boolean {
  const entries = M.rows * M.cols;
  return entries > 0 && entries <= DENSE_MAX_ENTRIES && M.indptr[M.rows] >= DENSE_MIN_FILL * entries;
}

function productsOf(M: Csr, denseProducts?: boolean): MatrixProducts {
  const entries = M.rows * M.cols;
  if (!(denseProducts ?? densely(M))) {
    return { times: async (Z, w) => sparseProduct(M, Z, w, false), transposeTimes: async (Y, w) => transposeTimes(M, Y, w) };
  }
  const dense = new Float64Array(entries);
  for (let r = 0; r < M.rows; r++) for (let p = M.indptr[r]; p < M.indptr[r + 1]; p++) dense[r * M.cols + M.indices[p]] += M.values ? M.values[p] : 1;
  return { times: (Z, w) => times64(dense, Z, M.rows, M.cols, w), transposeTimes: (Y, w) => transposeTimes64(dense, Y, M.rows, M.cols, w) };
}

/** YᵀZ for row-major [rows, w] matrices: a symmetric w × w Gram matrix when Z = Y. */
async function crossProduct(Y: Float64Array, Z: Float64Array, rows: number, w: number): Promise<Matrix> {
  const acc = await transposeTimes64(Y, Z, rows, w, w);
  const m = new Matrix(w, w);
  for (let i = 0; i < w; i++) for (let j = 0; j < w; j++) m.set(i, j, acc[i * w + j]);
  return m;
}

/** Y·T for row-major Y [rows, w] and a w × k matrix T, into [rows, k]. */
function timesSmall(Y: Float64Array, rows: number, w: number, T: Matrix, k: number): Promise<Float64Array> {
  const t = new Float64Array(w * k);
  for (let i = 0; i < w; i++) for (let j = 0; j < k; j++) t[i * k + j] = T.get(i, j);
  return times64(Y, t, rows, w, k);
}

/** The inverse of an upper-triangular matrix with a non-zero diagonal, by back-substitution. */
function upperInverse(R: Matrix): Matrix {
  const w = R.rows;
  const X = new Matrix(w, w);
  for (let j = 0; j < w; j++) {
    X.set(j, j, 1 / R.get(j, j));
    for (let i = j - 1; i >= 0; i--) {
      let sum = 0;
      for (let t = i + 1; t <= j; t++) sum += R.get(i, t) * X.get(t, j);
      X.set(i, j, -sum / R.get(i, i));
    }
  }
  return X;
}

/**
 * An orthonormal basis of the columns of Y ([rows, w] row-major), same layout: Cholesky QR twice
 * (CholQR2: as accurate as Householder once the first pass has conditioned Y, and two dense
 * products a pass), Householder QR (ml-matrix) when Y is rank-deficient (labels without weights).
 */
async function orthonormalize(Y: Float64Array, rows: number, w: number): Promise<Float64Array> {
  let Q = Y;
  for (let pass = 0; pass < 2; pass++) {
    const chol = new CholeskyDecomposition(await crossProduct(Q, Q, rows, w));
    if (!chol.isPositiveDefinite()) return householder(Y, rows, w);
    const Rinv = upperInverse(chol.lowerTriangularMatrix.transpose()); // Y = Q R, R = Lᵀ
    Q = await timesSmall(Q, rows, w, Rinv, w);
  }
  // an ill-conditioned Y (near-dependent columns) leaves CholQR2 short of orthonormal
  const check = await crossProduct(Q, Q, rows, w);
  for (let i = 0; i < w; i++) for (let j = 0; j < w; j++) if (Math.abs(check.get(i, j) - (i === j ? 1 : 0)) > 1e-8) return householder(Y, rows, w);
  return Q;
}

function householder(Y: Float64Array, rows: number, w: number): Float64Array {
  const m = new Matrix(rows, w);
  for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) m.set(r, j, Y[r * w + j]);
  const Q = new QrDecomposition(m).orthogonalMatrix;
  const out = new Float64Array(rows * w);
  for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) out[r * w + j] = Q.get(r, j);
  return out;
}

/**
 * √ of the top k eigenvalues of a symmetric Gram matrix (the squared singular values), descending,
 * and each one's eigenvector column in `vectors`; -1 past the numerical rank, whose factor columns
 * stay zero.
 */
function singularSpectrum(gram: Matrix, k: number): { singularValues: Float64Array; columns: Int32Array; vectors: Matrix } {
  const eig = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const order = eig.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  const singularValues = new Float64Array(k);
  const columns = new Int32Array(k).fill(-1);
  for (let t = 0; t < k; t++) {
    const [lambda, col] = order[t];
    singularValues[t] = Math.sqrt(Math.max(lambda, 0));
    if (singularValues[t] > 1e-9 * Math.max(singularValues[0], 1e-300)) columns[t] = col;
  }
  return { singularValues, columns, vectors: eig.eigenvectorMatrix };
}

/** M with its empty columns dropped (hashed text features: most of D), and the kept column ids. */
function compressColumns(M: Csr): { M: Csr; cols: Int32Array } {
  const map = new Int32Array(M.cols).fill(-1);
  const n = M.indptr[M.rows];
  for (let p = 0; p < n; p++) map[M.indices[p]] = 0;
  let kept = 0;
  for (let c = 0; c < M.cols; c++) if (map[c] === 0) map[c] = kept++;
  const cols = new Int32Array(kept);
  for (let c = 0; c < M.cols; c++) if (map[c] >= 0) cols[map[c]] = c;
  const indices = new Int32Array(n);
  for (let p = 0; p < n; p++) indices[p] = map[M.indices[p]];
  return { M: { ...M, cols: kept, indices }, cols };
}

/**
 * M ≈ left · rightᵀ with inner dimension `rank` (the columns beyond the numerical rank come out
 * zero). Every dense step works on the rows' side ([rows, w]); the columns' side (up to 2^20
 * hashed features) is only ever the output of a sparse product, so memory and time stay
 * O(nnz · w + rows · w²).
 */
export async function lowRankFactors(M0: Csr, rank: number, opts: LowRankOptions = {}): Promise<LowRankFactors> {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`rank must be a positive integer, got ${rank}`);
  if (opts.gram ?? gramIsCheaper(M0, rank + (opts.oversampling ?? 10))) return gramFactors(M0, rank);
  const { M } = compressColumns(M0);
  const w = Math.max(1, Math.min(rank + (opts.oversampling ?? 10), M.rows, M.cols));
  const k = Math.min(rank, w);
  const rng = new Rng(opts.seed ?? 1);
  const G = new Float64Array(M.cols * w);
  for (let i = 0; i < G.length; i++) G[i] = rng.normal();
  const products = productsOf(M, opts.denseProducts);
  let Q = await orthonormalize(await products.times(G, w), M.rows, w);
  for (let it = 0; it < (opts.powerIterations ?? 2); it++) Q = await orthonormalize(await products.times(await products.transposeTimes(Q, w), w), M.rows, w);
  // Qᵀ M Mᵀ Q = Us Λ Usᵀ: the squared singular values of M restricted to range(Q).
  const P = await products.times(await products.transposeTimes(Q, w), w);
  const gram = await crossProduct(Q, P, M.rows, w);
  for (let i = 0; i < w; i++) {
    for (let j = i + 1; j < w; j++) {
      const v = (gram.get(i, j) + gram.get(j, i)) / 2;
      gram.set(i, j, v);
      gram.set(j, i, v);
    }
  }
  const { singularValues, columns, vectors: Us } = singularSpectrum(gram, k);
  // columns of Us in descending order, scaled by √s (left) and 1/√s (R = Q·Us·S^-½)
  const up = new Matrix(w, rank);
  const down = new Matrix(w, rank);
  for (let t = 0; t < k; t++) {
    const col = columns[t];
    if (col < 0) continue;
    const s = singularValues[t];
    for (let j = 0; j < w; j++) {
      up.set(j, t, Us.get(j, col) * Math.sqrt(s));
      down.set(j, t, Us.get(j, col) / Math.sqrt(s));
    }
  }
  const left = Float32Array.from(await timesSmall(Q, M.rows, w, up, rank));
  const R = await timesSmall(Q, M.rows, w, down, rank);
  // right = Mᵀ R = V·S^½ (V = Mᵀ U S⁻¹)
  const right = transposeTimes(M0, R, rank, sharedFloats(M0.cols * rank));
  return { rank, left, right, singularValues };
}

/** Largest M·Mᵀ the exact path makes (rows²; 128 MiB as doubles). */
const GRAM_MAX_ENTRIES = 1 << 24;

/**
 * Whether the exact path costs less than the randomized one for M, sketch width w: an eigen-
 * decomposition of rows³ (ml-matrix, in JavaScript) against about eight sparse products of nnz·w
 * multiply-adds. A matrix multiplied densely on ONNX Runtime stays randomized. `npm run
 * bench:teacher-start`: debtags' teacher (567 × 135,483, 2.3 M weights, rank 255) 21.5 s randomized,
 * 4.3 s exact; Delicious' (983 × 500, filled) 0.67 s randomized on ONNX Runtime, 6.2 s exact.
 */
export function gramIsCheaper(M: Csr, w: number): boolean {
  const rows = M.rows;
  return rows * rows <= GRAM_MAX_ENTRIES && !densely(M) && rows ** 3 < 4 * M.indptr[rows] * w;
}

/**
 * M = U S Vᵀ from M·Mᵀ = U S² Uᵀ (Σ over columns of their entries' outer products, then a
 * symmetric eigen-decomposition), left = U S^½, right = Mᵀ U S^-½ = V S^½. Exact up to rounding;
 * squaring M squares its condition number, which costs only the smallest singular values digits.
 */
async function gramFactors(M: Csr, rank: number): Promise<LowRankFactors> {
  const L = M.rows;
  const n = M.indptr[L];
  // column-major copy: the rows (and values) of each column's entries
  const colStart = new Int32Array(M.cols + 1);
  for (let p = 0; p < n; p++) colStart[M.indices[p] + 1]++;
  for (let c = 0; c < M.cols; c++) colStart[c + 1] += colStart[c];
  const fill = colStart.slice(0, M.cols);
  const rowOf = new Int32Array(n);
  const valOf = new Float64Array(n);
  for (let r = 0; r < L; r++) {
    for (let p = M.indptr[r]; p < M.indptr[r + 1]; p++) {
      const q = fill[M.indices[p]]++;
      rowOf[q] = r;
      valOf[q] = M.values ? M.values[p] : 1;
    }
  }
  const G = new Float64Array(L * L); // upper triangle (row ≤ col), rows increase within a column
  for (let c = 0; c < M.cols; c++) {
    for (let a = colStart[c]; a < colStart[c + 1]; a++) {
      const base = rowOf[a] * L;
      const va = valOf[a];
      for (let b = a; b < colStart[c + 1]; b++) G[base + rowOf[b]] += va * valOf[b];
    }
  }
  const gram = new Matrix(L, L);
  for (let i = 0; i < L; i++) {
    for (let j = i; j < L; j++) {
      gram.set(i, j, G[i * L + j]);
      gram.set(j, i, G[i * L + j]);
    }
  }
  const { singularValues, columns, vectors: U } = singularSpectrum(gram, Math.min(rank, L));
  const left = new Float32Array(L * rank);
  const down = new Float64Array(L * rank);
  for (let t = 0; t < singularValues.length; t++) {
    const col = columns[t];
    if (col < 0) continue;
    const sv = singularValues[t];
    for (let i = 0; i < L; i++) {
      left[i * rank + t] = U.get(i, col) * Math.sqrt(sv);
      down[i * rank + t] = U.get(i, col) / Math.sqrt(sv);
    }
  }
  // right = Mᵀ·down column by column of M (its column-major copy): each output row written once
  // and the reads from `down` (L × rank) stay in cache; debtags 2.2 s by rows of M, scattering
  const right = sharedFloats(M.cols * rank);
  const acc = new Float64Array(rank);
  for (let c = 0; c < M.cols; c++) {
    if (colStart[c] === colStart[c + 1]) continue;
    acc.fill(0);
    for (let a = colStart[c]; a < colStart[c + 1]; a++) {
      const v = valOf[a];
      const at = rowOf[a] * rank;
      for (let t = 0; t < rank; t++) acc[t] += v * down[at + t];
    }
    right.set(acc, c * rank);
  }
  return { rank, left, right, singularValues };
}
