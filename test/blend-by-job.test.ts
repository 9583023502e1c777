/**
 * A job that chose its neighbour blend itself (blend-by-job.ts) indexes every training row's point encoding put together
 * from what the blend's searches encoded, instead of encoding the rows again: it must be what encoding them all gives.
 */
import { describe, expect, it } from 'vitest';
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { CsrBuilder } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { Student } from '../src/core/model/student.js';
import { Rng } from '../src/core/util/rng.js';
import { heldOutSlices, pointsOfRows } from '../src/pipeline/blend-by-job.js';
import { randomSparse } from './support/random-sparse.js';

describe('pointsOfRows', () => {
  const rng = new Rng(11);
  const n = 97;
  const labels = new CsrBuilder(false);
  for (let r = 0; r < n; r++) {
    labels.push(rng.int(5), 1);
    labels.endRow();
  }
  const train: Dataset = { features: randomSparse(rng, n, 60, 7), labels: labels.build(5), source: 'synthetic' };
  // held-out rows out of order, as a stride sample of a fold need not be sorted
  const held = [90, 3, 41, 42, 17, 0, 96];

  for (const labelBias of [true, false]) {
    it(`equals encodePoints of every row, bit for bit (label bias ${labelBias})`, () => {
      const student = Student.init({ inputDim: 60, dim: 8, numLabels: 5, tau: 1, labelBias }, 3);
      const slices = heldOutSlices(train, held);
      expect(slices.rows.heldOut).toEqual(held);
      expect(slices.rows.fit).toHaveLength(n - held.length);
      const encoded = { points: encodePoints(student, slices.fit.features), queries: student.encodeAll(slices.heldOut.features) };
      const all = encodePoints(student, train.features);
      expect(pointsOfRows(slices, encoded, student.shape)).toEqual(all);
      if (labelBias) expect(encoded.queries[8 - 1]).not.toBe(0); // a query's bias slot is 1: the points' is zeroed
    });
  }
});
