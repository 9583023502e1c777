/**
 * The neighbour component without repeated points (src/ann/point-dedupe.ts): which rows are left out, the compacted
 * points and label sets, and an auto trial's exact blend search over the same points the published component holds.
 */
import { describe, expect, it } from 'vitest';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { dedupePoints, withoutRepeats } from '../src/ann/point-dedupe.js';
import { PointIndex } from '../src/ann/point-index.js';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { Student } from '../src/core/model/student.js';
import { Rng } from '../src/core/util/rng.js';
import { tuneBlend, tuneBlendExact } from '../src/pipeline/blend-tuning.js';
import { buildPublishedIndexes } from '../src/pipeline/neighbours.js';
import { silentProgress } from '../src/pipeline/progress.js';
import { POINT_EF } from '../src/pipeline/retrieve.js';
import { csr } from './support/csr-rows.js';

const rows = (m: Csr): number[][] => Array.from({ length: m.rows }, (_, r) => Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1])));

describe('dedupePoints', () => {
  // 3 dims; label sets {0}, {0}, {0}, {1}, {0, 1}, {0}, {0}
  const points = Float32Array.from([
    1, 0, 0, // 0: kept, first of {0}
    0.999, 0.04, 0, // 1: cosine 0.9992 with row 0, same set: left out at 0.99, kept at 0.9995
    0, 1, 0, // 2: kept, far from row 0
    1, 0, 0, // 3: the same point as row 0, another set {1}: kept
    2, 0, 0, // 4: the same direction as row 0 (twice its norm), set {0, 1}: kept, its set is new
    0, 0, 0, // 5: a zero point: kept
    0, 3, 0.01, // 6: row 2's direction at another norm, set {0}: left out
  ]);
  const labels = csr([[0], [0], [0], [1], [0, 1], [0], [0]], 2);

  it('leaves out the points within the cosine of an earlier kept point of their label set, and only those', () => {
    expect(Array.from(dedupePoints(points, 3, labels, 0.99))).toEqual([0, 2, 3, 4, 5]);
    // row 6's cosine with row 2 is 0.99999: left out up to there, kept at 1
    expect(Array.from(dedupePoints(points, 3, labels, 0.9995))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(dedupePoints(points, 3, labels, 1))).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('compacts the points and their label sets alike, and is the identity at 0 or when nothing repeats', () => {
    const kept = withoutRepeats(points, 3, labels, 0.99);
    expect(rows(kept.labels)).toEqual([[0], [0], [1], [0, 1], [0]]);
    expect(kept.labels.cols).toBe(2);
    expect(Array.from(kept.points)).toEqual(Array.from(points.subarray(0, 3)).concat(Array.from(points.subarray(6, 18))));
    const off = withoutRepeats(points, 3, labels, 0);
    expect(off.points).toBe(points);
    expect(off.labels).toBe(labels);
    // nothing repeats (rows 0 and 2 of {0} are far apart, row 1 is the same point in another set): the same arrays come back
    const distinctPoints = Float32Array.from([1, 0, 0, 1, 0, 0, 0, 1, 0]);
    const distinctLabels = csr([[0], [1], [0]], 2);
    const distinct = withoutRepeats(distinctPoints, 3, distinctLabels, 0.99);
    expect(distinct.points).toBe(distinctPoints);
    expect(distinct.labels).toBe(distinctLabels);
  });
});

describe('the neighbour component without repeats', () => {
  const rng = new Rng(5);
  const D = 30;
  const L = 12;
  const d = 9;
  const student = Student.init({ inputDim: D, dim: d, numLabels: L, tau: 1, labelBias: true }, 2);
  // 40 rows, and three near-copies (one feature value nudged) of each of the first 20, with the same label sets
  const b = new CsrBuilder(true);
  const lb = new CsrBuilder(false);
  const base: { cols: number[]; vals: number[]; label: number }[] = [];
  for (let r = 0; r < 40; r++) {
    const cols = [...new Set(Array.from({ length: 5 }, () => Math.floor(rng.next() * D)))].sort((x, y) => x - y);
    base.push({ cols, vals: cols.map(() => rng.next() + 0.1), label: Math.floor(rng.next() * L) });
  }
  for (const copy of [0, 1, 2, 3]) {
    for (const row of copy ? base.slice(0, 20) : base) {
      for (const [i, c] of row.cols.entries()) b.push(c, i === 0 ? row.vals[i] * (1 + 0.005 * copy) : row.vals[i]);
      b.endRow();
      lb.push(row.label);
      lb.endRow();
    }
  }
  const train = { features: b.build(D), labels: lb.build(L), source: 'train' };
  // held-out rows near the 40 base rows (every value nudged), labelled as their base row: the vote then matters
  const heldOutB = new CsrBuilder(true);
  const heldOutLabels = new CsrBuilder(false);
  for (const row of base) {
    for (const [i, c] of row.cols.entries()) heldOutB.push(c, row.vals[i] * (0.7 + 0.6 * rng.next()));
    heldOutB.endRow();
    heldOutLabels.push(row.label);
    heldOutLabels.endRow();
  }
  const heldOut = { features: heldOutB.build(D), labels: heldOutLabels.build(L), source: 'held out' };
  const propensities = new Float64Array(L).fill(0.5);
  const settings = { neighbours: 10, weight: 0.5, voteTemperature: 0.1 };

  it('is published without the near-copies', async () => {
    const cfg = { ...DEFAULT_TRAIN_CONFIG, dim: d, pointDedupe: 0.99, seed: 1 };
    const built = await buildPublishedIndexes(student, train, cfg, { withNeighbours: true, threads: 1 }, silentProgress);
    const left = built.neighbours!.index.count;
    expect(left).toBeLessThanOrEqual(45); // 100 rows, 60 of them near-copies
    expect(left).toBeGreaterThanOrEqual(40);
    expect(built.neighbours!.pointLabels.rows).toBe(left);
    const all = await buildPublishedIndexes(student, train, { ...cfg, pointDedupe: 0 }, { withNeighbours: true, threads: 1 }, silentProgress);
    expect(all.neighbours!.index.count).toBe(100);
  });

  it("is what an auto trial's exact blend search votes with: the same blends and P@1 as through its index", async () => {
    const index = LabelIndex.build(student.V, L, d, { seed: 1 });
    const kept = withoutRepeats(encodePoints(student, train.features), d, train.labels, 0.99);
    expect(kept.labels.rows).toBeLessThan(50);
    const pointIndex = PointIndex.build(kept.points, kept.labels.rows, d, { M: 16, efConstruction: 200, efSearch: POINT_EF, scalar: 'f32' }, 1);
    const viaIndex = tuneBlend(student, heldOut, propensities, index, { index: pointIndex, pointLabels: kept.labels, settings });
    const exact = await tuneBlendExact(student, heldOut, propensities, train, settings, 1, 0.99);
    expect(exact.tried).toEqual(viaIndex.tried);
    const withRepeats = await tuneBlendExact(student, heldOut, propensities, train, settings, 1, 0);
    expect(withRepeats.tried).not.toEqual(exact.tried); // the repeats change the vote here: the comparison means something
  });
});
