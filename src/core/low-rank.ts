/**
 * Rank-k factorisation of a sparse matrix by randomized SVD (Halko, Martinsson & Tropp 2011,
 * algorithm 4.4: Gaussian range finder with power iterations): M ≈ A Bᵀ with A = U S^½ and
 * B = V S^½, the split that leaves both factors on the same scale. Only products with M and Mᵀ
 * touch the sparse matrix, so the cost is O(nnz · (k + oversampling) · (2 + 2·powerIterations)).
 * The small dense steps (QR of the tall sketch, eigen-decomposition of the k×k Gram matrix) go
 * through ml-matrix.
 */
import { EigenvalueDecomposition, Matrix, QrDecomposition } from 'ml-matrix';
import type { Csr } from './csr.js';
import { Rng } from './rng.js';

export interface LowRankOptions {
  /** Extra sketch columns beyond k: better subspace, small cost. @defaultValue 10 */
  oversampling?: number;
  /** Power iterations: sharpen the sketch where the spectrum decays slowly. @defaultValue 2 */
  powerIterations?: number;
  seed?: number;
}

export interface LowRankFactors {
  rank: number;
  /** [M.rows, rank] row-major, U·S^½. */
  left: Float32Array;
  /** [M.cols, rank] row-major, V·S^½. */
  right: Float32Array;
  /** The top singular values, descending. */
  singularValues: Float64Array;
}

/** Y = M·Z: Z is [cols, w] row-major, Y [rows, w]. */
function times(M: Csr, Z: Float64Array, w: number): Float64Array {
  const Y = new Float64Array(M.rows * w);
  for (let r = 0; r < M.rows; r++) {
    const yo = r * w;
    for (let p = M.indptr[r]; p < M.indptr[r + 1]; p++) {
      const a = M.values ? M.values[p] : 1;
      const zo = M.indices[p] * w;
      for (let j = 0; j < w; j++) Y[yo + j] += a * Z[zo + j];
    }
  }
  return Y;
}

/** Z = Mᵀ·Y: Y is [rows, w] row-major, Z [cols, w] (Float64 unless given). */
function transposeTimes<T extends Float64Array | Float32Array>(M: Csr, Y: Float64Array, w: number, Z: T = new Float64Array(M.cols * w) as T): T {
  for (let r = 0; r < M.rows; r++) {
    const yo = r * w;
    for (let p = M.indptr[r]; p < M.indptr[r + 1]; p++) {
      const a = M.values ? M.values[p] : 1;
      const zo = M.indices[p] * w;
      for (let j = 0; j < w; j++) Z[zo + j] += a * Y[yo + j];
    }
  }
  return Z;
}

function toMatrix(flat: Float64Array, rows: number, w: number): Matrix {
  const m = new Matrix(rows, w);
  for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) m.set(r, j, flat[r * w + j]);
  return m;
}

/** An orthonormal basis of the columns of Y ([rows, w] row-major), same layout. */
function orthonormalize(Y: Float64Array, rows: number, w: number): Float64Array {
  const Q = new QrDecomposition(toMatrix(Y, rows, w)).orthogonalMatrix;
  const out = new Float64Array(rows * w);
  for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) out[r * w + j] = Q.get(r, j);
  return out;
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
export function lowRankFactors(M0: Csr, rank: number, opts: LowRankOptions = {}): LowRankFactors {
  if (!Number.isInteger(rank) || rank < 1) throw new RangeError(`rank must be a positive integer, got ${rank}`);
  const { M } = compressColumns(M0);
  const w = Math.max(1, Math.min(rank + (opts.oversampling ?? 10), M.rows, M.cols));
  const k = Math.min(rank, w);
  const rng = new Rng(opts.seed ?? 1);
  const G = new Float64Array(M.cols * w);
  for (let i = 0; i < G.length; i++) G[i] = rng.normal();
  let Q = orthonormalize(times(M, G, w), M.rows, w);
  for (let it = 0; it < (opts.powerIterations ?? 2); it++) Q = orthonormalize(times(M, transposeTimes(M, Q, w), w), M.rows, w);
  // Qᵀ M Mᵀ Q = Us Λ Usᵀ: the squared singular values of M restricted to range(Q).
  const P = times(M, transposeTimes(M, Q, w), w);
  const gram = new Matrix(w, w);
  for (let i = 0; i < w; i++) {
    for (let j = i; j < w; j++) {
      let a = 0;
      let b = 0;
      for (let r = 0; r < M.rows; r++) {
        a += Q[r * w + i] * P[r * w + j];
        b += Q[r * w + j] * P[r * w + i];
      }
      gram.set(i, j, (a + b) / 2);
      gram.set(j, i, (a + b) / 2);
    }
  }
  const eig = new EigenvalueDecomposition(gram, { assumeSymmetric: true });
  const order = eig.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
  const Us = eig.eigenvectorMatrix;
  const singularValues = new Float64Array(k);
  const left = new Float32Array(M.rows * rank);
  // R = Q·Us·S^-½, so right = Mᵀ R = V·S^½ (V = Mᵀ U S⁻¹)
  const R = new Float64Array(M.rows * rank);
  for (let t = 0; t < k; t++) {
    const [lambda, col] = order[t];
    const s = Math.sqrt(Math.max(lambda, 0));
    singularValues[t] = s;
    if (s <= 1e-9 * Math.max(singularValues[0], 1e-300)) continue; // beyond the numerical rank
    const rootS = Math.sqrt(s);
    for (let r = 0; r < M.rows; r++) {
      let acc = 0;
      for (let j = 0; j < w; j++) acc += Q[r * w + j] * Us.get(j, col);
      left[r * rank + t] = acc * rootS;
      R[r * rank + t] = acc / rootS;
    }
  }
  const right = transposeTimes(M0, R, rank, new Float32Array(M0.cols * rank));
  return { rank, left, right, singularValues };
}
