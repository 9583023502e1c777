/**
 * The student started from the teacher: randomized SVD against ml-matrix's dense SVD, the sparse
 * linear ONNX read back as written, and a full-rank start that ranks like the teacher.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { gramIsCheaper, lowRankFactors } from '../src/core/model/low-rank.js';
import { Rng } from '../src/core/util/rng.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { Student } from '../src/core/model/student.js';
import { DEFAULT_TRAIN_CONFIG, studentShapeOf, type TrainConfig } from '../src/core/model/train-config.js';
import { adoptTeacherFactors, initStudentFromTeacher, lastTeacherFactors, teacherStartEnergy, type FactorsMemo } from '../src/pipeline/teacher-init.js';
import { isShared } from '../src/core/util/shared-arrays.js';
import { MessageChannel } from 'node:worker_threads';
import { ALPHA0_RANDOM_START, AUTO_RANDOM_START, AUTO_TEACHER_START } from '../src/pipeline/auto-tune.js';
import { BLEND_WEIGHTS, VOTE_TEMPERATURES } from '../src/pipeline/blend-tuning.js';
import { randomSparse } from './support/random-sparse.js';
import { dense } from './support/dense-matrix.js';

const normal = (rng: Rng): number => rng.normal();
import { runTrainJob, type TrainJobResult } from '../src/pipeline/train-job.js';
import type { ProgressSink } from '../src/pipeline/progress.js';
import { TrialPool } from '../src/pipeline/trial-pool.js';
import { CancelledError, UsageError } from '../src/core/util/errors.js';
import { exportSparseLinearOnnx } from '../src/teacher/sparse-linear-onnx.js';
import { readSparseLinearTeacher, sparseLinearFromOnnx } from '../src/teacher/sparse-linear-read.js';
import { AllLabelScorer, SparseLinearModel } from '../src/teacher/sparse-linear-model.js';


describe('lowRankFactors (randomized SVD; exact through M·Mᵀ for few sparse rows)', () => {
  it('finds the top singular values of a dense reference and multiplies back to the matrix at full rank', async () => {
    const rng = new Rng(3);
    const M = randomSparse(rng, 40, 300, 12, normal);
    const reference = new SingularValueDecomposition(dense(M), { autoTranspose: true }).diagonal;
    const f = await lowRankFactors(M, 10, { seed: 5 });
    // a flat random spectrum is the hard case for a sketch: the leading values come out close, the
    // rest a few % low, never above the exact ones
    for (let t = 0; t < 3; t++) expect(Math.abs(f.singularValues[t] - reference[t]) / reference[t]).toBeLessThan(0.02);
    for (let t = 0; t < 10; t++) expect(f.singularValues[t]).toBeLessThanOrEqual(reference[t] * (1 + 1e-9));
    for (let t = 0; t < 10; t++) expect(f.singularValues[t]).toBeGreaterThan(reference[t] * 0.9);
    // rank ≥ rows: the factors multiply back to M
    const full = await lowRankFactors(M, 40, { seed: 5 });
    const A = new Matrix(40, 40);
    const B = new Matrix(300, 40);
    for (let i = 0; i < 40 * 40; i++) A.set(Math.floor(i / 40), i % 40, full.left[i]);
    for (let i = 0; i < 300 * 40; i++) B.set(Math.floor(i / 40), i % 40, full.right[i]);
    const diff = dense(M).sub(A.mmul(B.transpose()));
    expect(diff.norm('frobenius') / dense(M).norm('frobenius')).toBeLessThan(1e-4);
  });

  it('gives the same factors multiplying by M densely on ONNX Runtime as in the sparse loops', async () => {
    const M = randomSparse(new Rng(4), 60, 200, 30, normal);
    const sparse = await lowRankFactors(M, 20, { seed: 2, denseProducts: false });
    const dense = await lowRankFactors(M, 20, { seed: 2, denseProducts: true });
    for (let t = 0; t < 20; t++) expect(dense.singularValues[t]).toBeCloseTo(sparse.singularValues[t], 9);
    // the factors' signs and rotation come from the same sketch: equal up to rounding
    for (let i = 0; i < sparse.left.length; i++) expect(dense.left[i]).toBeCloseTo(sparse.left[i], 4);
    for (let i = 0; i < sparse.right.length; i++) expect(dense.right[i]).toBeCloseTo(sparse.right[i], 4);
  });

  it('factors exactly through M·Mᵀ (gram) where that is cheaper than the sketch', () => {
    expect(gramIsCheaper(randomSparse(new Rng(6), 40, 20000, 200, normal), 20)).toBe(true); // 1 % filled, few rows
    expect(gramIsCheaper(randomSparse(new Rng(6), 40, 300, 12, normal), 20)).toBe(false); // filled: dense products on ONNX Runtime
    expect(gramIsCheaper(randomSparse(new Rng(6), 2000, 10000, 5, normal), 265)).toBe(false); // rows³ above the sketch's products
  });

  it('factors a matrix of few rows exactly through M·Mᵀ (gram), at any rank', async () => {
    const M = randomSparse(new Rng(6), 40, 20000, 200, normal); // 1 % filled, 40 rows: the case where gram is the default
    const reference = new SingularValueDecomposition(dense(M), { autoTranspose: true }).diagonal;
    const byDefault = await lowRankFactors(M, 10);
    const f = await lowRankFactors(M, 10, { gram: true });
    expect(Array.from(byDefault.singularValues)).toEqual(Array.from(f.singularValues));
    for (let t = 0; t < 10; t++) expect(Math.abs(f.singularValues[t] - reference[t]) / reference[t]).toBeLessThan(1e-9);
    // the rank-10 product is the best rank-10 approximation: its error is the rest of the spectrum
    const product = (g: { left: Float32Array; right: Float32Array }, rank: number): Matrix => {
      const A = new Matrix(40, rank);
      const B = new Matrix(20000, rank);
      for (let i = 0; i < 40 * rank; i++) A.set(Math.floor(i / rank), i % rank, g.left[i]);
      for (let i = 0; i < 20000 * rank; i++) B.set(Math.floor(i / rank), i % rank, g.right[i]);
      return A.mmul(B.transpose());
    };
    const rest = Math.sqrt(reference.slice(10).reduce((a, v) => a + v * v, 0));
    expect(dense(M).sub(product(f, 10)).norm('frobenius')).toBeCloseTo(rest, 3);
    // a rank above the rows: every singular value, the columns beyond them zero, M back exactly
    const full = await lowRankFactors(M, 64, { gram: true });
    expect(full.singularValues.length).toBe(40);
    expect(dense(M).sub(product(full, 64)).norm('frobenius') / dense(M).norm('frobenius')).toBeLessThan(1e-5);
  });

  it('refuses a rank below 1', async () => {
    await expect(lowRankFactors(randomSparse(new Rng(1), 3, 5, 2, normal), 0)).rejects.toThrow(/rank must be a positive integer/);
  });
});

describe('student from a sparse linear teacher', () => {
  const D = 60;
  const L = 12;
  let dir: string;
  let model: SparseLinearModel;
  let features: Csr;

  beforeAll(async () => {
    const rng = new Rng(9);
    const weights = randomSparse(rng, L, D, 20, normal);
    const bias = Float32Array.from({ length: L }, () => 0.3 * rng.normal());
    model = new SparseLinearModel(D, L, weights, bias);
    features = randomSparse(rng, 200, D, 6, normal);
    dir = await mkdtemp(join(tmpdir(), 'distilxr-init-'));
    await writeFile(join(dir, 'teacher.onnx'), exportSparseLinearOnnx(model));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads back the weights and biases the ONNX export wrote, and nothing from another graph', () => {
    const back = sparseLinearFromOnnx(exportSparseLinearOnnx(model))!;
    expect(back.numFeatures).toBe(D);
    expect(back.numLabels).toBe(L);
    expect(Array.from(back.weights.indptr)).toEqual(Array.from(model.weights.indptr));
    expect(Array.from(back.weights.indices)).toEqual(Array.from(model.weights.indices));
    expect(Array.from(back.weights.values!)).toEqual(Array.from(model.weights.values!));
    expect(Array.from(back.bias)).toEqual(Array.from(model.bias));
  });

  it('reads a teacher file once while it stays the same, and again once it is written again', async () => {
    const path = join(dir, 'reread.onnx');
    await writeFile(path, exportSparseLinearOnnx(model));
    const first = await readSparseLinearTeacher(path);
    expect(await readSparseLinearTeacher(path)).toBe(first); // the same object: not parsed again
    const other = new SparseLinearModel(D, L + 1, { ...model.weights, rows: L + 1, indptr: Int32Array.from([...model.weights.indptr, model.weights.indptr[L]]) }, new Float32Array(L + 1));
    await writeFile(path, exportSparseLinearOnnx(other));
    const again = await readSparseLinearTeacher(path);
    expect(again).not.toBe(first);
    expect(again!.numLabels).toBe(L + 1);
  });

  /** Share of rows whose student top-1 is the teacher's top-1. */
  function top1Agreement(student: Student): number {
    const scorer = new AllLabelScorer(model);
    const q = student.encodeAll(features);
    const d = student.shape.dim;
    let agree = 0;
    for (let r = 0; r < features.rows; r++) {
      scorer.score(features.indices, features.values, features.indptr[r], features.indptr[r + 1]);
      const labels = new Int32Array(1);
      scorer.topK(1, labels, new Float32Array(1), 0);
      let best = -1;
      let bestScore = -Infinity;
      for (let y = 0; y < L; y++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += q[r * d + j] * student.V[y * d + j];
        if (s > bestScore) [best, bestScore] = [y, s];
      }
      if (best === labels[0]) agree++;
    }
    return agree / features.rows;
  }

  it('at full rank with the label bias ranks like the teacher; without the bias or at random it does not', async () => {
    const make = (labelBias: boolean, dim: number): Student => Student.init(studentShapeOf({ ...DEFAULT_TRAIN_CONFIG, dim, labelBias }, D, L), 1);
    const withBias = make(true, L);
    const report = await initStudentFromTeacher(withBias, join(dir, 'teacher.onnx'), features, { seed: 1, scoreScale: 1 });
    expect(report!.rank).toBe(L);
    expect(report!.energy).toBeCloseTo(1, 4);
    expect(report!.applied).toBe(true);
    const noBias = make(false, L);
    await initStudentFromTeacher(noBias, join(dir, 'teacher.onnx'), features, { seed: 1, scoreScale: 1 });
    const agreeBias = top1Agreement(withBias);
    expect(agreeBias).toBeGreaterThan(0.85); // the bias is rescaled by the median ‖Bᵀx̂‖, not per row
    expect(agreeBias).toBeGreaterThan(top1Agreement(noBias));
    expect(top1Agreement(make(true, L))).toBeLessThan(0.4); // random start, chance ≈ 1/12
    // the bias slot stays outside the learnt coordinates
    for (let f = 0; f < D; f++) expect(withBias.W1[f * (L + 1) + L]).toBe(0);
  });

  it('keeps the random start when the rank holds too little of the teacher (the shadow would rank by bias alone)', async () => {
    const s = Student.init(studentShapeOf({ ...DEFAULT_TRAIN_CONFIG, dim: 1 }, D, L), 1);
    const before = Float32Array.from(s.V);
    const report = await initStudentFromTeacher(s, join(dir, 'teacher.onnx'), features, { seed: 1, scoreScale: 1 });
    expect(report!.energy).toBeLessThan(0.5);
    expect(report!.applied).toBe(false);
    expect(s.V).toEqual(before);
  });

  it('reports the energy the start would hold before any student exists, from the file as it is now', async () => {
    const path = join(dir, 'teacher.onnx');
    const shape = (dim: number) => studentShapeOf({ ...DEFAULT_TRAIN_CONFIG, dim }, D, L);
    const s = Student.init(shape(3), 1);
    const report = await initStudentFromTeacher(s, path, features, { seed: 1, scoreScale: 1 });
    expect(await teacherStartEnergy(path, shape(3), 1)).toBe(report!.energy);
    expect(await teacherStartEnergy(path, shape(L), 1)).toBeCloseTo(1, 4);
    expect(await teacherStartEnergy(path, studentShapeOf(DEFAULT_TRAIN_CONFIG, D + 1, L), 1)).toBeNull();
    // a file rewritten in place is read again, not answered from the last factorisation
    const other = join(dir, 'rewritten.onnx');
    await writeFile(other, exportSparseLinearOnnx(model));
    const before = await teacherStartEnergy(other, shape(3), 1);
    const rng = new Rng(77);
    await writeFile(other, exportSparseLinearOnnx(new SparseLinearModel(D, L, randomSparse(rng, L, D, 40, normal), new Float32Array(L))));
    expect(await teacherStartEnergy(other, shape(3), 1)).not.toBe(before);
  });

  it("hands its last factors to other threads in shared memory, once: a thread that adopts them starts the same student", async () => {
    const path = join(dir, 'teacher.onnx');
    const shape = studentShapeOf({ ...DEFAULT_TRAIN_CONFIG, dim: 3 }, D, L);
    await teacherStartEnergy(path, shape, 1);
    const memo = lastTeacherFactors()!;
    const arrays = [memo.value!.modelWeights.indices, memo.value!.modelWeights.values!, memo.value!.bias, memo.value!.weights.indices, memo.value!.factors.left, memo.value!.factors.right];
    expect(arrays.every((a) => isShared(a))).toBe(true); // posted without a copy
    expect(lastTeacherFactors()!.value!.factors.right).toBe(memo.value!.factors.right); // made shared once
    const here = Student.zeros(shape);
    await initStudentFromTeacher(here, path, features, { seed: 1, scoreScale: 1 });
    // another thread's view: the memo through a real message port, adopted there
    const { port1, port2 } = new MessageChannel();
    const received = new Promise<FactorsMemo>((resolve) => port2.once('message', resolve));
    port1.postMessage(memo);
    const posted = await received;
    port1.close();
    port2.close();
    expect(posted.value!.factors.right.buffer).toBeInstanceOf(SharedArrayBuffer);
    adoptTeacherFactors({ ...posted, key: memo.key });
    const there = Student.zeros(shape);
    await initStudentFromTeacher(there, path, features, { seed: 1, scoreScale: 1 });
    expect(there.W1).toEqual(here.W1);
    expect(there.V).toEqual(here.V);
  });

  it('leaves the student untouched when the teacher is not a sparse linear model of its size', async () => {
    const s = Student.init(studentShapeOf(DEFAULT_TRAIN_CONFIG, D + 1, L), 1);
    const before = Float32Array.from(s.V);
    expect(await initStudentFromTeacher(s, join(dir, 'teacher.onnx'), features, { seed: 1, scoreScale: 1 })).toBeNull();
    expect(s.V).toEqual(before);
  });
});

