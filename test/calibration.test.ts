import { describe, expect, it } from 'vitest';
import { CsrBuilder } from '../src/core/data/csr.js';
import { NumericError } from '../src/core/util/errors.js';
import { Rng } from '../src/core/util/rng.js';
import {
  fitTemperature,
  MAX_TEMPERATURE,
  MIN_TEMPERATURE,
  positiveMask,
  temperatureObjective,
  top1Calibration,
  top1CalibrationError,
  top1Probability,
} from '../src/teacher/calibration.js';

interface Rows {
  scores: Float32Array;
  indptr: Int32Array;
  positive: Uint8Array;
}

/**
 * `rows` rows of K logits z ~ N(0, sd²); each row's single label drawn from softmax(z / T0), so
 * T0 is the maximum-likelihood temperature in the limit of many rows.
 */
function sampled(T0: number, rows: number, K: number, seed: number, sd = 2): Rows {
  const rng = new Rng(seed);
  const scores = new Float32Array(rows * K);
  const indptr = new Int32Array(rows + 1);
  const positive = new Uint8Array(rows * K);
  const p = new Float64Array(K);
  for (let r = 0; r < rows; r++) {
    indptr[r + 1] = (r + 1) * K;
    let max = -Infinity;
    for (let k = 0; k < K; k++) {
      scores[r * K + k] = sd * rng.normal();
      max = Math.max(max, scores[r * K + k]);
    }
    let Z = 0;
    for (let k = 0; k < K; k++) Z += p[k] = Math.exp((scores[r * K + k] - max) / T0);
    let u = rng.next() * Z;
    let y = 0;
    while (y < K - 1 && (u -= p[y]) >= 0) y++;
    positive[r * K + y] = 1;
  }
  return { scores, indptr, positive };
}

function scaled(d: Rows, factor: number): Rows {
  return { ...d, scores: d.scores.map((s) => s * factor) };
}

