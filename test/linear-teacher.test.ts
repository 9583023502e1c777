import { beforeAll, describe, expect, it } from 'vitest';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { fitTeacher } from '../src/pipeline/fit-teacher.js';
import type { JobStage, ProgressSink } from '../src/pipeline/progress.js';
import { writeSynth } from '../src/core/data/synth.js';
import { foldOf } from '../src/teacher/folds.js';
import { AUTO_SHORTLIST, fitLinearTeacher, foldRows, heldOutShortlistRecall, shortlistSize, teacherRowScores, type LinearTeacherConfig } from '../src/teacher/linear-teacher.js';
import { OnnxTeacher } from '../src/teacher/onnx-teacher.js';
import { fitOvrTasks } from '../src/teacher/ovr-pool.js';
import { DEFAULT_OVR_SOLVER, type OvrSolverConfig } from '../src/teacher/ovr-solver.js';
import { exportSparseLinearOnnx } from '../src/teacher/sparse-linear-onnx.js';
import { averageModels, SparseLinearModel } from '../src/teacher/sparse-linear-model.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { SparseLinearScorer } from '../src/teacher/sparse-linear-scorer.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function randomRows(rng: Rng, rows: number, cols: number, perRow: number, values: boolean): Csr {
  const b = new CsrBuilder(values);
  for (let r = 0; r < rows; r++) {
    const set = new Set<number>();
    while (set.size < perRow) set.add(rng.int(cols));
    for (const c of [...set].sort((a, b) => a - b)) b.push(c, values ? 0.2 + rng.next() : 1);
    b.endRow();
  }
  return b.build(cols);
}

/** Random rows with `perRow` features in [0, D) and `labelsPerRow` labels in [0, L). */
function randomProblem(seed: number, N: number, D: number, L: number, perRow: number, labelsPerRow: number): { features: Csr; labels: Csr } {
  const rng = new Rng(seed);
  return { features: randomRows(rng, N, D, perRow, true), labels: randomRows(rng, N, L, labelsPerRow, false) };
}

/** One model on `rows` over L labels, in this thread (the solver path of fitLinearTeacher). */
async function fitOne(features: Csr, labels: Csr, L: number, rows: Int32Array, cfg: OvrSolverConfig): Promise<SparseLinearModel> {
  const [model] = await fitOvrTasks(features, labels, L, [{ rows, perLabel: null, seed: cfg.seed }], cfg, 1, () => undefined);
  return model;
}

/** Dense unit-length rows with the bias feature B appended: what the solver fits on. */
function denseRows(features: Csr, B: number): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < features.rows; i++) {
    const x = new Float64Array(features.cols + 1);
    const inv = SparseLinearModel.inverseNorm(features.values, features.indptr[i], features.indptr[i + 1]);
    for (let p = features.indptr[i]; p < features.indptr[i + 1]; p++) x[features.indices[p]] = features.values![p] * inv;
    x[features.cols] = B;
    out.push(x);
  }
  return out;
}

/** liblinear's L2-loss SVM primal: ½‖w‖² + C Σ max(0, 1 − y w·x)², the bias weight regularised too. */
function primal(w: Float64Array, X: Float64Array[], y: number[], C: number): number {
  let f = 0;
  for (const v of w) f += 0.5 * v * v;
  X.forEach((x, i) => {
    let dot = 0;
    for (let j = 0; j < x.length; j++) dot += w[j] * x[j];
    const m = Math.max(0, 1 - y[i] * dot);
    f += C * m * m;
  });
  return f;
}

/** Weights of label `label` (plus the bias weight) as a dense vector. */
function denseWeights(m: SparseLinearModel, label: number, B: number): Float64Array {
  const w = new Float64Array(m.numFeatures + 1);
  for (let p = m.weights.indptr[label]; p < m.weights.indptr[label + 1]; p++) w[m.weights.indices[p]] = m.weights.values![p];
  w[m.numFeatures] = m.bias[label] / B;
  return w;
}

