/** Updates one parameter row from its gradient (scale × grad[gOffset..gOffset+dim)). */
export interface RowOptimizer {
  stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void;
  /** Per-parameter optimizer state, for checkpoints (empty when stateless). */
  readonly accum: Float32Array;
}

export type RowOptimizerFactory = (params: Float32Array, dim: number, lr: number) => RowOptimizer;

const DEFAULT_EPS = 1e-8;
const DEFAULT_ACCUMULATOR = 0.1;

export const adagrad: RowOptimizerFactory = (params, dim, lr) => new SparseAdagrad(params, dim, lr);

/** Adagrad whose accumulators live in shared memory, for Hogwild threads to update together. */
export const sharedAdagrad: RowOptimizerFactory = (params, dim, lr) =>
  new SparseAdagrad(params, dim, lr, DEFAULT_EPS, DEFAULT_ACCUMULATOR, new Float32Array(new SharedArrayBuffer(params.length * 4)).fill(DEFAULT_ACCUMULATOR));

/**
 * Sparse (lazy) Adagrad: only rows touched by an example are updated, so a step costs
 * O(touched rows × dim), not O(parameters). Per-coordinate accumulators, as in fastText's and
 * StarSpace's sparse embedding training.
 */
export class SparseAdagrad implements RowOptimizer {
  readonly accum: Float32Array;

  constructor(
    readonly params: Float32Array,
    readonly dim: number,
    public lr: number,
    readonly eps = DEFAULT_EPS,
    initialAccumulator = DEFAULT_ACCUMULATOR,
    /** Accumulators to adopt as they are (another thread's, in shared memory); else new ones. */
    accum?: Float32Array,
  ) {
    if (accum && accum.length !== params.length) throw new Error(`accumulators have ${accum.length} values, the parameters ${params.length}`);
    this.accum = accum ?? new Float32Array(params.length).fill(initialAccumulator);
  }

  /** params[row] -= lr * scale * grad / sqrt(accum), where the gradient is scale * grad[gOffset..]. */
  stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void {
    const p = this.params;
    const a = this.accum;
    const lr = this.lr;
    const eps = this.eps;
    const base = row * this.dim;
    for (let j = 0; j < this.dim; j++) {
      const g = scale * grad[gOffset + j];
      const acc = a[base + j] + g * g;
      a[base + j] = acc;
      p[base + j] -= (lr * g) / (Math.sqrt(acc) + eps);
    }
  }
}
