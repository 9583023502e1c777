/**
 * Gaussian random projection of sparse rows: x ↦ Rᵀx with R ∈ R^{inputDim×outputDim}, entries
 * N(0, 1/outputDim), so squared norms are preserved in expectation (Johnson–Lindenstrauss).
 * R is generated from the seed and stored as one Float32Array [inputDim, outputDim]
 * (inputDim·outputDim·4 bytes: 1M features × 64 = 256 MB).
 */
import { scaleToUnitInto, sparseRowTimesDenseInto, type Csr } from '../core/data/csr.js';
import { Rng } from '../core/util/rng.js';

export interface RandomProjectionOptions {
  /** Scale each projected row to unit L2 norm (zero rows stay zero). @defaultValue false */
  normalize?: boolean;
}

export class RandomProjection {
  /** [inputDim, outputDim] */
  readonly matrix: Float32Array;
  readonly normalize: boolean;

  constructor(
    readonly inputDim: number,
    readonly outputDim: number,
    readonly seed: number,
    opts: RandomProjectionOptions = {},
  ) {
    if (!(inputDim >= 1 && outputDim >= 1)) {
      throw new RangeError(`RandomProjection needs positive dims, got ${inputDim}×${outputDim}`);
    }
    this.normalize = opts.normalize ?? false;
    const m = new Float32Array(inputDim * outputDim);
    const rng = new Rng(seed);
    const scale = 1 / Math.sqrt(outputDim);
    for (let i = 0; i < m.length; i++) m[i] = rng.normal() * scale;
    this.matrix = m;
  }

  /**
   * out[outOffset .. outOffset+outputDim) = projection of the sparse row (indices/values over
   * [start, end); values null = all ones). Indices must be < inputDim (not checked here).
   */
  projectSparseInto(
    indices: Int32Array,
    values: Float32Array | null,
    start: number,
    end: number,
    out: Float32Array,
    outOffset: number,
  ): void {
    const d = this.outputDim;
    const norm = sparseRowTimesDenseInto(indices, values, start, end, this.matrix, d, out, outOffset);
    if (this.normalize) scaleToUnitInto(out, outOffset, d, norm);
  }

  /** Projects every row of m: [m.rows, outputDim]. */
  projectCsr(m: Csr): Float32Array {
    if (m.cols > this.inputDim) {
      throw new RangeError(`matrix has ${m.cols} columns, projection input dim is ${this.inputDim}`);
    }
    const d = this.outputDim;
    const out = new Float32Array(m.rows * d);
    for (let r = 0; r < m.rows; r++) {
      this.projectSparseInto(m.indices, m.values, m.indptr[r], m.indptr[r + 1], out, r * d);
    }
    return out;
  }
}
