import { describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { CsrBuilder } from '../src/core/data/csr.js';
import {
  METRIC_KEYS,
  computePropensities,
  evaluateRankings,
  expectedCalibrationError,
  reliabilityTable,
  topKInto,
  topKMergeInto,
} from '../src/core/model/metrics.js';
import { Rng } from '../src/core/util/rng.js';

function labelsCsr(rows: number[][], cols: number): Csr {
  const b = new CsrBuilder(false);
  for (const r of rows) {
    for (const l of r) b.push(l);
    b.endRow();
  }
  return b.build(cols);
}

const L3 = 1 / Math.log2(3); // discount at rank 2 = 0.6309…

describe('evaluateRankings', () => {
  // 3 points, 6 labels, kMax 5
  //   point 0: Y = {0, 2}, predicted [0, 1, 2, 3, 4]        hits at ranks 1 and 3
  //   point 1: Y = {},     predicted [1, 2, 3, 4, 5]        counts 0 (P, nDCG, PSP), skipped by R
  //   point 2: Y = {5},    predicted [3, 5, -1, -1, -1]     hit at rank 2; -1 = no prediction
  const truth = labelsCsr([[0, 2], [], [5]], 6);
  const predicted = Int32Array.from([0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 3, 5, -1, -1, -1]);
  // propensities → inverse [2, 4, 5, 1, 1, 10]
  const prop = Float64Array.from([0.5, 0.25, 0.2, 1, 1, 0.1]);
  const r = evaluateRankings(predicted, 5, truth, prop);

  it('reports exactly the documented keys', () => {
    expect(Object.keys(r).sort()).toEqual([...METRIC_KEYS].sort());
  });

  it('P@k averages over all points, empty Y counting 0', () => {
    expect(r['p@1']).toBeCloseTo((1 + 0 + 0) / 3, 12); // 1/3
    expect(r['p@3']).toBeCloseTo((2 / 3 + 0 + 1 / 3) / 3, 12); // 1/3
    expect(r['p@5']).toBeCloseTo((2 / 5 + 0 + 1 / 5) / 3, 12); // 1/5
  });

  it('nDCG@k = DCG/IDCG with IDCG over min(k, |Y|)', () => {
    // point 0: DCG@1 = 1, IDCG@1 = 1; DCG@3 = 1 + 1/log2(4) = 1.5, IDCG@3 = 1 + 1/log2(3)
    // point 2: DCG@1 = 0; DCG@3 = 1/log2(3), IDCG = 1
    expect(r['ndcg@1']).toBeCloseTo((1 + 0 + 0) / 3, 12);
    expect(r['ndcg@3']).toBeCloseTo((1.5 / (1 + L3) + 0 + L3) / 3, 12); // 0.51688…
    expect(r['ndcg@5']).toBeCloseTo((1.5 / (1 + L3) + 0 + L3) / 3, 12); // no more hits, IDCG unchanged
  });

  it('PSP@k divides by the best achievable propensity-weighted gain', () => {
    // @1: numerator pt0 1/p_0 = 2, pt2 miss → 2; best: pt0 max(2, 5) = 5, pt2 10 → 15
    expect(r['psp@1']).toBeCloseTo(2 / 15, 12);
    // @3: numerator 2 + 5 (pt0) + 10 (pt2) = 17; best 5 + 2 + 10 = 17
    expect(r['psp@3']).toBeCloseTo(1, 12);
    expect(r['psp@5']).toBeCloseTo(1, 12);
  });

  it('PSP@k below 1 when rare labels are missed', () => {
    // Y = {0, 1, 2} (inverse 2, 4, 5), predicted [0, 3, 1, 4, 5]
    // @1: 2 / 5; @3: (2 + 4) / (5 + 4 + 2) = 6/11; @5: same, best uses min(5, 3) = 3 labels
    const rr = evaluateRankings(Int32Array.from([0, 3, 1, 4, 5]), 5, labelsCsr([[0, 1, 2]], 6), prop);
    expect(rr['psp@1']).toBeCloseTo(2 / 5, 12);
    expect(rr['psp@3']).toBeCloseTo(6 / 11, 12);
    expect(rr['psp@5']).toBeCloseTo(6 / 11, 12);
    expect(rr['p@3']).toBeCloseTo(2 / 3, 12);
  });

  it('R@k averages over points with labels only; R@10 and R@100 use the kMax available', () => {
    // point 0: R@1 = 1/2, R@3 = 2/2; point 2: R@1 = 0, R@3 = 1/1; two points with labels
    expect(r['r@1']).toBeCloseTo((1 / 2 + 0) / 2, 12);
    expect(r['r@3']).toBeCloseTo(1, 12);
    expect(r['r@5']).toBeCloseTo(1, 12);
    expect(r['r@10']).toBeCloseTo(1, 12);
    expect(r['r@100']).toBeCloseTo(1, 12);
  });

  it('R@10 counts hits beyond rank 5 when kMax allows', () => {
    // Y = {7, 8}, predicted 0..9 → label 7 at rank 8, 8 at rank 9: R@5 = 0, R@10 = 1, P@5 = 0
    const pred = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const rr = evaluateRankings(pred, 10, labelsCsr([[7, 8]], 10), new Float64Array(10).fill(0.5));
    expect(rr['r@5']).toBe(0);
    expect(rr['r@10']).toBe(1);
    expect(rr['r@100']).toBe(1);
    expect(rr['p@5']).toBe(0);
  });

  it('all-empty truth gives zeros, not NaN', () => {
    const rr = evaluateRankings(new Int32Array(10).fill(-1), 5, labelsCsr([[], []], 3), new Float64Array(3).fill(1));
    for (const k of METRIC_KEYS) expect(rr[k]).toBe(0);
  });

  it('refuses kMax < 5 and short propensities', () => {
    expect(() => evaluateRankings(new Int32Array(3), 3, labelsCsr([[0]], 1), new Float64Array(1))).toThrow(/kMax/);
    expect(() => evaluateRankings(new Int32Array(5), 5, labelsCsr([[0]], 4), new Float64Array(2))).toThrow(/propensities/);
  });
});

describe('computePropensities', () => {
  it('matches the formula by hand', () => {
    // N = 100 points; label 0 on 9 of them, label 1 on none, label 2 beyond cols (numLabels = 3)
    // C = (ln 100 − 1)·2.5^0.55 = 5.9675048
    // p_0 = 1 / (1 + C·(9 + 1.5)^−0.55) = 0.3791700;  p_1 = p_2 = 1 / (1 + C·1.5^−0.55) = 0.1731703
    const rows: number[][] = [];
    for (let i = 0; i < 100; i++) rows.push(i < 9 ? [0] : []);
    const p = computePropensities(labelsCsr(rows, 2), 3);
    expect(p.length).toBe(3);
    expect(p[0]).toBeCloseTo(0.37917003533, 10);
    expect(p[1]).toBeCloseTo(0.17317032497, 10);
    expect(p[2]).toBeCloseTo(0.17317032497, 10);
  });

  it('A and B are parameters', () => {
    // A = 0.5, B = 0.5, N = 100, N_0 = 9: C = (ln 100 − 1)·1.5^0.5; p = 1 / (1 + C / sqrt(9.5))
    const rows: number[][] = [];
    for (let i = 0; i < 100; i++) rows.push(i < 9 ? [0] : []);
    const p = computePropensities(labelsCsr(rows, 1), 1, 0.5, 0.5);
    const C = (Math.log(100) - 1) * Math.sqrt(1.5);
    expect(p[0]).toBeCloseTo(1 / (1 + C / Math.sqrt(9.5)), 12);
  });
});

describe('calibration', () => {
  // 5 bins of width 0.2; confidence / correct:
  //   0.10/0 → bin 0;  0.30/1, 0.35/0 → bin 1;  0.90/1, 0.95/1, 0.85/0 → bin 4
  //   bin 0: n 1, acc 0,   conf 0.1   → |gap| 0.1
  //   bin 1: n 2, acc 0.5, conf 0.325 → 0.175
  //   bin 4: n 3, acc 2/3, conf 0.9   → 0.2333…
  //   ECE = (1·0.1 + 2·0.175 + 3·0.2333…) / 6 = 1.15 / 6 = 0.191666…
  const conf = Float64Array.from([0.1, 0.3, 0.35, 0.9, 0.95, 0.85]);
  const correct = Uint8Array.from([0, 1, 0, 1, 1, 0]);

  it('ECE on a hand case', () => {
    expect(expectedCalibrationError(conf, correct, 5)).toBeCloseTo(1.15 / 6, 12);
  });

  it('reliability table per bin', () => {
    const t = reliabilityTable(conf, correct, 5);
    expect(t.map((b) => b.count)).toEqual([1, 2, 0, 0, 3]);
    expect(t[1].accuracy).toBeCloseTo(0.5, 12);
    expect(t[1].confidence).toBeCloseTo(0.325, 12);
    expect(t[4].accuracy).toBeCloseTo(2 / 3, 12);
    expect(t[2].accuracy).toBe(0);
    expect(t[0].lower).toBe(0);
    expect(t[4].upper).toBe(1);
  });

  it('confidence 1 falls in the last bin; perfect calibration gives 0', () => {
    // 15 bins: conf 1 (correct) and 0 (wrong) — both bins have acc = conf
    expect(expectedCalibrationError(Float32Array.from([1, 0]), Uint8Array.from([1, 0]))).toBe(0);
    expect(reliabilityTable(Float32Array.from([1]), Uint8Array.from([1]))[14].count).toBe(1);
  });
});

/** Reference: sort all positions by (score desc, label asc), drop −Infinity/NaN, take k. */
function referenceTopK(row: Float32Array, k: number): { labels: number[]; scores: number[] } {
  const ids: number[] = [];
  for (let i = 0; i < row.length; i++) if (row[i] > -Infinity) ids.push(i);
  ids.sort((a, b) => row[b] - row[a] || a - b);
  const labels = ids.slice(0, k);
  const scores = labels.map((i) => row[i]);
  while (labels.length < k) {
    labels.push(-1);
    scores.push(-Infinity);
  }
  return { labels, scores };
}

describe('topKInto', () => {
  it('matches a full sort on random rows with many ties', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 300; trial++) {
      const length = 1 + rng.int(400);
      const k = [1, 3, 5, 10, 37, 100, 500][trial % 7];
      const off = rng.int(5);
      const scores = new Float32Array(off + length);
      const tiesOnly = trial % 2 === 0;
      for (let i = 0; i < length; i++) scores[off + i] = tiesOnly ? rng.int(8) - 4 : rng.normal();
      if (trial % 5 === 0) scores[off + rng.int(length)] = -Infinity;
      if (trial % 5 === 1) scores[off + rng.int(length)] = Number.NaN;
      const outOff = rng.int(3);
      const labels = new Int32Array(outOff + k + 2).fill(99);
      const out = new Float32Array(outOff + k + 2).fill(99);
      const found = topKInto(scores, off, length, k, labels, out, outOff);
      const ref = referenceTopK(scores.subarray(off), k);
      expect(Array.from(labels.subarray(outOff, outOff + k))).toEqual(ref.labels);
      expect(Array.from(out.subarray(outOff, outOff + k))).toEqual(ref.scores);
      expect(found).toBe(ref.labels.filter((l) => l >= 0).length);
      expect(labels[outOff + k]).toBe(99); // nothing written past the k slots
    }
  });

  it('ascending input (worst case for insertion) with a large k', () => {
    const length = 3000;
    const scores = new Float32Array(length);
    for (let i = 0; i < length; i++) scores[i] = i >> 2; // ascending, ties in fours
    const labels = new Int32Array(200);
    const out = new Float32Array(200);
    topKInto(scores, 0, length, 200, labels, out, 0);
    const ref = referenceTopK(scores, 200);
    expect(Array.from(labels)).toEqual(ref.labels);
  });

  it('topKMergeInto over label blocks equals one topKInto over the row', () => {
    const rng = new Rng(11);
    const row = new Float32Array(1000);
    for (let i = 0; i < row.length; i++) row[i] = rng.int(50);
    const k = 40;
    const a = new Int32Array(k);
    const as = new Float32Array(k);
    topKInto(row, 0, row.length, k, a, as, 0);
    const b = new Int32Array(k);
    const bs = new Float32Array(k);
    let filled = 0;
    for (let s = 0; s < row.length; s += 64) {
      filled = topKMergeInto(row, s, Math.min(64, row.length - s), s, k, b, bs, 0, filled);
    }
    expect(filled).toBe(k);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(bs)).toEqual(Array.from(as));
  });
});
