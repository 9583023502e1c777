import { dirname, join } from 'node:path';
import type { Csr } from '../core/data/csr.js';
import { UsageError } from '../core/util/errors.js';
import { foldOf, foldsFitData, readFoldsManifest, type FoldsManifest } from './folds.js';
import { OnnxTeacher, type CandidateScorer, type ScoreOptions, type TeacherLoadOptions } from './onnx-teacher.js';

/** Scores each training example with the fold model that did not see it. */
export class FoldedTeacher implements CandidateScorer {
  /**
   * The calibration temperature the fold models declare. Teacher fitting writes the full
   * teacher's temperature into every fold model, so that fold-scored and teacher-scored
   * examples are calibrated alike; folds that disagree are refused on load.
   */
  readonly temperature: number;

  private constructor(
    readonly manifest: FoldsManifest,
    private readonly models: OnnxTeacher[],
    /** What each fold's calls go through (the models themselves unless withModels wrapped them). */
    private readonly scorers: CandidateScorer[] = models,
  ) {
    this.temperature = models.length ? models[0].temperature : 1;
  }

  /**
   * The same folds with each model's calls going through `wrap(model, its file)` (the scoring
   * fan-out). Both share the models: close one of them.
   */
  withModels(wrap: (model: OnnxTeacher, file: string) => CandidateScorer): FoldedTeacher {
    return new FoldedTeacher(this.manifest, this.models, this.models.map((m, k) => wrap(m, this.manifest.files[k])));
  }

  /**
   * The fold models that go with `teacherPath`, or null when it has none. Refuses folds cut
   * from other training data than `trainLabels` (train-job.ts checks foldsFitData first and
   * scores with the full teacher instead).
   */
  static async loadIfPresent(teacherPath: string, trainLabels: Csr, opts: TeacherLoadOptions = {}): Promise<FoldedTeacher | null> {
    const manifest = await readFoldsManifest(teacherPath);
    if (!manifest) return null;
    if (!foldsFitData(manifest, trainLabels)) {
      throw new UsageError(
        `the teacher's folds were cut from other training data (${manifest.trainPoints} points) than this job's (${trainLabels.rows}); ` +
          'refit the teacher on this training file or train without cross-fitting',
      );
    }
    return FoldedTeacher.load(teacherPath, manifest, opts);
  }

  /** The fold models a manifest names (beside `teacherPath`); they must declare one temperature. */
  static async load(teacherPath: string, manifest: FoldsManifest, opts: TeacherLoadOptions = {}): Promise<FoldedTeacher> {
    const models: OnnxTeacher[] = [];
    try {
      for (const f of manifest.files) models.push(await OnnxTeacher.load(join(dirname(teacherPath), f), opts));
      const temperatures = new Set(models.map((m) => m.temperature));
      if (temperatures.size > 1) {
        const found = models.map((m, k) => `${manifest.files[k]}: ${m.temperature}`).join(', ');
        throw new UsageError(`the fold models declare different temperatures (${found}); refit the teacher`);
      }
    } catch (e) {
      await Promise.all(models.map((m) => m.close()));
      throw e;
    }
    return new FoldedTeacher(manifest, models);
  }

  async scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array> {
    const { folds, seed } = this.manifest;
    const n = examples.length;
    const cp = candidates.indptr;
    const ci = candidates.indices;
    const base = cp[0];
    const out = new Float32Array(cp[candidates.rows] - base);
    const fold = new Int32Array(n);
    const rowsIn = new Int32Array(folds);
    const pairsIn = new Int32Array(folds);
    for (let i = 0; i < n; i++) {
      const k = foldOf(examples[i], folds, seed);
      fold[i] = k;
      rowsIn[k]++;
      pairsIn[k] += cp[i + 1] - cp[i];
    }
    for (let k = 0; k < folds; k++) {
      const m = rowsIn[k];
      if (!m) continue;
      // The rows of fold k, in order: their examples and candidate rows.
      const subExamples = new Int32Array(m);
      const indptr = new Int32Array(m + 1);
      const indices = new Int32Array(pairsIn[k]);
      for (let i = 0, j = 0; i < n; i++) {
        if (fold[i] !== k) continue;
        subExamples[j] = examples[i];
        const len = cp[i + 1] - cp[i];
        indices.set(ci.subarray(cp[i], cp[i + 1]), indptr[j]);
        indptr[j + 1] = indptr[j] + len;
        j++;
      }
      const sub: Csr = { rows: m, cols: candidates.cols, indptr, indices, values: null };
      // a part names its rows itself, so the fold's parts are the call's
      const scores = await this.scorers[k].scoreCandidates(features, subExamples, sub, { batchSize: opts?.batchSize, onScored: opts?.onScored });
      for (let i = 0, q = 0; i < n; i++) {
        if (fold[i] !== k) continue;
        out.set(scores.subarray(q, q + cp[i + 1] - cp[i]), cp[i] - base);
        q += cp[i + 1] - cp[i];
      }
      opts?.onProgress?.(k + 1, folds);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.models.map((m) => m.close()));
  }
}
