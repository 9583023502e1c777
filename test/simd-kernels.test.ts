/**
 * The WebAssembly SIMD kernels of the training step (src/core/simd): each against a plain loop in
 * doubles, at lengths with and without a 4-lane tail; the committed module against its .wat; a
 * training run with them against the same run in plain JavaScript loops.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATED_PATH, WAT_PATH, assembleKernels, generatedSource } from '../scripts/build-kernels.js';
import { adagradFactory } from '../src/core/model/optimizer.js';
import { Student } from '../src/core/model/student.js';
import { DEFAULT_TRAIN_CONFIG, studentShapeOf, type TrainConfig } from '../src/core/model/train-config.js';
import { trainerFor, trainingParameters } from '../src/core/model/training-setup.js';
import { stepScratchFloats, StudentTrainer, type NegativePool } from '../src/core/model/trainer.js';
import { KernelMemory, KernelMemorySlot } from '../src/core/simd/kernel-memory.js';
import { Rng } from '../src/core/util/rng.js';
import { csr } from './support/csr-rows.js';

const LENGTHS = [1, 3, 4, 5, 8, 13, 64, 257];

function randomIn(km: KernelMemory, n: number, rng: Rng, positive = false): Float32Array {
  const a = km.floats(n);
  for (let i = 0; i < n; i++) a[i] = positive ? 0.1 + rng.next() : 2 * rng.next() - 1;
  return a;
}

/** |a − b| within rel of the larger magnitude (float32 rounding against a loop in doubles). */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, rel = 1e-5): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(a[i]), Math.abs(b[i])));
}

describe('the SIMD kernels against plain loops', () => {
  const km = KernelMemory.create(1 << 16)!;
  const k = km.kernels;
  const rng = new Rng(7);

  it.each(LENGTHS)('dot, axpy, axpy2 and scale at length %i', (n) => {
    const x = randomIn(km, n, rng);
    const y = randomIn(km, n, rng);
    const z = randomIn(km, n, rng);
    let want = 0;
    for (let i = 0; i < n; i++) want += x[i] * y[i];
    expect(Math.abs(k.dot(x.byteOffset, y.byteOffset, n) - want)).toBeLessThan(1e-5 * Math.max(1, n));

    const before = Float64Array.from(y);
    k.axpy(y.byteOffset, x.byteOffset, -0.75, n);
    expectClose(y, before.map((v, i) => v - 0.75 * x[i]));

    const before2 = Float64Array.from(y);
    k.axpy2(y.byteOffset, x.byteOffset, z.byteOffset, 0.5, 2, n);
    expectClose(y, before2.map((v, i) => v + 0.5 * x[i] + 2 * z[i]));

    const before3 = Float64Array.from(z);
    k.scale(z.byteOffset, 1.5, n);
    expectClose(z, before3.map((v) => 1.5 * v));
  });

  it.each(LENGTHS)('per-coordinate Adagrad at length %i, a second step seeing the first one’s accumulators', (n) => {
    const p = randomIn(km, n, rng);
    const a = randomIn(km, n, rng, true);
    const g = randomIn(km, n, rng);
    const wantP = Float64Array.from(p);
    const wantA = Float64Array.from(a);
    for (const scale of [0.3, -2]) {
      k.adagrad(p.byteOffset, a.byteOffset, g.byteOffset, scale, 0.25, n);
      for (let i = 0; i < n; i++) {
        const gi = scale * g[i];
        wantA[i] += gi * gi;
        wantP[i] -= (0.25 * gi) / (Math.sqrt(wantA[i]) + 1e-8);
      }
      expectClose(a, wantA);
      expectClose(p, wantP);
    }
  });

  it('leaves the floats either side of what it writes alone', () => {
    const block = randomIn(km, 24, rng);
    const keep = Float32Array.from(block);
    const x = randomIn(km, 5, rng);
    k.axpy(block.byteOffset + 4 * 8, x.byteOffset, 3, 5); // floats 8..12: a SIMD pass and a tail of one
    for (const i of [...Array(8).keys(), ...Array.from({ length: 11 }, (_, j) => 13 + j)]) expect(block[i]).toBe(keep[i]);
  });

  it('the Adagrad optimizer steps through the kernel when params, accumulators and gradient are in its memory, as the plain loop does', () => {
    const dim = 6;
    const params = randomIn(km, 3 * dim, rng);
    const plainParams = Float32Array.from(params);
    const viaKernel = adagradFactory(false, 'shared', km)(params, dim, 0.2);
    const plain = adagradFactory(false, 'own')(plainParams, dim, 0.2);
    expect(km.holds(viaKernel.accum)).toBe(true);
    const g = randomIn(km, dim, rng);
    viaKernel.stepRow(1, g, 0, 0.7);
    plain.stepRow(1, Float32Array.from(g), 0, 0.7);
    expectClose(params, plainParams);
    expectClose(viaKernel.accum, plain.accum);
    expect(params[0]).toBe(plainParams[0]); // other rows untouched
  });
});

