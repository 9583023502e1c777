/**
 * Student.encodeAll in the WebAssembly kernels (src/core/model/encode-rows.ts) against its plain loops: the same
 * floats bit for bit, with and without values, label bias and an odd d, empty rows, rows that span chunks and a row
 * longer than a chunk's nonzeros.
 */
import { describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { encodeRowsWithKernels } from '../src/core/model/encode-rows.js';
import { Student } from '../src/core/model/student.js';
import { Rng } from '../src/core/util/rng.js';

/** `rows` random sparse rows over `cols` features, nnz per row drawn up to maxNnz (0 included), values or binary. */
function randomRows(rng: Rng, rows: number, cols: number, maxNnz: number, valued: boolean): Csr {
  const indptr = new Int32Array(rows + 1);
  const ids: number[] = [];
  const vals: number[] = [];
  for (let r = 0; r < rows; r++) {
    const nnz = Math.floor(rng.next() * (maxNnz + 1));
    const seen = new Set<number>();
    while (seen.size < Math.min(nnz, cols)) seen.add(Math.floor(rng.next() * cols));
    for (const c of [...seen].sort((a, b) => a - b)) {
      ids.push(c);
      vals.push(rng.next() * 3 - 0.5);
    }
    indptr[r + 1] = ids.length;
  }
  return { rows, cols, indptr, indices: Int32Array.from(ids), values: valued ? Float32Array.from(vals) : null };
}

/** Both encodings as raw bits: equal floats, NaNs and signed zeros alike. */
function expectSameBits(a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let differing = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) differing++;
  expect(differing).toBe(0);
}

describe('encodeAll in the kernels', () => {
  const cases = [
    { name: 'valued rows, d 64', dim: 64, labelBias: false, valued: true, rows: 300, cols: 500, maxNnz: 40 },
    { name: 'binary rows, label bias, d 129 (odd)', dim: 129, labelBias: true, valued: false, rows: 300, cols: 500, maxNnz: 40 },
    { name: 'valued rows, label bias, d 7, rows of 0–3 nonzeros (the one-row tail alone)', dim: 7, labelBias: true, valued: true, rows: 500, cols: 50, maxNnz: 3 },
    { name: 'rows spanning three chunks, d 513', dim: 513, labelBias: false, valued: true, rows: 1200, cols: 300, maxNnz: 30 },
  ];
  for (const c of cases) {
    it(`gives the plain loops' floats: ${c.name}`, () => {
      const rng = new Rng(7);
      const student = Student.init({ inputDim: c.cols, dim: c.dim, numLabels: 3, tau: 1, labelBias: c.labelBias }, 3);
      const features = randomRows(rng, c.rows, c.cols, c.maxNnz, c.valued);
      const plain = student.encodeAll(features, false);
      const viaKernels = encodeRowsWithKernels(student.W1, student.shape, features)!;
      expectSameBits(viaKernels, plain);
      // encodeAll itself takes the kernels at this size (nnz × d ≥ 2^20 and twice W1) or not, and gives the same
      expectSameBits(student.encodeAll(features), plain);
      // the rows are unit vectors (the bias slot apart), so a wrong sum would not pass as a rounding difference
      const e = c.labelBias ? c.dim - 1 : c.dim;
      for (let r = 0; r < c.rows; r++) {
        let ss = 0;
        for (let j = 0; j < e; j++) ss += plain[r * c.dim + j] ** 2;
        if (features.indptr[r + 1] > features.indptr[r]) expect(Math.abs(ss - 1)).toBeLessThan(1e-5);
        if (c.labelBias) expect(plain[r * c.dim + c.dim - 1]).toBe(1);
      }
    });
  }

  it('takes a row longer than a chunk of nonzeros in a chunk of its own', () => {
    const cols = (1 << 18) + 5000;
    const student = Student.init({ inputDim: cols, dim: 3, numLabels: 2, tau: 1 }, 5);
    const rng = new Rng(11);
    // rows of 5, every column and 2 nonzeros
    const nnz = 5 + cols + 2;
    const indices = new Int32Array(nnz);
    const values = new Float32Array(nnz);
    indices.set([1, 2, 3, 4, 9]);
    values.set([1, 2, 3, 4, 5]);
    for (let i = 0; i < cols; i++) {
      indices[5 + i] = i;
      values[5 + i] = rng.next();
    }
    indices.set([7, 8], 5 + cols);
    values.set([0.5, 0.25], 5 + cols);
    const features: Csr = { rows: 3, cols, indptr: Int32Array.of(0, 5, 5 + cols, nnz), indices, values };
    expectSameBits(encodeRowsWithKernels(student.W1, student.shape, features)!, student.encodeAll(features, false));
  });

  it('returns an empty encoding for no rows', () => {
    const student = Student.init({ inputDim: 4, dim: 8, numLabels: 2, tau: 1 }, 1);
    expect(encodeRowsWithKernels(student.W1, student.shape, { rows: 0, cols: 4, indptr: Int32Array.of(0), indices: new Int32Array(0), values: null })!.length).toBe(0);
  });
});