describe('fitTemperature', () => {
  it.each([0.3, 1, 4])('recovers the temperature the labels were drawn with (T0 = %s)', (T0) => {
    const d = sampled(T0, 20000, 20, 11);
    const fit = fitTemperature(d.scores, d.indptr, d.positive);
    expect(Math.abs(fit.temperature / T0 - 1)).toBeLessThan(0.04);
    expect(fit.clamped).toBe(false);
    expect(fit.rows).toBe(20000);
    expect(fit.nllAfter).toBeLessThanOrEqual(fit.nllBefore + 1e-12);
    expect(fit.evaluations).toBeLessThan(12);
  });

  it('stops at a point where the objective is flat, and is a minimum', () => {
    const d = sampled(2.5, 5000, 15, 12);
    const { temperature: T, nllAfter } = fitTemperature(d.scores, d.indptr, d.positive);
    const f = (t: number): number => temperatureObjective(d.scores, d.indptr, d.positive, t);
    expect(f(T)).toBeCloseTo(nllAfter, 12);
    const h = 1e-4;
    const slope = (t: number): number => (f(t * (1 + h)) - f(t * (1 - h))) / (2 * h * t);
    // the slope at T is tiny next to the slope 20% away on either side
    expect(Math.abs(slope(T))).toBeLessThan(1e-3 * Math.min(Math.abs(slope(T * 1.2)), Math.abs(slope(T / 1.2))));
    expect(slope(T * 1.2)).toBeGreaterThan(0);
    expect(slope(T / 1.2)).toBeLessThan(0);
    for (const t of [T * 0.95, T * 1.05, 1, 10]) expect(f(t)).toBeGreaterThan(nllAfter);
  });

  it('lowers the ECE of mis-scaled scores (over- and under-confident)', () => {
    const d = sampled(1, 20000, 20, 13);
    for (const factor of [3, 0.3]) {
      const s = scaled(d, factor);
      const fit = fitTemperature(s.scores, s.indptr, s.positive);
      expect(fit.temperature / factor).toBeCloseTo(1, 1);
      const before = top1CalibrationError(s.scores, s.indptr, s.positive, 1);
      const after = top1CalibrationError(s.scores, s.indptr, s.positive, fit.temperature);
      expect(before).toBeGreaterThan(0.05);
      expect(after).toBeLessThan(0.02);
      expect(after).toBeLessThan(before / 3);
    }
  });

  it('ignores rows without a positive', () => {
    const d = sampled(0.7, 3000, 10, 14);
    const noise = sampled(5, 500, 7, 15);
    // the same rows with 500 unlabelled rows of other scores interleaved
    const b = new CsrBuilder(true, 3500, 3000 * 10 + 500 * 7);
    const positive: number[] = [];
    for (let r = 0; r < 3000; r++) {
      for (let p = d.indptr[r]; p < d.indptr[r + 1]; p++) {
        b.push(p - d.indptr[r], d.scores[p]);
        positive.push(d.positive[p]);
      }
      b.endRow();
      if (r % 6 === 0) {
        const q = r / 6;
        for (let p = noise.indptr[q]; p < noise.indptr[q + 1]; p++) {
          b.push(p - noise.indptr[q], noise.scores[p]);
          positive.push(0);
        }
        b.endRow();
      }
    }
    const m = b.build(10);
    const mixed = fitTemperature(m.values!, m.indptr, Uint8Array.from(positive));
    const clean = fitTemperature(d.scores, d.indptr, d.positive);
    expect(mixed.rows).toBe(3000);
    expect(mixed.temperature).toBe(clean.temperature);
    expect(mixed.nllAfter).toBe(clean.nllAfter);
  });

  it('handles several positives per row (uniform target over them)', () => {
    // two candidates, both positive: the uniform target is best matched at T → ∞
    const fit = fitTemperature(Float32Array.of(0, 1, 2, 0), Int32Array.of(0, 2, 4), Uint8Array.of(1, 1, 1, 1));
    expect(fit).toMatchObject({ temperature: MAX_TEMPERATURE, clamped: true });
    // one positive that always wins by a margin: the fit sharpens as far as it may
    const sharp = fitTemperature(Float32Array.of(5, 0, 0, 4, 1, 0), Int32Array.of(0, 3, 6), Uint8Array.of(1, 0, 0, 1, 0, 0));
    expect(sharp).toMatchObject({ temperature: MIN_TEMPERATURE, clamped: true });
    expect(sharp.nllAfter).toBeLessThan(1e-9);
  });

  it('is stable for huge and tiny score scales', () => {
    const d = sampled(1, 4000, 12, 16);
    for (const factor of [1e4, 1e-3]) {
      const s = scaled(d, factor);
      const fit = fitTemperature(s.scores, s.indptr, s.positive, { minTemperature: 1e-6, maxTemperature: 1e6 });
      expect(Number.isFinite(fit.nllAfter)).toBe(true);
      expect(fit.temperature / factor).toBeCloseTo(1, 1);
    }
  });

  it('keeps T = 1 when every row is a tie (nothing to learn)', () => {
    const fit = fitTemperature(Float32Array.of(3, 3, 3, 1, 1), Int32Array.of(0, 3, 5), Uint8Array.of(0, 1, 0, 1, 0));
    expect(fit).toMatchObject({ temperature: 1, clamped: false, nllBefore: fit.nllAfter });
  });

  it('refuses bad input with messages that say what is wrong', () => {
    const scores = Float32Array.of(1, 2, 3);
    const pos = Uint8Array.of(1, 0, 0);
    expect(() => fitTemperature(scores, Int32Array.of(0, 2), pos)).toThrow('indptr ends at 2 but there are 3 scores');
    expect(() => fitTemperature(scores, Int32Array.of(1, 3), pos)).toThrow('indptr[0] must be 0, got 1');
    expect(() => fitTemperature(scores, Int32Array.of(0, 2, 1, 3), pos)).toThrow('indptr must not decrease: indptr[2] = 1 < indptr[1] = 2');
    expect(() => fitTemperature(scores, new Int32Array(0), pos)).toThrow(/indptr must have rows \+ 1 entries/);
    expect(() => fitTemperature(scores, Int32Array.of(0, 3), Uint8Array.of(1, 0))).toThrow('positive has 2 entries for 3 scores');
    expect(() => fitTemperature(Float32Array.of(1, NaN, 3), Int32Array.of(0, 1, 3), pos)).toThrow(NumericError);
    expect(() => fitTemperature(Float32Array.of(1, NaN, 3), Int32Array.of(0, 1, 3), pos)).toThrow('score NaN in row 1 (entry 1): scores must be finite');
    expect(() => fitTemperature(Float32Array.of(1, Infinity), Int32Array.of(0, 2), Uint8Array.of(1, 0))).toThrow(/score Infinity in row 0/);
    expect(() => fitTemperature(scores, Int32Array.of(0, 3), new Uint8Array(3))).toThrow('no row has a positive candidate: nothing to fit a temperature on');
    expect(() => fitTemperature(scores, Int32Array.of(0, 3), pos, { minTemperature: 2, maxTemperature: 1 })).toThrow(/minTemperature < maxTemperature/);
    expect(() => temperatureObjective(scores, Int32Array.of(0, 3), pos, 0)).toThrow('temperature must be a finite positive number, got 0');
  });
});

describe('top-1 calibration helpers', () => {
  it('computes the top-1 probability at a temperature, stably', () => {
    const s = Float32Array.of(0, Math.log(3), 1000);
    expect(top1Probability(s, 0, 2)).toBeCloseTo(0.75, 7); // log 3 rounded to float32
    expect(top1Probability(s, 0, 2, 2)).toBeCloseTo(Math.sqrt(3) / (1 + Math.sqrt(3)), 7);
    expect(top1Probability(s, 0, 3)).toBe(1);
    expect(() => top1Probability(s, 1, 1)).toThrow(/empty row/);
  });

  it('pairs each non-empty row’s confidence with whether its top candidate is positive', () => {
    const { confidence, correct } = top1Calibration(Float32Array.of(2, 2, 0, 5, 1), Int32Array.of(0, 3, 3, 5), Uint8Array.of(0, 1, 0, 0, 0));
    expect(Array.from(correct)).toEqual([0, 0]); // a tie goes to the first candidate
    expect(confidence.length).toBe(2);
    expect(confidence[0]).toBeCloseTo(1 / (2 + Math.exp(-2)), 12);
  });

  it('builds the positive mask from label rows', () => {
    const labels = { rows: 3, cols: 9, indptr: Int32Array.of(0, 2, 2, 5), indices: Int32Array.of(1, 4, 0, 3, 8), values: null };
    const candidates = { rows: 2, cols: 9, indptr: Int32Array.of(0, 3, 6), indices: Int32Array.of(8, 3, 2, 4, 1, 0), values: null };
    expect(Array.from(positiveMask(Int32Array.of(2, 0), candidates, labels))).toEqual([1, 1, 0, 1, 1, 0]);
    expect(() => positiveMask(Int32Array.of(3, 0), candidates, labels)).toThrow('example 3 out of range [0, 3)');
  });
});