describe('--auto where the teacher start applies', () => {
  // 40 labels: a rank-256 start holds all of the teacher's energy
  const rng = new Rng(5);
  const D = 400;
  const L = 40;
  const model = new SparseLinearModel(D, L, randomSparse(rng, L, D, 12, normal), new Float32Array(L));
  const scorer = new AllLabelScorer(model);
  // each row labelled by the teacher's top label: the teacher is right, so both families learn
  const rows = (n: number): Dataset => {
    const features = randomSparse(rng, n, D, 8, normal);
    const b = new CsrBuilder(false);
    const top = new Int32Array(1);
    for (let r = 0; r < n; r++) {
      scorer.score(features.indices, features.values as Float32Array | null, features.indptr[r], features.indptr[r + 1]);
      scorer.topK(1, top, new Float32Array(1), 0);
      b.push(top[0], 1);
      b.endRow();
    }
    return { features, labels: b.build(L), source: 'synthetic' };
  };
  const train = rows(400);
  const test = rows(50);
  let dir: string;
  let teacherPath: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-auto-both-'));
    teacherPath = join(dir, 'teacher.onnx');
    await writeFile(teacherPath, exportSparseLinearOnnx(model));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));
  const autoJob = (trialThreads: number, config: Partial<TrainConfig> = {}, logs: string[] = []) =>
    runTrainJob(
      { trainPath: 'synthetic', teacherPath, data: { train, test }, config: { ...DEFAULT_TRAIN_CONFIG, poolSize: 32, neighbours: 0, ...config }, auto: { budgetSeconds: 3600, trialThreads }, evaluateTeacher: false },
      { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m) => logs.push(m) },
    );

  it('searches the teacher-start candidates only, and runs the best of them', async () => {
    const logs: string[] = [];
    const r = await autoJob(1, {}, logs);
    // the job's own start is factored once, by the lane left without a candidate, before the choice
    const factored = logs.filter((l) => l.startsWith('auto: the teacher factored for the job once the last trial was handed out'));
    expect(factored).toHaveLength(1);
    expect(logs.indexOf(factored[0])).toBeLessThan(logs.findIndex((l) => l.startsWith('auto: chose')));
    const report = r.auto!;
    expect(report.teacherStartEnergy).toBeGreaterThan(0.99);
    // every candidate tried, or a refinement of one that was beaten (auto-refinement.test.ts)
    const tried = [...report.trials.map((t) => t.settings), ...report.notCounted.map((n) => n.settings)];
    expect(tried).toHaveLength(AUTO_TEACHER_START.candidates.length);
    expect(tried).toEqual(expect.arrayContaining(AUTO_TEACHER_START.candidates));
    expect(report.skipped).toBe(0);
    const best = report.trials.reduce((a, t) => (t.heldOutP1 > a.heldOutP1 ? t : a));
    expect(report.family).toBe('teacher start');
    expect(r.config).toMatchObject({ ...AUTO_TEACHER_START.base, ...best.settings });
    // the trials train on the same rows with the same teacher: the first one pays for the pool's
    // scores, the later ones (the same first pool) reuse them
    const [first, ...later] = report.trials.filter((t) => (t.settings.alpha ?? 0) > 0);
    expect(first.pairsScored).toBeGreaterThan(0);
    expect(later.reduce((n, t) => n + t.pairsScored!, 0)).toBeLessThan(first.pairsScored!);
  });

  it("reads the teacher's weights for the training pairs only when a pair is scored, and evaluates the teacher with them", async () => {
    const job = async (epochs: number) => {
      const logs: string[] = [];
      const sink = { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m: string) => logs.push(m) };
      const r = await runTrainJob({ trainPath: 'synthetic', teacherPath, data: { train, test }, config: { ...DEFAULT_TRAIN_CONFIG, poolSize: 32, neighbours: 0, threads: 1, epochs, dim: 64 } }, sink);
      return { r, logs: logs.join('\n') };
    };
    const none = await job(0);
    expect(none.logs).not.toMatch(/training pairs scored from/);
    const two = await job(2);
    expect(two.logs).toMatch(/training pairs scored from the teacher's weights/);
    // the test split's teacher metrics: the same either way the weights were read
    expect(two.logs).toMatch(/teacher evaluated on 50 test points .* \(from its weights\)/);
    expect(two.r.teacherMetrics).toEqual(none.r.teacherMetrics);
  });

  it('runs two trials at once on threads of their own, each on one thread: the same trials and choice as one at a time on one thread', async () => {
    const serial = await autoJob(1, { threads: 1 });
    const parallel = await autoJob(2, { threads: 1 });
    const again = await autoJob(2);
    const held = (r: TrainJobResult) => r.auto!.trials.map((t) => [t.settings, t.heldOutP1]);
    expect(held(serial).length + serial.auto!.notCounted.length).toBe(AUTO_TEACHER_START.candidates.length);
    expect(held(parallel)).toEqual(held(serial));
    expect(parallel.auto!.notCounted.map((n) => n.settings)).toEqual(serial.auto!.notCounted.map((n) => n.settings));
    expect(held(again)).toEqual(held(serial)); // the trials ignore the job's training threads
    expect(parallel.config).toEqual(serial.config);
    // each trial thread pays for its first pool's scores once
    const paid = (r: TrainJobResult) => r.auto!.trials.reduce((n, t) => n + (t.pairsScored ?? 0), 0);
    const first = serial.auto!.trials[0].pairsScored!;
    expect(paid(serial)).toBeLessThan(2 * first);
    expect(paid(parallel)).toBeLessThan(3 * first);
  });

  it("a trial pool's failures: a bad setting comes back as a usage error, a stop cancels the trial in flight, closing waits for it", async () => {
    const trialRows = { train: Array.from({ length: 300 }, (_, i) => i), heldOut: Array.from({ length: 50 }, (_, i) => 300 + i) };
    const config = { ...DEFAULT_TRAIN_CONFIG, poolSize: 32, neighbours: 0 };
    const bad = new TrialPool(1, { trainPath: 'synthetic' }, null);
    try {
      await bad.ready();
      await expect(bad.runner({ ...config, dim: 0 }, train, test, teacherPath, trialRows)).rejects.toThrow(UsageError);
      await expect(bad.runner({ ...config, dim: 0 }, train, test, teacherPath, trialRows)).rejects.toThrow(/invalid training settings: dim/);
    } finally {
      await bad.close();
    }
    let stop = false;
    const stopped = new TrialPool(2, { trainPath: 'synthetic' }, null, () => stop);
    try {
      const long = stopped.runner({ ...config, epochs: 100000 }, train, test, teacherPath, trialRows);
      setTimeout(() => {
        stop = true;
      }, 300);
      await expect(long).rejects.toThrow(CancelledError);
      await expect(stopped.runner(config, train, test, teacherPath, trialRows)).rejects.toThrow(CancelledError);
    } finally {
      await stopped.close();
    }
    // closed with a trial in flight, the pool stops it at its next batch and ends the thread once it
    // has answered (a thread ended in the middle of ONNX Runtime's work takes the process down)
    const closing = new TrialPool(1, { trainPath: 'synthetic' }, null);
    const events: string[] = [];
    const inFlight = closing.runner({ ...config, epochs: 100000 }, train, test, teacherPath, trialRows).catch((e: unknown) => {
      events.push(e instanceof CancelledError ? 'trial cancelled' : `trial failed: ${String(e)}`);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await closing.close();
    events.push('closed');
    await inFlight;
    expect(events).toEqual(['trial cancelled', 'closed']);
    // closed at once, before its threads have loaded: they are ended once loaded, not in the middle of it
    const fresh = new TrialPool(2, { trainPath: 'synthetic' }, null);
    let loaded = false;
    const ready = fresh.ready().then(() => {
      loaded = true;
    });
    await fresh.close();
    expect(loaded).toBe(true);
    await ready;
  });
});

