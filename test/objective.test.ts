import { describe, expect, it } from 'vitest';
import { DistillationObjective, type CandidateSet } from '../src/core/model/objective.js';
import { Rng } from '../src/core/util/rng.js';

function randomSet(rng: Rng, n: number, positives: number, scoredShare: number): CandidateSet {
  const c: CandidateSet = {
    n,
    scores: new Float32Array(n),
    logQ: new Float32Array(n),
    positive: new Uint8Array(n),
    teacher: new Float32Array(n),
    scored: new Uint8Array(n),
  };
  for (let i = 0; i < n; i++) {
    c.scores[i] = rng.normal() * 2;
    c.positive[i] = i < positives ? 1 : 0;
    c.logQ[i] = i >= positives && rng.next() < 0.5 ? Math.log(rng.next() + 0.01) : 0;
    c.scored[i] = i < positives || rng.next() < scoredShare ? 1 : 0;
    c.teacher[i] = rng.normal() * 3;
  }
  return c;
}

/** Plain reference in float64: the formula of DESIGN.md written out with arrays and maps. */
function referenceLoss(c: CandidateSet, s: number[], alpha: number, T: number): number {
  const idx = [...Array(c.n).keys()];
  const z = idx.map((i) => s[i] - c.logQ[i]);
  const lse = (xs: number[]): number => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((a, x) => a + Math.exp(x - m), 0));
  };
  const pos = idx.filter((i) => c.positive[i]);
  const ce = pos.length ? pos.reduce((a, i) => a + (lse(z) - z[i]) / pos.length, 0) : 0;
  const sub = idx.filter((i) => c.scored[i]);
  let kl = 0;
  if (sub.length >= 2) {
    const ss = sub.map((i) => s[i] / T);
    const tt = sub.map((i) => c.teacher[i] / T);
    const ls = lse(ss);
    const lt = lse(tt);
    kl = sub.reduce((a, _, j) => a + Math.exp(tt[j] - lt) * (tt[j] - lt - (ss[j] - ls)), 0) * T * T;
  }
  return (1 - alpha) * ce + alpha * kl;
}

describe('DistillationObjective', () => {
  const cases = [
    { alpha: 0, T: 1, name: 'CE only (negative sampling with log-q)' },
    { alpha: 1, T: 2, name: 'KL only (distillation, T=2)' },
    { alpha: 0.3, T: 0.5, name: 'mixture' },
  ];
  for (const { alpha, T, name } of cases) {
    it(`matches the plain reference and finite differences: ${name}`, () => {
      const rng = new Rng(7);
      for (let trial = 0; trial < 20; trial++) {
        const n = 3 + rng.int(30);
        const c = randomSet(rng, n, 1 + rng.int(3), 0.5);
        const obj = new DistillationObjective(alpha, T, 4);
        const grad = new Float32Array(n);
        const loss = obj.forward(c, grad);
        const s = Array.from(c.scores);
        expect(loss).toBeCloseTo(referenceLoss(c, s, alpha, T), 4);
        for (let i = 0; i < n; i++) {
          const h = 1e-3;
          const plus = [...s];
          const minus = [...s];
          plus[i] += h;
          minus[i] -= h;
          const fd = (referenceLoss(c, plus, alpha, T) - referenceLoss(c, minus, alpha, T)) / (2 * h);
          expect(Math.abs(grad[i] - fd)).toBeLessThan(1e-3 * Math.max(1, Math.abs(fd)));
        }
      }
    });
  }

  it('has zero KL gradient when the student already matches the teacher', () => {
    const rng = new Rng(3);
    const c = randomSet(rng, 10, 2, 1);
    c.teacher.set(c.scores);
    const grad = new Float32Array(10);
    const obj = new DistillationObjective(1, 1.5);
    expect(obj.forward(c, grad)).toBeCloseTo(0, 6);
    for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-6);
  });

  it('log-q correction raises the weight of sampled negatives', () => {
    const rng = new Rng(5);
    const c = randomSet(rng, 8, 1, 0);
    c.logQ.fill(0);
    const g0 = new Float32Array(8);
    new DistillationObjective(0, 1).forward(c, g0);
    c.logQ.fill(Math.log(0.1), 1); // each negative stands for 10 unsampled labels
    const g1 = new Float32Array(8);
    new DistillationObjective(0, 1).forward(c, g1);
    for (let i = 1; i < 8; i++) expect(g1[i]).toBeGreaterThan(g0[i]);
  });
});