describe('KernelMemory', () => {
  it('carves aligned, disjoint arrays, reports a full memory, and refuses more than 4 GiB', () => {
    const km = KernelMemory.create(10)!;
    const a = km.floats(5);
    const b = km.floats(3);
    expect(a.byteOffset % 16).toBe(0);
    expect(b.byteOffset % 16).toBe(0);
    expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + 4 * 5);
    expect(km.holds(a)).toBe(true);
    expect(km.holds(new Float32Array(4))).toBe(false);
    expect(km.view(a).byteOffset).toBe(a.byteOffset);
    const rest = (km.memory.buffer.byteLength - b.byteOffset - 16) / 4;
    expect(km.tryFloats(rest + 4)).toBeNull();
    expect(() => km.floats(1 << 20)).toThrow(/do not fit/);
    const last = km.tryFloats(rest); // a refusal leaves the rest free: exactly the rest still fits
    expect(last?.byteOffset).toBe(b.byteOffset + 16);
    expect(km.tryFloats(1)).toBeNull();
    expect(KernelMemory.create(2 ** 30)).toBeNull();
  });

  it('the committed module is the one kernels.wat assembles to', async () => {
    const bytes = await assembleKernels(readFileSync(WAT_PATH, 'utf8'));
    expect(readFileSync(GENERATED_PATH, 'utf8')).toBe(generatedSource(bytes));
  });
});