describe("--auto's family and first trial on synthetic teachers", () => {
  /**
   * A sparse linear teacher of L labels over D features written to a new folder, rows of one label
   * each drawn at random, and a sink keeping the job's log.
   */
  async function syntheticAutoJob(seed: number, D: number, L: number): Promise<{ dir: string; teacherPath: string; rows: (n: number) => Dataset; logs: string[]; sink: ProgressSink }> {
    const rng = new Rng(seed);
    const model = new SparseLinearModel(D, L, randomSparse(rng, L, D, 10, normal), new Float32Array(L));
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-auto-'));
    await writeFile(join(dir, 'teacher.onnx'), exportSparseLinearOnnx(model));
    const rows = (n: number): Dataset => {
      const features = randomSparse(rng, n, D, 8, normal);
      const b = new CsrBuilder(false);
      for (let r = 0; r < n; r++) {
        b.push(rng.int(L), 1);
        b.endRow();
      }
      return { features, labels: b.build(L), source: 'synthetic' };
    };
    const logs: string[] = [];
    const sink = { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m: string) => logs.push(m) };
    return { dir, teacherPath: join(dir, 'teacher.onnx'), rows, logs, sink };
  }

  it('searches from a random start (its α=0 candidate) instead of the teacher-start family', async () => {
    // a teacher with a flat spectrum over 2000 labels: rank 256 holds well under half its energy
    const { dir, teacherPath, rows, logs, sink } = await syntheticAutoJob(21, 3000, 2000);
    try {
      const r = await runTrainJob({ trainPath: 'synthetic', teacherPath, data: { train: rows(300), test: rows(50) }, config: { ...DEFAULT_TRAIN_CONFIG, epochs: 1, poolSize: 20 }, auto: { budgetSeconds: 0 }, evaluateTeacher: false }, sink);
      expect(r.auto!.family).toBe('random start');
      expect(logs.join('\n')).not.toMatch(/the teacher factored for the job/); // a random start needs no factors
      expect(r.auto!.teacherStartEnergy).toBeLessThan(0.5);
      // a zero budget holds only the first candidate, α=0, which needs no teacher: no trial, the job
      // trains it without the held-out rows (a seeded 10 %: this teacher has no folds) and chooses the blend on them
      expect(r.auto!.trials).toHaveLength(0);
      expect(r.auto!.skipped).toBe(AUTO_RANDOM_START.candidates.length - 1);
      const held = r.auto!.heldOutRows;
      expect(held).toBeGreaterThan(10);
      expect(r.auto!.blendByJob).toMatchObject({ heldOutRows: held });
      expect(r.auto!.blendByJob!.tried).toHaveLength(BLEND_WEIGHTS.length * VOTE_TEMPERATURES.length - VOTE_TEMPERATURES.length + 1);
      const best = Math.max(...r.auto!.blendByJob!.tried!.map((t) => t.p1));
      expect(r.auto!.blendByJob!.p1).toBe(best);
      expect(r.epochs.every((e) => e.examples === 300 - held)).toBe(true);
      const chosen = r.auto!.blendByJob!.tried!.find((t) => t.p1 === best)!;
      expect(r.config).toMatchObject({ neighbourWeight: chosen.neighbourWeight, voteTemperature: chosen.voteTemperature });
      expect(r.auto!.chosen).toMatchObject({ neighbourWeight: chosen.neighbourWeight, voteTemperature: chosen.voteTemperature });
      expect(logs).toContain(`auto: only the first candidate fits the budget and it needs no teacher: no trial, the job trains it without the ${held} held-out rows and chooses the neighbour blend on them`);
      expect(logs.some((m) => new RegExp(`^auto: the job chose the neighbour blend on the ${held} held-out rows in [0-9.]+ s: β 0 κ`).test(m))).toBe(true);
      expect(r.config).toMatchObject({ ...AUTO_RANDOM_START.base, ...ALPHA0_RANDOM_START });
      expect(r.pairsScored).toBe(0); // α=0: the teacher's scores would go unused
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs the first trial alone on the job threads when it is all the budget holds and it distils (the teacher start)', async () => {
    // 40 labels: rank 256 holds all of the teacher's energy, so the family is the teacher start, whose first candidate is α 0.5
    const { dir, teacherPath, rows, logs, sink } = await syntheticAutoJob(22, 300, 40);
    try {
      const r = await runTrainJob({ trainPath: 'synthetic', teacherPath, data: { train: rows(300), test: rows(50) }, config: { ...DEFAULT_TRAIN_CONFIG, epochs: 1, poolSize: 20, threads: 2 }, auto: { budgetSeconds: 0, trialThreads: 2 }, evaluateTeacher: false }, sink);
      expect(r.auto!.family).toBe('teacher start');
      expect(r.auto!.trials.map((t) => t.settings)).toEqual([AUTO_TEACHER_START.candidates[0]]);
      expect(r.auto!.blendByJob).toBeUndefined();
      expect(logs).toContain("auto: only the first candidate fits the budget beside it: its trial runs alone, on the job's threads");
      expect(r.epochs.every((e) => e.examples === 300)).toBe(true); // the job trains on every row
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
