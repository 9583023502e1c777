import { CsrBuilder, type Csr } from '../../src/core/data/csr.js';

/** A CSR matrix from its rows' column lists (values: per row, per entry; ones when absent). */
export function csr(rows: number[][], cols: number, values?: number[][]): Csr {
  const b = new CsrBuilder(values !== undefined);
  for (const [i, row] of rows.entries()) {
    for (const [j, c] of row.entries()) b.push(c, values ? values[i][j] : 1);
    b.endRow();
  }
  return b.build(cols);
}