describe('training with the kernels', () => {
  const D = 40;
  const L = 30;
  const rng = new Rng(3);
  const rows = Array.from({ length: 200 }, () => Array.from(new Set(Array.from({ length: 1 + rng.int(6) }, () => rng.int(D)))));
  const values = rows.map((r) => r.map(() => 0.2 + rng.next()));
  const labelRows = rows.map((r) => [r[0] % L, ...(r.length > 3 ? [(r[1] * 7) % L] : [])]);
  const features = csr(rows, D, values);
  const labels = csr(labelRows, L);

  it.each([
    [false, 9],
    [true, 9],
    [false, 16],
  ])('gives the plain loops’ losses and parameters up to float rounding (row-wise %s, d %i)', (rowwiseAdagrad, dim) => {
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim, rowwiseAdagrad, hardNegatives: 0, randomNegatives: 6, inBatchNegatives: 4, batchSize: 8, threads: 1, lr: 0.2 };
    const initial = Student.init(studentShapeOf(cfg, D, L), 5);
    const setUp = (c: TrainConfig) => {
      const { blank, kernels } = trainingParameters(initial.shape, c, 1, undefined, stepScratchFloats(features, labels, c));
      const student = blank.randomize(5);
      return { student, trainer: trainerFor(student, kernels, features, labels, c, 1) };
    };
    const simd = setUp({ ...cfg, simdKernels: true });
    const plain = setUp({ ...cfg, simdKernels: false });
    expect(simd.trainer.kernelMemory).not.toBeNull();
    expect(plain.trainer.kernelMemory).toBeNull();
    expect(simd.trainer.kernelMemory!.holds(simd.student.W1)).toBe(true); // drawn into the kernel memory
    expect(simd.student.W1).toEqual(initial.W1);
    for (let epoch = 1; epoch <= 3; epoch++) {
      const a = simd.trainer.trainEpoch(epoch);
      const b = plain.trainer.trainEpoch(epoch);
      expect(Math.abs(a.loss - b.loss)).toBeLessThan(1e-4 * Math.abs(b.loss));
    }
    expectClose(simd.student.V, plain.student.V, 1e-3);
    expectClose(simd.student.W1, plain.student.W1, 1e-3);
    expect(simd.student.V.some((v, i) => v !== initial.V[i])).toBe(true);
  });

  it.each([
    { name: 'valued inputs, label bias, τ 1, α 0.5 with hard negatives', binary: false, labelBias: true, tau: 1, alpha: 0.5, dim: 9 },
    { name: 'binary inputs, no label bias, τ 0.7, α 0', binary: true, labelBias: false, tau: 0.7, alpha: 0, dim: 16 },
    { name: 'valued inputs, label bias, τ 0.3, α 1, d 4', binary: false, labelBias: true, tau: 0.3, alpha: 1, dim: 4 },
  ])('the batched step (one kernel call for the scores, one for the backward pass) trains bit for bit as one call per row: $name', ({ binary, labelBias, tau, alpha, dim }) => {
    const feats = binary ? csr(rows, D) : features;
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim, labelBias, tau, alpha, hardNegatives: 3, randomNegatives: 5, inBatchNegatives: 4, batchSize: 8, threads: 1, lr: 0.2 };
    // a pool of 4 non-positive labels per row with teacher scores, and the positives' teacher scores
    const K = 4;
    const poolRng = new Rng(11);
    const pool: NegativePool = { size: K, labels: new Int32Array(rows.length * K), teacherScores: new Float32Array(rows.length * K) };
    for (let r = 0; r < rows.length; r++) {
      for (let k = 0; k < K; k++) {
        let y = poolRng.int(L);
        while (labelRows[r].includes(y)) y = poolRng.int(L);
        pool.labels[r * K + k] = k === K - 1 && r % 3 === 0 ? -1 : y; // some rows short of a full pool
        pool.teacherScores![r * K + k] = 3 * poolRng.next() - 1;
      }
    }
    const positiveScores = Float32Array.from(labels.indices, () => 2 + poolRng.next());
    const run = (batchedKernels: boolean) => {
      const c = { ...cfg, batchedKernels };
      const { blank, kernels } = trainingParameters(studentShapeOf(c, D, L), c, 1, undefined, stepScratchFloats(feats, labels, c));
      const student = blank.randomize(5);
      const trainer = trainerFor(student, kernels, feats, labels, c, 1);
      trainer.setPool(pool);
      if (alpha > 0) trainer.setPositiveTeacherScores(positiveScores);
      const losses = [1, 2, 3].map((e) => trainer.trainEpoch(e).loss);
      return { losses, W1: student.W1.slice(), V: student.V.slice(), batched: trainer.batchedStep, start: Student.init(student.shape, 5) };
    };
    const batched = run(true);
    const perRow = run(false);
    expect(batched.batched).toBe(true);
    expect(perRow.batched).toBe(false);
    expect(batched.losses).toEqual(perRow.losses);
    expect(batched.W1).toEqual(perRow.W1);
    expect(batched.V).toEqual(perRow.V);
    expect(batched.V.some((v, i) => v !== batched.start.V[i])).toBe(true); // it trained
    expect(batched.W1.some((v, i) => v !== batched.start.W1[i])).toBe(true);
  });

  it('a run in a reused memory (KernelMemorySlot) trains bit for bit as in a new one; a larger run gets a new memory', () => {
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim: 9, hardNegatives: 0, randomNegatives: 6, inBatchNegatives: 4, batchSize: 8, threads: 1, lr: 0.2 };
    const shape = studentShapeOf(cfg, D, L);
    const run = (slot?: KernelMemorySlot) => {
      const { blank, kernels } = trainingParameters(shape, cfg, 1, slot, stepScratchFloats(features, labels, cfg));
      const trainer = trainerFor(blank.randomize(5), kernels, features, labels, cfg, 1);
      const losses = [1, 2].map((e) => trainer.trainEpoch(e).loss);
      return { losses, W1: blank.W1.slice(), V: blank.V.slice(), kernels };
    };
    const fresh = run();
    const slot = new KernelMemorySlot();
    const first = run(slot);
    const second = run(slot); // the first run's parameters, accumulators and scratch are all dirty
    expect(second.kernels).toBe(first.kernels);
    for (const r of [first, second]) {
      expect(r.losses).toEqual(fresh.losses);
      expect(r.W1).toEqual(fresh.W1);
      expect(r.V).toEqual(fresh.V);
    }
    const wider = trainingParameters(studentShapeOf(cfg, 100 * D, L), cfg, 1, slot, stepScratchFloats(features, labels, cfg)); // past the memory's 64 KiB pages
    expect(wider.kernels).not.toBe(first.kernels);
    expect(slot.memory).toBe(wider.kernels);
  });

  it('Student.randomize draws what Student.init does, into parameters of any memory', () => {
    const shape = studentShapeOf({ ...DEFAULT_TRAIN_CONFIG, dim: 9, labelBias: true }, D, L);
    const init = Student.init(shape, 7);
    const km = KernelMemory.create(init.W1.length + init.V.length + 8)!;
    const there = new Student(shape, km.floats(init.W1.length).fill(3), km.floats(init.V.length).fill(3)).randomize(7);
    expect(there.W1).toEqual(init.W1);
    expect(there.V).toEqual(init.V);
    expect(init.W1.filter((_, i) => i % shape.dim === shape.dim - 1).every((v) => v === 0)).toBe(true); // the bias column
  });

  it('a trainer without room left in the memory falls back to plain loops', () => {
    const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim: 8, hardNegatives: 0, threads: 1 };
    const initial = Student.init(studentShapeOf(cfg, D, L), 5);
    const km = KernelMemory.create(initial.W1.length + initial.V.length)!;
    const student = new Student(initial.shape, km.copyOf(initial.W1), km.copyOf(initial.V));
    while (km.tryFloats(4)); // the rest of its page used up
    const trainer = new StudentTrainer(student, features, labels, cfg, adagradFactory(false, 'own'), km);
    expect(trainer.kernelMemory).toBeNull();
    expect(Number.isFinite(trainer.trainEpoch(1).loss)).toBe(true);
  });
});
