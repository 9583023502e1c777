import { sharedFloats, sharedInts } from '../util/shared-arrays.js';
import type { Csr } from './csr.js';

/** The matrix with its arrays in shared memory: posting it to a thread copies nothing. */
export function shareCsr(m: Csr): Csr {
  return { rows: m.rows, cols: m.cols, indptr: sharedInts(m.indptr), indices: sharedInts(m.indices), values: m.values && sharedFloats(m.values) };
}
