import { describe, expect, it } from 'vitest';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import type { RowOptimizer } from '../src/core/model/optimizer.js';
import { Rng } from '../src/core/util/rng.js';
import { Student } from '../src/core/model/student.js';
import { KernelMemory } from '../src/core/simd/kernel-memory.js';
import { DEFAULT_TRAIN_CONFIG, studentShapeOf, type TrainConfig } from '../src/core/model/train-config.js';
import { StudentTrainer, type NegativePool } from '../src/core/model/trainer.js';
import { csr } from './support/csr-rows.js';

/** Sums the gradients it is given instead of stepping: lets the test read dLoss/dθ. */
class GradientRecorder implements RowOptimizer {
  readonly accum = new Float32Array(0);
  readonly grad: Float64Array;
  constructor(size: number, readonly dim: number) {
    this.grad = new Float64Array(size);
  }
  stepRow(row: number, g: Float32Array, off: number, scale: number): void {
    for (let j = 0; j < this.dim; j++) this.grad[row * this.dim + j] += scale * g[off + j];
  }
}


/**
 * Reference loss in float64 for one example with candidates = positives ∪ whole pool. With the
 * label bias, the last of the d coordinates is b_y: s = (q̂·v̂ + b)/τ over the first d − 1.
 */
function referenceLoss(W1: Float64Array, V: Float64Array, d: number, x: [number, number][], pos: number[], pool: number[], teacher: Map<number, number>, cfg: TrainConfig): number {
  const e = cfg.labelBias ? d - 1 : d;
  const u = new Float64Array(e);
  for (const [f, v] of x) for (let j = 0; j < e; j++) u[j] += v * W1[f * d + j];
  const norm = Math.hypot(...u);
  const q = Array.from(u, (a) => a / norm);
  const score = (y: number): number => (q.reduce((a, qj, j) => a + qj * V[y * d + j], 0) + (cfg.labelBias ? V[y * d + d - 1] : 0)) / cfg.tau;
  const cands = [...pos, ...pool];
  const s = cands.map(score);
  const lse = (xs: number[]): number => {
    const m = Math.max(...xs);
    return m + Math.log(xs.reduce((a, b) => a + Math.exp(b - m), 0));
  };
  const ce = pos.reduce((a, _, i) => a + (lse(s) - s[i]) / pos.length, 0);
  const T = cfg.temperature;
  const ss = s.map((v) => v / T);
  const tt = cands.map((y) => teacher.get(y)! / T);
  const ls = lse(ss);
  const lt = lse(tt);
  const kl = tt.reduce((a, t, i) => a + Math.exp(t - lt) * (t - lt - (ss[i] - ls)), 0) * T * T;
  return (1 - cfg.alpha) * ce + cfg.alpha * kl;
}

