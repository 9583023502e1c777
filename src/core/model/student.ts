import { scaleToUnitInto, sparseRowTimesDenseInto, type Csr } from '../data/csr.js';
import { Rng } from '../util/rng.js';
import { encodeRowsWithKernels } from './encode-rows.js';
import { sharedFloats } from '../util/shared-arrays.js';

export interface StudentShape {
  inputDim: number; // D, sparse input features
  dim: number; // d, embedding size
  numLabels: number; // L
  tau: number; // score temperature: s(x, y) = q(x)·v_y / tau
  /**
   * The last of the d coordinates is a label bias: q's is the constant 1 (W1's column stays 0,
   * outside the normalisation), so s = (q̂·v̂_y + b_y)/τ and maximum inner product search still
   * finds the top labels. Absent = false.
   */
  labelBias?: boolean;
}

/**
 * Nonzeros × d below which encodeAll stays in JavaScript: a millisecond or so of work. It also needs twice W1's
 * floats, since the kernels' way copies W1 first (apt-files' 1,000 ef queries: 1.3 M against 47 M).
 */
const KERNEL_ENCODE_MIN_WORK = 1 << 20;

/**
 * Dual encoder: q(x) = normalize(W1ᵀx), label table V, s(x, y) = q(x)·v_y / τ.
 * Parameters are flat row-major Float32Arrays so they can live in a SharedArrayBuffer and be
 * written straight into safetensors and ONNX initializers.
 */
export class Student {
  constructor(
    readonly shape: StudentShape,
    readonly W1: Float32Array, // [D, d]
    readonly V: Float32Array, // [L, d]
  ) {
    if (W1.length !== shape.inputDim * shape.dim) throw new Error(`W1 has ${W1.length} values, expected ${shape.inputDim}×${shape.dim}`);
    if (V.length !== shape.numLabels * shape.dim) throw new Error(`V has ${V.length} values, expected ${shape.numLabels}×${shape.dim}`);
  }

  /** The same parameters copied into shared memory, for training threads that update them together. */
  inSharedMemory(): Student {
    return new Student(this.shape, sharedFloats(this.W1), sharedFloats(this.V));
  }

  /** The coordinates q(x) learns (d, less the bias slot). */
  get embeddingDim(): number {
    return this.shape.labelBias ? this.shape.dim - 1 : this.shape.dim;
  }

  /** All parameters 0: for a start that writes every one of them (the teacher start). */
  static zeros(shape: StudentShape): Student {
    return new Student(shape, new Float32Array(shape.inputDim * shape.dim), new Float32Array(shape.numLabels * shape.dim));
  }

  /** Small random init: W1 ~ U(±1/√d), V ~ N(0, 0.1²/d)·√d, both drawn from `seed`; biases 0. */
  static init(shape: StudentShape, seed: number): Student {
    return Student.zeros(shape).randomize(seed);
  }

  /** Overwrites every parameter with Student.init's draws from `seed` (in memory of the caller's choosing); returns this. */
  randomize(seed: number): this {
    const rng = new Rng(seed);
    const { W1, V, shape } = this;
    const d = shape.dim;
    const a = 1 / Math.sqrt(d);
    for (let i = 0; i < W1.length; i++) W1[i] = (2 * rng.next() - 1) * a;
    if (shape.labelBias) for (let i = d - 1; i < W1.length; i += d) W1[i] = 0;
    const s = 0.1 / Math.sqrt(d);
    for (let i = 0; i < V.length; i++) V[i] = rng.normal() * s;
    if (shape.labelBias) for (let i = d - 1; i < V.length; i += d) V[i] = 0;
    return this;
  }

  /**
   * Encodes the sparse row (indices/values[start..end)) into out[outOffset..+d) as a unit
   * vector and returns the norm of the unnormalised encoding (0 for an empty row: q stays 0).
   */
  encodeSparseInto(
    indices: Int32Array,
    values: Float32Array | null,
    start: number,
    end: number,
    out: Float32Array,
    outOffset: number,
  ): number {
    const d = this.shape.dim;
    const norm = sparseRowTimesDenseInto(indices, values, start, end, this.W1, d, out, outOffset);
    scaleToUnitInto(out, outOffset, d, norm); // the bias slot's W1 column is 0: it adds nothing to the norm
    if (this.shape.labelBias) out[outOffset + d - 1] = 1;
    return norm;
  }

  /**
   * q(x) for every row of `features`: [rows, d]. In the WebAssembly kernels (encode-rows.ts, the same floats) when
   * the rows are work enough to pay for copying W1 there, unless `kernels` is false.
   */
  encodeAll(features: Csr, kernels = true): Float32Array {
    const work = features.indices.length * this.shape.dim;
    const viaKernels = kernels && work >= KERNEL_ENCODE_MIN_WORK && work >= 2 * this.W1.length ? encodeRowsWithKernels(this.W1, this.shape, features) : null;
    return viaKernels ?? this.encodeAllPlain(features);
  }

  private encodeAllPlain(features: Csr): Float32Array {
    const d = this.shape.dim;
    const out = new Float32Array(features.rows * d);
    for (let r = 0; r < features.rows; r++) {
      this.encodeSparseInto(features.indices, features.values, features.indptr[r], features.indptr[r + 1], out, r * d);
    }
    return out;
  }
}
