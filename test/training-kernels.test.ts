import { describe, expect, it } from 'vitest';
import { sparseRowTimesDenseInto } from '../src/core/data/csr.js';
import { adagradFactory, RowwiseAdagrad, SparseAdagrad } from '../src/core/model/optimizer.js';
import { Rng } from '../src/core/util/rng.js';
import { dot } from '../src/core/util/vectors.js';

const rng = new Rng(7);
const randoms = (n: number): Float32Array => Float32Array.from({ length: n }, () => 2 * rng.next() - 1);

describe('the training kernels against plain loops', () => {
  it('dot sums in partial sums what the left-to-right loop sums, at every length and offset', () => {
    for (let d = 0; d <= 11; d++) {
      const a = randoms(d + 3);
      const b = randoms(d + 5);
      let plain = 0;
      for (let t = 0; t < d; t++) plain += a[2 + t] * b[1 + t];
      expect(Math.abs(dot(a, 2, b, 1, d) - plain)).toBeLessThan(1e-12 * Math.max(1, d));
    }
  });

  it.each([true, false])('sparseRowTimesDenseInto takes rows four at a time and the rest one by one (values %s)', (withValues) => {
    const dim = 6;
    const matrix = randoms(20 * dim);
    for (let nnz = 0; nnz <= 9; nnz++) {
      const indices = Int32Array.from({ length: nnz + 2 }, () => rng.int(20));
      const values = withValues ? randoms(nnz + 2) : null;
      const out = new Float32Array(dim + 1).fill(9); // out[1..] is written, out[0] left alone
      const norm = sparseRowTimesDenseInto(indices, values, 1, 1 + nnz, matrix, dim, out, 1);
      const want = new Float64Array(dim);
      for (let p = 1; p < 1 + nnz; p++) for (let j = 0; j < dim; j++) want[j] += (values ? values[p] : 1) * matrix[indices[p] * dim + j];
      expect(out[0]).toBe(9);
      for (let j = 0; j < dim; j++) expect(out[1 + j]).toBeCloseTo(want[j], 5);
      expect(norm).toBeCloseTo(Math.hypot(...want), 5);
    }
  });
});

describe('Adagrad', () => {
  const dim = 4;

  it('per coordinate: accumulates each coordinate’s squared gradient and divides by its root', () => {
    const params = randoms(3 * dim);
    const before = Float64Array.from(params);
    const opt = new SparseAdagrad(params, dim, 0.5);
    const g = randoms(dim + 1);
    opt.stepRow(2, g, 1, 2);
    opt.stepRow(2, g, 1, -1);
    for (let j = 0; j < dim; j++) {
      const g1 = 2 * g[1 + j];
      const g2 = -g[1 + j];
      const a1 = 0.1 + g1 * g1;
      const a2 = a1 + g2 * g2;
      expect(opt.accum[2 * dim + j]).toBeCloseTo(a2, 6);
      expect(params[2 * dim + j]).toBeCloseTo(before[2 * dim + j] - (0.5 * g1) / Math.sqrt(a1) - (0.5 * g2) / Math.sqrt(a2), 5);
    }
    for (let i = 0; i < 2 * dim; i++) expect(params[i]).toBe(Math.fround(before[i])); // other rows untouched
  });

  it('row-wise: one accumulator per row, summing the mean squared gradient, one step size for the row', () => {
    const params = randoms(3 * dim);
    const before = Float64Array.from(params);
    const opt = new RowwiseAdagrad(params, dim, 0.5);
    expect(opt.accum.length).toBe(3);
    const g = randoms(dim);
    const meanSquare = g.reduce((a, v) => a + v * v, 0) / dim;
    opt.stepRow(1, g, 0, 3);
    const acc = 0.1 + 9 * meanSquare;
    expect(opt.accum[1]).toBeCloseTo(acc, 6);
    expect([opt.accum[0], opt.accum[2]]).toEqual([Math.fround(0.1), Math.fround(0.1)]);
    for (let j = 0; j < dim; j++) expect(params[dim + j]).toBeCloseTo(before[dim + j] - ((0.5 * 3) / Math.sqrt(acc)) * g[j], 5);
  });

  it('row-wise Adagrad minimises a least-squares problem as per-coordinate Adagrad does', () => {
    // rows of x fit to targets t by stepping on the gradient x − t, a row at a time
    const rows = 5;
    const target = randoms(rows * dim);
    const run = (rowwise: boolean): number => {
      const x = new Float32Array(rows * dim);
      const opt = adagradFactory(rowwise, 'own')(x, dim, 0.3);
      const g = new Float32Array(dim);
      for (let step = 0; step < 400; step++) {
        const r = step % rows;
        for (let j = 0; j < dim; j++) g[j] = x[r * dim + j] - target[r * dim + j];
        opt.stepRow(r, g, 0, 1);
      }
      let err = 0;
      for (let i = 0; i < x.length; i++) err += (x[i] - target[i]) ** 2;
      return err;
    };
    const start = target.reduce((a, v) => a + v * v, 0);
    expect(run(true)).toBeLessThan(1e-3 * start);
    expect(run(false)).toBeLessThan(1e-3 * start);
  });

  it('the factory puts accumulators in shared memory for Hogwild threads, or adopts a thread’s view of them', () => {
    const params = new Float32Array(new SharedArrayBuffer(2 * dim * 4));
    for (const rowwise of [false, true]) {
      const shared = adagradFactory(rowwise, 'shared')(params, dim, 0.1);
      expect(shared.accum.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(shared.accum.length).toBe(rowwise ? 2 : 2 * dim);
      const adopted = adagradFactory(rowwise, () => shared.accum)(params, dim, 0.1);
      expect(adopted.accum).toBe(shared.accum);
    }
    expect(() => adagradFactory(true, () => new Float32Array(3))(params, dim, 0.1)).toThrow(/accumulators have 3 values, the parameters 2 rows/);
  });
});