describe('StudentTrainer', () => {
  it.each([
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ])('back-propagates both loss terms through V, the normalisation and W1 (finite differences; label bias %s, SIMD kernels %s)', (labelBias, kernels) => {
    const D = 7;
    const L = 9;
    const d = 5;
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, labelBias, dim: labelBias ? d - 1 : d, tau: 0.5, alpha: 0.4, temperature: 1.5, hardNegatives: 3, poolSize: 3, randomNegatives: 0, inBatchNegatives: 0, batchSize: 1, lr: 1 };
    const x: [number, number][] = [[0, 0.3], [1, 0.5], [2, -0.2], [3, 1.2], [4, 0.9], [6, -0.7]]; // 6 features: the encoder's 4-row pass and its tail
    const pos = [2, 5];
    const pool = [0, 4, 8];
    const teacherScores = new Map([[2, 1.5], [5, 0.3], [0, -0.4], [4, 2.0], [8, -1.1]]);
    const features = csr([x.map((e) => e[0])], D, [x.map((e) => e[1])]);
    const labels = csr([pos], L);
    const initial = Student.init(studentShapeOf(cfg, D, L), 11);
    // with the kernels: the parameters in their memory, so the trainer's q, scores and dL/dq go through them
    const km = kernels ? KernelMemory.create(4096) : null;
    const student = km ? new Student(initial.shape, km.copyOf(initial.W1), km.copyOf(initial.V)) : initial;
    expect(student.shape.dim).toBe(d);
    if (labelBias) for (let y = 0; y < L; y++) student.V[y * d + d - 1] = 0.1 * (y - 4); // biases that matter
    const W1 = Float64Array.from(student.W1);
    const V = Float64Array.from(student.V);
    let recW1!: GradientRecorder;
    let recV!: GradientRecorder;
    const trainer = new StudentTrainer(student, features, labels, cfg, (params, dim) => {
      const r = new GradientRecorder(params.length, dim);
      if (params === student.W1) recW1 = r;
      else recV = r;
      return r;
    }, km);
    expect(trainer.kernelMemory).toBe(km);
    const poolObj: NegativePool = { size: 3, labels: Int32Array.from(pool), teacherScores: Float32Array.from(pool.map((y) => teacherScores.get(y)!)) };
    trainer.setPool(poolObj);
    trainer.setPositiveTeacherScores(Float32Array.from(pos.map((y) => teacherScores.get(y)!)));
    const stats = trainer.trainEpoch(1);
    expect(stats.loss).toBeCloseTo(referenceLoss(W1, V, d, x, pos, pool, teacherScores, cfg), 4);

    const h = 1e-5;
    const check = (params: Float64Array, rec: GradientRecorder, i: number): void => {
      const keep = params[i];
      params[i] = keep + h;
      const up = referenceLoss(W1, V, d, x, pos, pool, teacherScores, cfg);
      params[i] = keep - h;
      const down = referenceLoss(W1, V, d, x, pos, pool, teacherScores, cfg);
      params[i] = keep;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(rec.grad[i] - fd)).toBeLessThan(2e-4 * Math.max(1, Math.abs(fd)));
    };
    for (const [f] of x) for (let j = 0; j < d; j++) check(W1, recW1, f * d + j);
    for (const y of [...pos, ...pool]) for (let j = 0; j < d; j++) check(V, recV, y * d + j);
    // untouched rows get no update at all (sparse updates)
    for (let j = 0; j < d; j++) expect(recV.grad[1 * d + j]).toBe(0);
  });

  function toyData(seed: number): { features: Csr; labels: Csr } {
    const rng = new Rng(seed);
    const fb = new CsrBuilder(true);
    const lb = new CsrBuilder(false);
    for (let i = 0; i < 400; i++) {
      const y = rng.int(20);
      lb.push(y);
      lb.endRow();
      const fs = new Set([y * 5 + rng.int(5), y * 5 + rng.int(5), rng.int(100)]);
      for (const f of [...fs].sort((a, b) => a - b)) fb.push(f, 1);
      fb.endRow();
    }
    return { features: fb.build(100), labels: lb.build(20) };
  }

  it('is deterministic for a seed and learns a planted structure', () => {
    const { features, labels } = toyData(1);
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim: 16, epochs: 5, alpha: 0, hardNegatives: 0 };
    const run = (): Student => {
      const s = Student.init({ inputDim: 100, dim: 16, numLabels: 20, tau: cfg.tau }, cfg.seed);
      const t = new StudentTrainer(s, features, labels, cfg);
      for (let e = 1; e <= cfg.epochs; e++) t.trainEpoch(e);
      return s;
    };
    const a = run();
    const b = run();
    expect(Buffer.from(a.V.buffer).equals(Buffer.from(b.V.buffer))).toBe(true);
    expect(Buffer.from(a.W1.buffer).equals(Buffer.from(b.W1.buffer))).toBe(true);
    const q = a.encodeAll(features);
    let hits = 0;
    for (let r = 0; r < features.rows; r++) {
      let best = 0;
      let bestScore = -Infinity;
      for (let y = 0; y < 20; y++) {
        let s = 0;
        for (let j = 0; j < 16; j++) s += q[r * 16 + j] * a.V[y * 16 + j];
        if (s > bestScore) [best, bestScore] = [y, s];
      }
      if (labels.indices[labels.indptr[r]] === best) hits++;
    }
    expect(hits / features.rows).toBeGreaterThan(0.8); // chance is 0.05
  });

  it('raises a NumericError instead of saving a NaN model', () => {
    const { features, labels } = toyData(2);
    features.values![0] = Number.NaN;
    const s = Student.init({ inputDim: 100, dim: 8, numLabels: 20, tau: 0.05 }, 1);
    const t = new StudentTrainer(s, features, labels, { ...DEFAULT_TRAIN_CONFIG, dim: 8, hardNegatives: 0 });
    expect(() => t.trainEpoch(1)).toThrow(/loss became NaN at epoch 1/);
  });
});
