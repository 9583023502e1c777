import { scaleToUnitInto, sparseRowTimesDenseInto, type Csr } from './csr.js';
import { Rng } from './rng.js';

export interface StudentShape {
  inputDim: number; // D, sparse input features
  dim: number; // d, embedding size
  numLabels: number; // L
  tau: number; // score temperature: s(x, y) = q(x)·v_y / tau
}

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

  /** Small random init: W1 ~ U(±1/√d), V ~ N(0, 0.1²/d)·√d, both drawn from `seed`. */
  static init(shape: StudentShape, seed: number): Student {
    const rng = new Rng(seed);
    const d = shape.dim;
    const W1 = new Float32Array(shape.inputDim * d);
    const a = 1 / Math.sqrt(d);
    for (let i = 0; i < W1.length; i++) W1[i] = (2 * rng.next() - 1) * a;
    const V = new Float32Array(shape.numLabels * d);
    const s = 0.1 / Math.sqrt(d);
    for (let i = 0; i < V.length; i++) V[i] = rng.normal() * s;
    return new Student(shape, W1, V);
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
    scaleToUnitInto(out, outOffset, d, norm);
    return norm;
  }

  /** q(x) for every row of `features`: [rows, d]. */
  encodeAll(features: Csr): Float32Array {
    const d = this.shape.dim;
    const out = new Float32Array(features.rows * d);
    for (let r = 0; r < features.rows; r++) {
      this.encodeSparseInto(features.indices, features.values, features.indptr[r], features.indptr[r + 1], out, r * d);
    }
    return out;
  }
}
