/**
 * An XC header declares the feature and label counts, and every per-feature or per-label array
 * (the student's W1 [D, d] and V [L, d], their optimizer state, label tables) is sized from them.
 * A header is untrusted: a 42-byte file declaring 2^26 features would cost a job 17 GB for
 * weights nothing can train. So a declared count must be supported by the ids the file uses.
 */
import type { Csr } from './csr.js';
import { DataFormatError } from '../util/errors.js';

/** Unused ids a header may declare beyond the highest one used, at least (a small file's tail). */
export const DECLARED_SLACK = 1024;

/**
 * The most a header may declare when its file uses ids below `used`: twice that, or that plus
 * DECLARED_SLACK when more. Honest files declare what they use or a little more (a vocabulary
 * whose last terms never occur in this split); the bound keeps memory within 2× of the data's.
 */
export function maxDeclared(used: number): number {
  return used + Math.max(used, DECLARED_SLACK);
}

/** One past the highest column id present in `m` (0 when it has no entries). */
export function usedColumns(m: Csr): number {
  let max = -1;
  const { indices } = m;
  const end = m.indptr[m.rows];
  for (let p = 0; p < end; p++) if (indices[p] > max) max = indices[p];
  return max + 1;
}

/**
 * Throws a DataFormatError at line 1 of `file` when the header declares more features or labels
 * than its rows support (maxDeclared). `supported` raises the floor, e.g. a test split may declare
 * the training file's counts whatever it uses.
 */
export function checkDeclaredSizes(file: string, features: Csr, labels: Csr, supported: { features?: number; labels?: number } = {}): void {
  for (const [what, m, floor] of [
    ['features', features, supported.features ?? 0],
    ['labels', labels, supported.labels ?? 0],
  ] as const) {
    if (m.cols <= floor) continue;
    const used = usedColumns(m);
    const allowed = Math.max(floor, maxDeclared(used));
    if (m.cols > allowed) {
      const unit = what === 'features' ? 'feature' : 'label';
      throw new DataFormatError(
        file,
        1,
        `header declares ${m.cols} ${what} but the rows use ${unit} ids below ${used} only: at most ${allowed} ${what} may be declared (ids used plus as many again, at least ${DECLARED_SLACK}), since memory is sized from the declared count`,
      );
    }
  }
}