describe('one-vs-rest L2-loss SVM solver', () => {
  const N = 80;
  const L = 3;
  const { features, labels } = randomProblem(11, N, 10, L, 4, 1);
  const tight: OvrSolverConfig = { ...DEFAULT_OVR_SOLVER, C: 0.7, biasFeature: 1, threshold: 0, eps: 1e-9, maxPasses: 20000 };
  const all = Int32Array.from({ length: N }, (_, i) => i);
  let model: SparseLinearModel;
  beforeAll(async () => {
    model = await fitOne(features, labels, L, all, tight);
  });
  const X = denseRows(features, tight.biasFeature);
  const signs = (label: number): number[] => Array.from({ length: N }, (_, i) => (labels.indices[labels.indptr[i]] === label ? 1 : -1));

  it('reaches a stationary point of the primal objective (central finite differences)', () => {
    for (let label = 0; label < L; label++) {
      const w = denseWeights(model, label, tight.biasFeature);
      const y = signs(label);
      const h = 1e-5;
      for (let j = 0; j < w.length; j++) {
        const up = Float64Array.from(w);
        const down = Float64Array.from(w);
        up[j] += h;
        down[j] -= h;
        const g = (primal(up, X, y, tight.C) - primal(down, X, y, tight.C)) / (2 * h);
        expect(Math.abs(g), `label ${label}, weight ${j}`).toBeLessThan(2e-3);
      }
    }
  });

  it('matches a plain gradient-descent reference on the primal', () => {
    for (let label = 0; label < L; label++) {
      const y = signs(label);
      const w = new Float64Array(features.cols + 1);
      const step = 1 / (1 + 2 * tight.C * N * 2); // below 1 / Lipschitz constant (rows have norm² ≤ 2)
      for (let it = 0; it < 20000; it++) {
        const g = Float64Array.from(w);
        X.forEach((x, i) => {
          let dot = 0;
          for (let j = 0; j < x.length; j++) dot += w[j] * x[j];
          const m = 1 - y[i] * dot;
          if (m > 0) for (let j = 0; j < x.length; j++) g[j] -= 2 * tight.C * m * y[i] * x[j];
        });
        for (let j = 0; j < w.length; j++) w[j] -= step * g[j];
      }
      const ours = denseWeights(model, label, tight.biasFeature);
      for (let j = 0; j < w.length; j++) expect(ours[j], `label ${label}, weight ${j}`).toBeCloseTo(w[j], 3);
    }
  });

  it('drops weights at or below the threshold and gives an unseen label a negative bias', async () => {
    const sparse = await fitOne(features, labels, L + 1, all, { ...tight, threshold: 0.3 });
    for (let p = 0; p < sparse.nnz; p++) expect(Math.abs(sparse.weights.values![p])).toBeGreaterThan(0.3);
    expect(sparse.nnz).toBeLessThan(model.nnz);
    expect(sparse.bias[L]).toBeLessThan(0); // label L has no positive row
  });
});

