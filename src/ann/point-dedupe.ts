/**
 * Training points that repeat another point of the same label set, dropped from the neighbour component's index.
 * In multiclass text data most of a label's few rows encode almost alike (apt-files: a package's files; 28.7 % of its
 * 237,888 points are within cosine 0.99 of an earlier point of their label set, 57.0 % within 0.97, counted by
 * bench/points-index-probe.ts), so the index holds near-copies that bring the vote nothing its first copy does not and
 * cost its build their share of the time.
 */
import { selectRows, type Csr } from '../core/data/csr.js';
import { labelSetGroups } from './label-set-groups.js';

/** Kept points a dropped one is compared with, per label set: bounds the work where a label set has many rows (the first ones kept). */
const MAX_COMPARED = 32;

/**
 * The rows kept, ascending: row r is dropped when its point's cosine with one of the first MAX_COMPARED kept points
 * of its label set is at least `minCosine` (points: [rows, dim]; a zero point is kept). Deterministic: rows are
 * taken in order.
 */
export function dedupePoints(points: Float32Array, dim: number, labels: Csr, minCosine: number): Int32Array {
  const n = labels.rows;
  const { groupOf, firstRow } = labelSetGroups(labels);
  const kept: number[] = [];
  const keptOf: number[][] = Array.from({ length: firstRow.length }, () => []);
  const norms = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let ss = 0;
    for (let j = 0, o = r * dim; j < dim; j++, o++) ss += points[o] * points[o];
    norms[r] = Math.sqrt(ss);
  }
  for (let r = 0; r < n; r++) {
    const mine = keptOf[groupOf[r]];
    let repeats = false;
    if (norms[r] > 0) {
      for (let i = 0; i < mine.length && !repeats; i++) {
        const p = mine[i];
        let s = 0;
        for (let j = 0, a = r * dim, b = p * dim; j < dim; j++, a++, b++) s += points[a] * points[b];
        repeats = norms[p] > 0 && s >= minCosine * norms[r] * norms[p];
      }
    }
    if (repeats) continue;
    kept.push(r);
    if (mine.length < MAX_COMPARED) mine.push(r);
  }
  return Int32Array.from(kept);
}

/**
 * The neighbour component's points and their label sets with the repeats left out (dedupePoints at `minCosine`);
 * `points` and `labels` themselves when minCosine is 0 or nothing repeats. Point i of the result is row kept[i].
 */
export function withoutRepeats(points: Float32Array, dim: number, labels: Csr, minCosine: number): { points: Float32Array; labels: Csr } {
  if (minCosine <= 0) return { points, labels };
  const kept = dedupePoints(points, dim, labels, minCosine);
  if (kept.length === labels.rows) return { points, labels };
  const out = new Float32Array(kept.length * dim);
  for (let i = 0; i < kept.length; i++) out.set(points.subarray(kept[i] * dim, (kept[i] + 1) * dim), i * dim);
  return { points: out, labels: { ...selectRows(labels, kept), cols: labels.cols } };
}
