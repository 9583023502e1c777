import { Matrix } from 'ml-matrix';
import type { Csr } from '../../src/core/data/csr.js';

/** A CSR matrix as an ml-matrix Matrix: the plain reference of the numeric tests. */
export function dense(m: Csr): Matrix {
  const out = new Matrix(m.rows, m.cols);
  for (let r = 0; r < m.rows; r++) for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) out.set(r, m.indices[p], m.values![p]);
  return out;
}