describe('linear teacher', () => {
  const N = 120;
  const L = 9;
  const { features, labels } = randomProblem(5, N, 40, L, 6, 2);
  const cfg: LinearTeacherConfig = { ...DEFAULT_OVR_SOLVER, shortlist: 0, shortlistRecall: 0.95, fullMaxLabels: 1024, centroidPostings: 1000, folds: 3, centroidWeight: 0, fullTeacher: false, threads: 1 };
  const none = { onLabels: () => undefined, onShortlist: () => undefined };

  it('is the mean of its fold models, and a fold model never sees its own fold', async () => {
    const fit = await fitLinearTeacher(features, labels, L, cfg, none);
    expect(fit.folds).toHaveLength(3);
    const mean = averageModels(fit.folds);
    const row = 7;
    const inv = SparseLinearModel.inverseNorm(features.values, features.indptr[row], features.indptr[row + 1]);
    for (let y = 0; y < L; y++) {
      const expected = fit.folds.reduce((s, m) => s + m.scorePair(features.indices, features.values, features.indptr[row], features.indptr[row + 1], y, inv), 0) / 3;
      expect(fit.teacher.scorePair(features.indices, features.values, features.indptr[row], features.indptr[row + 1], y, inv)).toBeCloseTo(expected, 5);
      expect(mean.bias[y]).toBeCloseTo(fit.teacher.bias[y], 6);
    }
    // relabel every row of fold 0: fold 0's model must not change, the others must
    const k = 0;
    const flipped: Csr = { ...labels, indices: Int32Array.from(labels.indices) };
    for (let i = 0; i < N; i++) if (foldOf(i, 3, cfg.seed) === k) for (let p = labels.indptr[i]; p < labels.indptr[i + 1]; p++) flipped.indices[p] = (labels.indices[p] + 1) % L;
    const refit = await fitLinearTeacher(features, flipped, L, cfg, none);
    expect(Array.from(refit.folds[k].weights.values!)).toEqual(Array.from(fit.folds[k].weights.values!));
    expect(Array.from(refit.folds[1].weights.values!)).not.toEqual(Array.from(fit.folds[1].weights.values!));
    expect(foldRows(N, k, 3, cfg.seed, true).length + foldRows(N, k, 3, cfg.seed, false).length).toBe(N);
  });

  it('with fullTeacher, publishes the model fitted on every row and keeps the same fold models', async () => {
    const meanFit = await fitLinearTeacher(features, labels, L, cfg, none);
    const fullFit = await fitLinearTeacher(features, labels, L, { ...cfg, fullTeacher: true }, none);
    const single = await fitLinearTeacher(features, labels, L, { ...cfg, folds: 0 }, none);
    expect(fullFit.folds.map((m) => Array.from(m.weights.values!))).toEqual(meanFit.folds.map((m) => Array.from(m.weights.values!)));
    expect(Array.from(fullFit.teacher.weights.values!)).toEqual(Array.from(single.teacher.weights.values!));
    expect(Array.from(fullFit.teacher.weights.values!)).not.toEqual(Array.from(meanFit.teacher.weights.values!));
  });

  it('chooses the shortlist automatically: always above fullMaxLabels, below it by held-out recall', () => {
    const auto = { ...cfg, shortlist: 0, fullMaxLabels: 1024, shortlistRecall: 0.95 };
    let asked = 0;
    const recall = (r: number) => () => {
      asked++;
      return r;
    };
    expect(shortlistSize({ ...auto, shortlist: 7 }, 500, recall(0))).toEqual({ k: 7 });
    expect(shortlistSize({ ...auto, shortlist: 700 }, 500, recall(0))).toEqual({ k: 0 });
    expect(shortlistSize(auto, 2000, recall(0))).toEqual({ k: AUTO_SHORTLIST });
    expect(shortlistSize(auto, 4 * AUTO_SHORTLIST - 1, recall(1))).toEqual({ k: 0 }); // too close to L to save time
    expect(shortlistSize({ ...auto, shortlistRecall: 1 }, 600, recall(1))).toEqual({ k: 0 }); // 1 = never
    expect(asked).toBe(0);
    expect(shortlistSize(auto, 600, recall(0.97))).toEqual({ k: AUTO_SHORTLIST, recall: 0.97 });
    expect(shortlistSize(auto, 600, recall(0.5))).toEqual({ k: 0, recall: 0.5 });
    expect(asked).toBe(2);
  });

  it('measures held-out shortlist recall: 1 when a label owns its feature, low when features are noise', () => {
    const rows = 300;
    const Ls = 30;
    const own = new CsrBuilder(true);
    const lab = new CsrBuilder(false);
    const r2 = new Rng(11);
    for (let i = 0; i < rows; i++) {
      const y = i % Ls;
      own.push(y, 1);
      own.endRow();
      lab.push(y);
      lab.endRow();
    }
    const labelsOwn = lab.build(Ls);
    expect(heldOutShortlistRecall(own.build(Ls), labelsOwn, Ls, 1, 1, 1000)).toBe(1);
    const noise = randomRows(r2, rows, 200, 3, true);
    const r = heldOutShortlistRecall(noise, labelsOwn, Ls, 1, 1, 1000);
    expect(r).toBeLessThan(0.3);
  });

  it('with a centroid shortlist, scores each new row over its shortlist only', async () => {
    const fit = await fitLinearTeacher(features, labels, L, { ...cfg, fullMaxLabels: 4, shortlist: 3, folds: 0 }, none);
    expect(fit.shortlist).toBe(3);
    const rs = teacherRowScores(fit, features);
    for (let r = 0; r < N; r++) expect(rs.candidates.indptr[r + 1] - rs.candidates.indptr[r]).toBeLessThanOrEqual(3);
  });

  it('fits the same models on two solver threads as on one', async () => {
    for (const shortlist of [0, 3]) {
      const c = { ...cfg, fullMaxLabels: shortlist ? 4 : 1024, shortlist };
      const one = await fitLinearTeacher(features, labels, L, c, none);
      const two = await fitLinearTeacher(features, labels, L, { ...c, threads: 2 }, none);
      for (let k = 0; k < 3; k++) {
        expect(two.folds[k].weights).toEqual(one.folds[k].weights);
        expect(two.folds[k].bias).toEqual(one.folds[k].bias);
      }
    }
  });

  it('exports to ONNX that scores like the in-process model', async () => {
    const fit = await fitLinearTeacher(features, labels, L, { ...cfg, folds: 0, threshold: 0.05 }, none);
    const onnx = await OnnxTeacher.load(exportSparseLinearOnnx(fit.teacher));
    try {
      expect(onnx.kind).toBe('scores');
      const examples = Int32Array.from({ length: 20 }, (_, i) => i * 3);
      const b = new CsrBuilder(false);
      for (let r = 0; r < examples.length; r++) {
        for (let y = 0; y < L; y += 1 + (r % 3)) b.push(y);
        b.endRow();
      }
      const candidates = b.build(L);
      const scores = await onnx.scoreCandidates(features, examples, candidates);
      for (let r = 0; r < examples.length; r++) {
        const i = examples[r];
        const s = features.indptr[i];
        const e = features.indptr[i + 1];
        const inv = SparseLinearModel.inverseNorm(features.values, s, e);
        for (let p = candidates.indptr[r]; p < candidates.indptr[r + 1]; p++) {
          expect(scores[p]).toBeCloseTo(fit.teacher.scorePair(features.indices, features.values, s, e, candidates.indices[p], inv), 5);
        }
      }
    } finally {
      await onnx.close();
    }
  });
});

