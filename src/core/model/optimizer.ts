/** Updates one parameter row from its gradient (scale × grad[gOffset..gOffset+dim)). */
export interface RowOptimizer {
  stepRow(row: number, grad: Float32Array, gOffset: number, scale: number): void;
  /** Per-parameter optimizer state, for checkpoints (empty when stateless). */
  readonly accum: Float32Array;
}

export type RowOptimizerFactory = (params: Float32Array, dim: number, lr: number) => RowOptimizer;

export const adagrad: RowOptimizerFactory = (params, dim, lr) => new SparseAdagrad(params, dim, lr);

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
    readonly eps = 1e-8,
    initialAccumulator = 0.1,
  ) {
    this.accum = new Float32Array(params.length).fill(initialAccumulator);
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
