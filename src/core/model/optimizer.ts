import type { KernelMemory, Kernels } from '../simd/kernel-memory.js';
import { dot } from '../util/vectors.js';

/** Updates one parameter row from its gradient (scale × grad[gOffset..gOffset+dim)). */
export interface RowOptimizer {
  stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void;
  /** Optimizer state, per parameter or per row, for checkpoints (empty when stateless). */
  readonly accum: Float32Array;
}

export type RowOptimizerFactory = (params: Float32Array, dim: number, lr: number) => RowOptimizer;

const EPS = 1e-8;
const INITIAL_ACCUMULATOR = 0.1;

/**
 * The Adagrad a training config asks for (`rowwise`: one accumulator per row, RowwiseAdagrad) with
 * its accumulators in this thread's memory, in shared memory (`shared`: for Hogwild threads), or
 * adopted as they are (`adopt(params)`: a training thread's view of the shared ones). With
 * `kernels`, new accumulators are carved from that memory and steps on rows it holds run its
 * SIMD kernels (when the gradient is there too).
 */
export function adagradFactory(rowwise: boolean, memory: 'own' | 'shared' | ((params: Float32Array) => Float32Array | undefined), kernels: KernelMemory | null = null): RowOptimizerFactory {
  return (params, dim, lr) => {
    const size = rowwise ? params.length / dim : params.length;
    const accum = typeof memory === 'function' ? memory(params) : kernels ? kernels.floats(size).fill(INITIAL_ACCUMULATOR) : memory === 'shared' ? sharedAccumulators(size) : undefined;
    const opt = rowwise ? new RowwiseAdagrad(params, dim, lr, accum) : new SparseAdagrad(params, dim, lr, accum);
    if (kernels?.holds(params) && kernels.holds(opt.accum)) opt.useKernels(kernels);
    return opt;
  };
}

/** Parameters [rows, dim] and their accumulators: `accum` adopted as it is (another thread's, in shared memory), else new ones. */
abstract class Adagrad implements RowOptimizer {
  readonly accum: Float32Array;

  constructor(
    readonly params: Float32Array,
    readonly dim: number,
    public lr: number,
    accum: Float32Array | undefined,
    perRow: boolean,
  ) {
    const rows = params.length / dim;
    if (!Number.isInteger(rows)) throw new Error(`${params.length} parameters are not rows of ${dim}`);
    const size = perRow ? rows : params.length;
    if (accum && accum.length !== size) throw new Error(`accumulators have ${accum.length} values, the parameters ${size} ${perRow ? 'rows' : 'values'}`);
    this.accum = accum ?? new Float32Array(size).fill(INITIAL_ACCUMULATOR);
  }

  /** The SIMD kernels and the memory they reach, once useKernels has checked params and accum are in it. */
  protected kernels: Kernels | null = null;
  protected kernelBuffer: ArrayBufferLike | null = null;

  /** Steps with the kernels of `km`, which holds params and accum, whenever the gradient is in it too. */
  useKernels(km: KernelMemory): void {
    if (!km.holds(this.params) || !km.holds(this.accum)) throw new Error('kernel steps need the parameters and accumulators in the kernel memory');
    this.kernels = km.kernels;
    this.kernelBuffer = km.memory.buffer;
  }

  abstract stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void;
}

function sharedAccumulators(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(n * 4)).fill(INITIAL_ACCUMULATOR);
}

/**
 * Sparse (lazy) Adagrad: only rows touched by an example are updated, so a step costs
 * O(touched rows × dim), not O(parameters). Per-coordinate accumulators, as in fastText's and
 * StarSpace's sparse embedding training.
 */
export class SparseAdagrad extends Adagrad {
  constructor(params: Float32Array, dim: number, lr: number, accum?: Float32Array) {
    super(params, dim, lr, accum, false);
  }

  /** Where the kernels of the memory whose buffer is `buffer` step its rows (addresses of the parameters and accumulators), when they do: a caller's batched kernels can then step them too. */
  kernelRows(buffer: ArrayBufferLike): { params: number; accum: number; optimizer: SparseAdagrad } | null {
    return this.kernels !== null && this.kernelBuffer === buffer ? { params: this.params.byteOffset, accum: this.accum.byteOffset, optimizer: this } : null;
  }

  /** params[row] -= lr * scale * grad / sqrt(accum), where the gradient is scale * grad[gOffset..]. */
  stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void {
    const p = this.params;
    const a = this.accum;
    const lr = this.lr;
    const base = row * this.dim;
    if (this.kernels !== null && grad.buffer === this.kernelBuffer) {
      this.kernels.adagrad(p.byteOffset + 4 * base, a.byteOffset + 4 * base, grad.byteOffset + 4 * gOffset, scale, lr, this.dim);
      return;
    }
    for (let j = 0; j < this.dim; j++) {
      const g = scale * grad[gOffset + j];
      const acc = a[base + j] + g * g;
      a[base + j] = acc;
      p[base + j] -= (lr * g) / (Math.sqrt(acc) + EPS);
    }
  }
}

/**
 * Row-wise Adagrad (the embedding tables' optimizer of DLRM and FBGEMM): one accumulator per row,
 * summing the mean square of the row's gradient, so a step costs one square root per row instead
 * of one per coordinate, and the state is a d-th of the per-coordinate one.
 */
export class RowwiseAdagrad extends Adagrad {
  constructor(params: Float32Array, dim: number, lr: number, accum?: Float32Array) {
    super(params, dim, lr, accum, true);
  }

  /** accum[row] += mean_j g_j²; params[row] -= lr * g / sqrt(accum[row]), where g = scale * grad[gOffset..]. */
  stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void {
    const p = this.params;
    const d = this.dim;
    const k = this.kernels !== null && grad.buffer === this.kernelBuffer ? this.kernels : null;
    const g = grad.byteOffset + 4 * gOffset;
    const acc = this.accum[row] + (scale * scale * (k ? k.dot(g, g, d) : dot(grad, gOffset, grad, gOffset, d))) / d;
    this.accum[row] = acc;
    const step = (this.lr * scale) / (Math.sqrt(acc) + EPS);
    const base = row * d;
    if (k) k.axpy(p.byteOffset + 4 * base, g, -step, d);
    else for (let j = 0; j < d; j++) p[base + j] -= step * grad[gOffset + j];
  }
}