describe('a teacher scored from its weights (SparseLinearScorer)', () => {
  it('scores like its ONNX graph: any candidate order, repeated labels, an empty row; null for other data', async () => {
    const { features, labels } = randomProblem(5, 80, 40, 12, 6, 2);
    const cfg: LinearTeacherConfig = { ...DEFAULT_OVR_SOLVER, shortlist: 0, shortlistRecall: 0.95, fullMaxLabels: 1024, centroidPostings: 1000, folds: 0, centroidWeight: 0, fullTeacher: false, threads: 1, threshold: 0.05 };
    const fit = await fitLinearTeacher(features, labels, 12, cfg, { onLabels: () => undefined, onShortlist: () => undefined });
    const dir = await mkdtemp(join(tmpdir(), 'dx-slscorer-'));
    const path = join(dir, 'teacher.onnx');
    const onnx = await OnnxTeacher.load(exportSparseLinearOnnx(fit.teacher));
    try {
      await writeFile(path, exportSparseLinearOnnx(fit.teacher));
      expect(await SparseLinearScorer.read(path, 41, 12)).toBeNull(); // another feature space
      expect(await SparseLinearScorer.read(path, 40, 13)).toBeNull(); // more labels than the teacher has
      // the dense copy of W (12 × 40 floats) and, with a cap below it, the sparse weights
      const dense = await SparseLinearScorer.read(path, 40, 12);
      const sparse = await SparseLinearScorer.read(path, 40, 12, 12 * 40 - 1);
      expect(dense).not.toBeNull();
      expect(sparse).not.toBeNull();
      // the last row has no feature: its scores are the biases
      const withEmpty: Csr = { ...features, rows: features.rows + 1, indptr: Int32Array.from([...features.indptr, features.indptr[features.rows]]) };
      const examples = Int32Array.from([3, 0, 79, 3, 80]);
      const b = new CsrBuilder(false);
      for (const row of [[11, 0, 5], [2, 2, 7, 1], [], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [4, 9]]) {
        for (const y of row) b.push(y);
        b.endRow();
      }
      const candidates = b.build(12);
      const expected = await onnx.scoreCandidates(withEmpty, examples, candidates);
      for (const js of [dense!, sparse!]) {
        const got = await js.scoreCandidates(withEmpty, examples, candidates);
        expect(got.length).toBe(expected.length);
        for (let p = 0; p < got.length; p++) expect(got[p]).toBeCloseTo(expected[p], 5);
        expect(got[got.length - 1]).toBe(fit.teacher.bias[9]);
        const outOfRange = { ...candidates, indices: candidates.indices.map((y, p) => (p === 0 ? 12 : y)) };
        await expect(js.scoreCandidates(withEmpty, examples, outOfRange)).rejects.toThrow(/candidate label 12 is out of range/);
      }
    } finally {
      await onnx.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('fitTeacher progress', () => {
  it('reports the fold models as their own stage, with fold numbers and progress that never goes back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-linear-'));
    try {
      const paths = await writeSynth(dir, { points: 400, features: 200, labels: 30, seed: 3 });
      const stages: JobStage[] = [];
      const progress: { stage: JobStage; done: number; total: number; fold?: number }[] = [];
      const sink: ProgressSink = {
        stage: (s) => stages.push(s),
        progress: (done, total, info) => progress.push({ stage: stages.at(-1)!, done, total, fold: info?.fold }),
        epoch: () => undefined,
        log: () => undefined,
      };
      const result = await fitTeacher({ trainPath: paths.train, testPath: paths.test, outPath: join(dir, 't.onnx'), config: { ...cfg(), folds: 2 }, cacheDir: false }, sink);
      expect(stages).toEqual(['preparing', 'cross-fitting', 'evaluating', 'publishing']);
      const folds = progress.filter((p) => p.stage === 'cross-fitting');
      // two fold models, then the published teacher on every row as the third model of the stage
      expect(new Set(folds.map((p) => p.fold))).toEqual(new Set([1, 2, 3]));
      for (let i = 1; i < folds.length; i++) expect(folds[i].done / folds[i].total).toBeGreaterThanOrEqual(folds[i - 1].done / folds[i - 1].total);
      expect(folds.at(-1)!.done).toBe(folds.at(-1)!.total);
      expect(result.folds).toBe(2);
      expect(result.stageSeconds['cross-fitting']).toBeGreaterThan(0);
      expect(result.metrics!['p@1']).toBeGreaterThan(0.3);
      expect(result.temperature).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function cfg() {
  return { ...DEFAULT_OVR_SOLVER, shortlist: 0, shortlistRecall: 0.95, fullMaxLabels: 1024, centroidPostings: 1000, folds: 3, centroidWeight: 0, fullTeacher: true, threads: 1, calibrationRows: 1000 };
}
