import { basename, dirname, join } from 'node:path';
import type { Csr } from '../core/csr.js';
import { UsageError } from '../core/errors.js';
import type { FeaturizerOptions } from '../core/featurizer.js';
import { loadTrainTest } from '../core/load-dataset.js';
import { computePropensities, type MetricReport } from '../core/metrics.js';
import { Rng } from '../core/rng.js';
import { FOLDS_FORMAT, foldOf, foldsManifestPath, labelsFingerprint, type FoldsManifest } from '../teacher/folds.js';
import { MlpFitRun, type MlpTeacher } from '../teacher/mlp-teacher.js';
import { exportSparseEncoderOnnx, type SparseEncoderModel } from '../teacher/onnx-export.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import { writeFileAtomically } from '../core/atomic-write.js';
import { allLabels, evaluateTeacher } from './evaluate.js';
import { silentProgress, StageTimer, type ProgressSink } from './progress.js';

export interface TeacherFitConfig {
  /** Hidden ReLU units. @defaultValue 256 */
  hidden: number;
  /** Adagrad learning rate. @defaultValue 0.05 */
  lr: number;
  /** Dropout on the hidden layer while fitting. @defaultValue 0.5 */
  dropout: number;
  /** Upper bound on epochs; the best epoch on the validation slice is kept. @defaultValue 20 */
  maxEpochs: number;
  /** Epochs without validation P@1 gain before stopping. @defaultValue 5 */
  patience: number;
  /** Share of the training data held out to pick the epoch (never the test split). @defaultValue 0.1 */
  validationFraction: number;
  /**
   * Cross-fitting folds: K extra models, each trained without one fold of the training data, so
   * that a training example is scored by a model that did not see it; 0 or 1 = none.
   * @defaultValue 3
   */
  folds: number;
  seed: number;
}

export const DEFAULT_TEACHER_FIT: TeacherFitConfig = { hidden: 256, lr: 0.05, dropout: 0.5, maxEpochs: 20, patience: 5, validationFraction: 0.1, folds: 3, seed: 1 };

/** Full softmax over L labels per example: refuse sizes where that would take hours. */
export const TEACHER_MAX_LABELS = 100_000;

export interface TeacherFitResult {
  metrics?: MetricReport & { ece: number };
  epochs: number;
  validationScore: number;
  onnxMaxAbsDiff: number;
  /** Cross-fitting fold models written beside the teacher (0 = none). */
  folds: number;
  seconds: number;
}

export function teacherAsSparseEncoder(t: MlpTeacher): SparseEncoderModel {
  return {
    inputDim: t.inputDim,
    hiddenDim: t.hidden,
    W1: t.W1,
    b1: t.b1,
    activation: 'relu',
    labelTable: t.W2,
    labelBias: t.b2,
    numLabels: t.numLabels,
    output: 'logits',
  };
}

/**
 * Fits the baseline teacher (one hidden layer, full softmax), keeps the epoch that is best on a
 * held-out slice of the training data, writes it as ONNX, checks that ONNX Runtime scores as the
 * in-process model does, and evaluates it on the test split.
 */
