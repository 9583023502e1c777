import { basename, dirname, join } from 'node:path';
import { writeFileAtomically } from '../core/util/atomic-write.js';
import type { Csr } from '../core/data/csr.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';
import { loadTrainTest } from '../core/data/load-dataset.js';
import { computePropensities, evaluateRankings, expectedCalibrationError, reliabilityTable, type MetricReport, type ReliabilityBin } from '../core/model/metrics.js';
import { Rng } from '../core/util/rng.js';
import { fitTemperature } from '../teacher/calibration.js';
import { positiveMask, topKOfRows, type RowScores } from '../teacher/candidate-scores.js';
import { FOLDS_FORMAT, foldsManifestPath, labelsFingerprint, type FoldsManifest } from '../teacher/folds.js';
import { AUTO_SHORTLIST, fitLinearTeacher, outOfFoldScores, solverThreads, teacherRowScores, type LinearTeacherFit } from '../teacher/linear-teacher.js';
import { TEMPERATURE_KEY } from '../teacher/onnx-export.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import { exportSparseLinearOnnx } from '../teacher/sparse-linear-onnx.js';
import { SparseLinearModel } from '../teacher/sparse-linear-model.js';
import { EVAL_K } from './evaluate.js';
import type { TeacherFitConfig } from './teacher-fit-config.js';
import { silentProgress, StageTimer, type JobStage, type ProgressSink } from './progress.js';

export interface TeacherMetrics extends MetricReport {
  /** ECE (15 bins) of the top-1 softmax probability of the raw scores, and after calibration. */
  ece: number;
  eceCalibrated: number;
}

/** The bins behind both ECE figures: the teacher's reliability diagram on the test split. */
export interface TeacherReliability {
  raw: ReliabilityBin[];
  calibrated: ReliabilityBin[];
}

export interface TeacherFitResult {
  metrics?: TeacherMetrics;
  reliability?: TeacherReliability;
  /** Softmax temperature fitted on out-of-fold training scores (stored in the ONNX metadata). */
  temperature: number;
  /** Mean cross-entropy of the held-out training rows before and after calibration. */
  calibrationNll: { before: number; after: number; rows: number };
  onnxMaxAbsDiff: number;
  /** Cross-fitting fold models written beside the teacher (0 = none). */
  folds: number;
  /** Hard negatives per row from the centroid shortlist (0 = every label). */
  shortlist: number;
  /** Held-out recall that decided the automatic shortlist, when it was measured. */
  shortlistRecall?: number;
  weights: number;
  threads: number;
  stageSeconds: Partial<Record<JobStage, number>>;
  seconds: number;
}

/** What a teacher fit reads and writes, and how. */
export interface TeacherFitInput {
  trainPath: string;
  testPath?: string;
  outPath: string;
  config: TeacherFitConfig;
  featurizer?: FeaturizerOptions;
  cacheDir?: string | false;
}

/**
 * Fits the baseline teacher (one-vs-rest linear SVMs, see teacher/linear-teacher.ts) with its
 * cross-fitting folds, calibrates it on out-of-fold training scores, writes it and its folds as
 * ONNX, checks ONNX Runtime against the in-process model and evaluates it on the test split.
 */
