import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CsrBuilder, type Csr } from '../core/csr.js';
import { UsageError } from '../core/errors.js';
import { FOLDS_FORMAT, foldOf, foldsManifestPath, labelsFingerprint, type FoldsManifest } from './folds.js';
import { OnnxTeacher, type CandidateScorer, type ScoreOptions, type TeacherLoadOptions } from './onnx-teacher.js';

/** Scores each training example with the fold model that did not see it. */
export class FoldedTeacher implements CandidateScorer {
  private constructor(
    readonly manifest: FoldsManifest,
    private readonly models: OnnxTeacher[],
  ) {}

  /**
   * The fold models that go with `teacherPath`, or null when it has none. Refuses folds cut
   * from other training data than `trainLabels`.
   */
  static async loadIfPresent(teacherPath: string, trainLabels: Csr, opts: TeacherLoadOptions = {}): Promise<FoldedTeacher | null> {
    const manifestPath = foldsManifestPath(teacherPath);
    let manifest: FoldsManifest;
    try {
      manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as FoldsManifest;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new UsageError(`${manifestPath}: ${(e as Error).message}`);
    }
    if (manifest.format !== FOLDS_FORMAT) throw new UsageError(`${manifestPath}: not a ${FOLDS_FORMAT} manifest`);
    if (manifest.trainPoints !== trainLabels.rows || manifest.labelsFingerprint !== labelsFingerprint(trainLabels)) {
      throw new UsageError(
        `${manifestPath}: the teacher's folds were cut from other training data (${manifest.trainPoints} points) than this job's (${trainLabels.rows}); ` +
          'refit the teacher on this training file or train without cross-fitting',
      );
    }
    const models: OnnxTeacher[] = [];
    try {
      for (const f of manifest.files) models.push(await OnnxTeacher.load(join(dirname(teacherPath), f), opts));
    } catch (e) {
      await Promise.all(models.map((m) => m.close()));
      throw e;
    }
    return new FoldedTeacher(manifest, models);
  }

  async scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array> {
    const { folds, seed } = this.manifest;
    const out = new Float32Array(candidates.indptr[candidates.rows] - candidates.indptr[0]);
    const base = candidates.indptr[0];
    for (let k = 0; k < folds; k++) {
      const rows: number[] = [];
      for (let i = 0; i < examples.length; i++) if (foldOf(examples[i], folds, seed) === k) rows.push(i);
      if (!rows.length) continue;
      const sub = new CsrBuilder(false, rows.length, 16);
      const subExamples = new Int32Array(rows.length);
      rows.forEach((i, j) => {
        subExamples[j] = examples[i];
        for (let p = candidates.indptr[i]; p < candidates.indptr[i + 1]; p++) sub.push(candidates.indices[p]);
        sub.endRow();
      });
      const scores = await this.models[k].scoreCandidates(features, subExamples, sub.build(candidates.cols), { batchSize: opts?.batchSize });
      let q = 0;
      for (const i of rows) for (let p = candidates.indptr[i]; p < candidates.indptr[i + 1]; p++) out[p - base] = scores[q++];
      opts?.onProgress?.(k + 1, folds);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.models.map((m) => m.close()));
  }
}
