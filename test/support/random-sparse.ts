import { CsrBuilder, type Csr } from '../../src/core/data/csr.js';
import type { Rng } from '../../src/core/util/rng.js';

/** `rows` rows of `perRow` distinct random columns each (sorted), valued by `value` (default uniform in [0.1, 1.1)). */
export function randomSparse(rng: Rng, rows: number, cols: number, perRow: number, value: (rng: Rng) => number = (r) => r.next() + 0.1): Csr {
  const b = new CsrBuilder(true);
  for (let r = 0; r < rows; r++) {
    const seen = new Set<number>();
    while (seen.size < perRow) seen.add(rng.int(cols));
    for (const c of [...seen].sort((x, y) => x - y)) b.push(c, value(rng));
    b.endRow();
  }
  return b.build(cols);
}