export async function fitTeacher(
  input: TeacherFitInput,
  sink: ProgressSink = silentProgress,
): Promise<TeacherFitResult> {
  const started = performance.now();
  const cfg = input.config;
  const timer = new StageTimer(sink);
  timer.start('preparing');
  const data = await loadTrainTest(input.trainPath, input.testPath, { featurizer: input.featurizer, cacheDir: input.cacheDir });
  const { train } = data;
  const L = train.labels.cols;

  let stage: JobStage = 'preparing';
  const enter = (s: JobStage, detail?: string): void => {
    if (stage !== s) timer.start(s, detail);
    stage = s;
  };
  const fit = await fitLinearTeacher(train.features, train.labels, L, cfg, {
    onShortlist: (done, total) => {
      enter('mining', 'hard negatives per row from the label centroids');
      sink.progress(done, total);
    },
    onLabels: (done, total, fold, folds) => {
      const detail = cfg.fullTeacher ? `${folds - 1} fold models, each blind to one fold, then the teacher on every row` : `${folds} fold models, each blind to one fold; the teacher is their mean`;
      enter(cfg.folds >= 2 ? 'cross-fitting' : 'training', cfg.folds >= 2 ? detail : undefined);
      sink.progress(done, total, { fold: fold + 1, folds });
    },
  });
  if (fit.shortlistRecall !== undefined) sink.log(`automatic shortlist: held-out recall ${fit.shortlistRecall.toFixed(4)} of the positives in ${AUTO_SHORTLIST} centroids (${fit.shortlist ? 'at least' : 'below'} ${cfg.shortlistRecall})`);
  sink.log(`teacher: ${fit.teacher.nnz} weights over ${L} labels${fit.shortlist ? `, ${fit.shortlist} shortlisted negatives per row` : ', every label a negative'}`);

  timer.start('evaluating', 'calibration on out-of-fold training scores, ONNX check, test metrics');
  const calibration = calibrate(fit, train.features, train.labels, cfg);
  sink.log(`temperature ${calibration.temperature.toFixed(4)}: held-out NLL ${calibration.before.toFixed(4)} → ${calibration.after.toFixed(4)} on ${calibration.rows} rows`);
  const metadata = [{ key: TEMPERATURE_KEY, value: String(calibration.temperature) }];
  const bytes = exportSparseLinearOnnx(fit.teacher, metadata);
  const check = data.test ?? train;
  const onnxMaxAbsDiff = await compareWithOnnx(fit.teacher, bytes, check.features);
  if (onnxMaxAbsDiff > 1e-4) throw new Error(`ONNX export differs from the in-process teacher by ${onnxMaxAbsDiff} (> 1e-4)`);
  const result: TeacherFitResult = {
    temperature: calibration.temperature,
    calibrationNll: { before: calibration.before, after: calibration.after, rows: calibration.rows },
    onnxMaxAbsDiff,
    folds: fit.folds.length,
    shortlist: fit.shortlist,
    shortlistRecall: fit.shortlistRecall,
    weights: fit.teacher.nnz,
    threads: solverThreads(cfg.threads),
    stageSeconds: timer.seconds,
    seconds: 0,
  };
  if (data.test) {
    const rs = teacherRowScores(fit, data.test.features);
    const rows = identity(data.test.features.rows);
    const top = topKOfRows(rs, EVAL_K);
    const metrics = evaluateRankings(top.labels, EVAL_K, data.test.labels, computePropensities(train.labels, data.test.labels.cols));
    const raw = top1Confidence(rs, data.test.labels, rows, 1);
    const calibrated = top1Confidence(rs, data.test.labels, rows, calibration.temperature);
    result.metrics = {
      ...metrics,
      ece: expectedCalibrationError(raw.confidence, raw.correct),
      eceCalibrated: expectedCalibrationError(calibrated.confidence, calibrated.correct),
    };
    result.reliability = { raw: reliabilityTable(raw.confidence, raw.correct), calibrated: reliabilityTable(calibrated.confidence, calibrated.correct) };
  }

  timer.start('publishing');
  await writeFileAtomically(input.outPath, bytes);
  if (fit.folds.length) await writeFolds(fit.folds, train.labels, input.outPath, cfg, metadata);
  timer.stop();
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Temperature fitted on (a sample of) the training rows' out-of-fold scores. */
function calibrate(fit: LinearTeacherFit, features: Csr, labels: Csr, cfg: TeacherFitConfig): { temperature: number; before: number; after: number; rows: number } {
  if (!fit.folds.length) return { temperature: 1, before: NaN, after: NaN, rows: 0 }; // no held-out scores without folds
  const N = features.rows;
  const order = identity(N);
  new Rng(cfg.seed ^ 0x5ca1e).shuffle(order);
  const rows = order.subarray(0, Math.min(N, cfg.calibrationRows)).sort();
  const rs = outOfFoldScores(fit, features, labels, rows, cfg.seed);
  const t = fitTemperature(rs.scores, rs.candidates.indptr, positiveMask(rs, labels, rows));
  return { temperature: t.temperature, before: t.nllBefore, after: t.nllAfter, rows: rows.length };
}

/** The top-1 probability of softmax(scores / T) over each row's candidates, and whether it is right. */
function top1Confidence(rs: RowScores, truth: Csr, rows: Int32Array, T: number): { confidence: Float64Array; correct: Uint8Array } {
  const c = rs.candidates;
  const confidence = new Float64Array(c.rows);
  const correct = new Uint8Array(c.rows);
  for (let r = 0; r < c.rows; r++) {
    let best = -1;
    let max = -Infinity;
    for (let p = c.indptr[r]; p < c.indptr[r + 1]; p++) {
      if (rs.scores[p] > max) {
        max = rs.scores[p];
        best = p;
      }
    }
    if (best < 0) continue;
    let sum = 0;
    for (let p = c.indptr[r]; p < c.indptr[r + 1]; p++) sum += Math.exp((rs.scores[p] - max) / T);
    confidence[r] = 1 / sum;
    const i = rows[r];
    for (let q = truth.indptr[i]; q < truth.indptr[i + 1]; q++) if (truth.indices[q] === c.indices[best]) correct[r] = 1;
  }
  return { confidence, correct };
}

function identity(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Fold model k (blind to fold k) beside the teacher, and the manifest that names them. */
async function writeFolds(folds: SparseLinearModel[], labels: Csr, outPath: string, cfg: TeacherFitConfig, metadata: { key: string; value: string }[]): Promise<void> {
  const base = basename(outPath).replace(/\.onnx$/i, '');
  const files: string[] = [];
  for (let k = 0; k < folds.length; k++) {
    const file = `${base}.fold${k}.onnx`;
    await writeFileAtomically(join(dirname(outPath), file), exportSparseLinearOnnx(folds[k], metadata));
    files.push(file);
  }
  const manifest: FoldsManifest = { format: FOLDS_FORMAT, version: 1, folds: folds.length, seed: cfg.seed, trainPoints: labels.rows, labelsFingerprint: labelsFingerprint(labels), files };
  await writeFileAtomically(foldsManifestPath(outPath), JSON.stringify(manifest, null, 2) + '\n');
}

/** Largest |ONNX − in-process| score over the first rows (up to 64) × up to 512 labels each. */
async function compareWithOnnx(m: SparseLinearModel, bytes: Uint8Array, features: Csr): Promise<number> {
  const n = Math.min(64, features.rows);
  const per = Math.min(512, m.numLabels);
  const examples = identity(n);
  const indptr = new Int32Array(n + 1);
  const indices = new Int32Array(n * per);
  const rng = new Rng(7);
  for (let i = 0; i < n; i++) {
    indptr[i + 1] = (i + 1) * per;
    for (let j = 0; j < per; j++) indices[i * per + j] = per === m.numLabels ? j : rng.nextU32() % m.numLabels;
  }
  const onnx = await OnnxTeacher.load(bytes);
  try {
    const scores = await onnx.scoreCandidates(features, examples, { rows: n, cols: m.numLabels, indptr, indices, values: null });
    let maxDiff = 0;
    for (let i = 0; i < n; i++) {
      const s = features.indptr[i];
      const e = features.indptr[i + 1];
      const inv = SparseLinearModel.inverseNorm(features.values, s, e);
      for (let j = i * per; j < (i + 1) * per; j++) maxDiff = Math.max(maxDiff, Math.abs(m.scorePair(features.indices, features.values, s, e, indices[j], inv) - scores[j]));
    }
    return maxDiff;
  } finally {
    await onnx.close();
  }
}