export async function fitTeacher(
  input: { trainPath: string; testPath?: string; outPath: string; config: TeacherFitConfig; featurizer?: FeaturizerOptions; cacheDir?: string | false },
  sink: ProgressSink = silentProgress,
): Promise<TeacherFitResult> {
  const started = performance.now();
  const cfg = input.config;
  const timer = new StageTimer(sink);
  timer.start('preparing');
  const data = await loadTrainTest(input.trainPath, input.testPath, { featurizer: input.featurizer, cacheDir: input.cacheDir });
  const { train } = data;
  const L = train.labels.cols;
  if (L > TEACHER_MAX_LABELS) {
    throw new UsageError(`the baseline teacher computes a full softmax over all ${L} labels; above ${TEACHER_MAX_LABELS} bring your own ONNX teacher (candidate scorer)`);
  }

  timer.start('training');
  const rows = new Int32Array(train.features.rows);
  for (let i = 0; i < rows.length; i++) rows[i] = i;
  new Rng(cfg.seed).shuffle(rows);
  const nVal = Math.floor(rows.length * cfg.validationFraction);
  const val = rows.subarray(0, nVal);
  const fit = nVal > 0 ? rows.subarray(nVal) : rows;
  const run = new MlpFitRun(train.features, train.labels, L, cfg.hidden, cfg.lr, cfg.dropout, cfg.seed);
  const t = run.teacher;
  // The best epoch's weights, copied into buffers allocated once.
  const best = { p1: -1, epoch: 0, W1: t.W1.slice(), b1: t.b1.slice(), W2: t.W2.slice(), b2: t.b2.slice() };
  for (let e = 1; e <= cfg.maxEpochs; e++) {
    const epochStart = performance.now();
    const loss = run.epoch(fit);
    const p1 = nVal > 0 ? run.validationScore(val) : 0;
    const seconds = (performance.now() - epochStart) / 1000;
    sink.epoch({ epoch: e, loss, ce: loss, kl: 0, examples: fit.length, seconds, examplesPerSecond: fit.length / seconds });
    sink.log(`teacher epoch ${e}: loss ${loss.toFixed(4)}, validation mean P@1,3,5 ${p1.toFixed(4)}`);
    if (nVal === 0 || p1 > best.p1 + 1e-9) {
      best.p1 = p1;
      best.epoch = e;
      best.W1.set(t.W1);
      best.b1.set(t.b1);
      best.W2.set(t.W2);
      best.b2.set(t.b2);
    } else if (e - best.epoch >= cfg.patience) break;
  }
  t.W1.set(best.W1);
  t.b1.set(best.b1);
  t.W2.set(best.W2);
  t.b2.set(best.b2);

  timer.start('publishing');
  const bytes = exportSparseEncoderOnnx(teacherAsSparseEncoder(t));
  await writeFileAtomically(input.outPath, bytes);
  const folds = cfg.folds >= 2 ? await fitFolds(train.features, train.labels, best.epoch, input.outPath, cfg, sink) : 0;

  timer.start('evaluating');
  const onnx = await OnnxTeacher.load(bytes);
  try {
    const check = data.test ?? train;
    const onnxMaxAbsDiff = await compareWithOnnx(t, onnx, check.features);
    if (onnxMaxAbsDiff > 1e-4) throw new Error(`ONNX export differs from the in-process teacher by ${onnxMaxAbsDiff} (> 1e-4)`);
    const result: TeacherFitResult = { epochs: best.epoch, validationScore: best.p1, onnxMaxAbsDiff, folds, seconds: 0 };
    if (data.test) {
      const ev = await evaluateTeacher(onnx, data.test, L, computePropensities(train.labels, data.test.labels.cols));
      result.metrics = { ...ev.metrics, ece: ev.ece };
    }
    timer.stop();
    result.seconds = (performance.now() - started) / 1000;
    return result;
  } finally {
    await onnx.close();
  }
}

/**
 * The cross-fitting models: model k is trained, for the epoch count the full model chose, on
 * every training row outside fold k, and written beside the teacher with a manifest.
 */
async function fitFolds(features: Csr, labels: Csr, epochs: number, outPath: string, cfg: TeacherFitConfig, sink: ProgressSink): Promise<number> {
  const K = cfg.folds;
  const files: string[] = [];
  const base = basename(outPath).replace(/\.onnx$/i, '');
  for (let k = 0; k < K; k++) {
    const rows: number[] = [];
    for (let i = 0; i < features.rows; i++) if (foldOf(i, K, cfg.seed) !== k) rows.push(i);
    const run = new MlpFitRun(features, labels, labels.cols, cfg.hidden, cfg.lr, cfg.dropout, cfg.seed + 1 + k);
    const fitRows = Int32Array.from(rows);
    for (let e = 1; e <= epochs; e++) {
      const loss = run.epoch(fitRows);
      sink.log(`fold ${k + 1}/${K} epoch ${e}/${epochs}: loss ${loss.toFixed(4)}`);
    }
    const file = `${base}.fold${k}.onnx`;
    await writeFileAtomically(join(dirname(outPath), file), exportSparseEncoderOnnx(teacherAsSparseEncoder(run.teacher)));
    files.push(file);
  }
  const manifest: FoldsManifest = { format: FOLDS_FORMAT, version: 1, folds: K, seed: cfg.seed, trainPoints: features.rows, labelsFingerprint: labelsFingerprint(labels), files };
  await writeFileAtomically(foldsManifestPath(outPath), JSON.stringify(manifest, null, 2) + '\n');
  return K;
}

/** Largest |ONNX − in-process| logit over the first rows (up to 64). */
async function compareWithOnnx(t: MlpTeacher, onnx: OnnxTeacher, features: Csr): Promise<number> {
  const n = Math.min(64, features.rows);
  const L = t.numLabels;
  const examples = new Int32Array(n);
  for (let i = 0; i < n; i++) examples[i] = i;
  const scores = await onnx.scoreCandidates(features, examples, allLabels(n, L));
  const ref = new Float32Array(L);
  const h = new Float32Array(t.hidden);
  let maxDiff = 0;
  for (let i = 0; i < n; i++) {
    t.logitsInto(features.indices, features.values, features.indptr[i], features.indptr[i + 1], ref, 0, h);
    for (let y = 0; y < L; y++) maxDiff = Math.max(maxDiff, Math.abs(ref[y] - scores[i * L + y]));
  }
  return maxDiff;
}
