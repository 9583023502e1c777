/**
 * teacherWeights: a sparse linear teacher `teacher fit` wrote scores its training pairs from its
 * own weights in JavaScript (SparseLinearScorer), 4.5–30× faster than its ONNX graph on Corel5k, Bibtex and
 * Delicious (bench/weights-scoring.ts), and so do its cross-fitting fold models. All or nothing: a job whose teacher or any
 * fold model is another graph scores through ONNX Runtime, so one job's scores are made one way.
 */
import { dirname, join } from 'node:path';
import type { FoldedTeacher } from '../teacher/folded-teacher.js';
import type { CandidateScorer } from '../teacher/onnx-teacher.js';
import { SparseLinearScorer } from '../teacher/sparse-linear-scorer.js';

/**
 * The scorer of the training pairs from the weights: the fold models' (each example by the fold
 * model that did not see it) when the job uses folds, else the teacher's at `teacherPath`; null
 * when one of them is not a sparse linear model over these features and labels.
 */
export async function weightsScorer(teacherPath: string, folded: FoldedTeacher | null, numFeatures: number, numLabels: number): Promise<CandidateScorer | null> {
  if (!folded) return SparseLinearScorer.read(teacherPath, numFeatures, numLabels);
  const byFile = new Map<string, SparseLinearScorer>();
  for (const file of folded.manifest.files) {
    const scorer = await SparseLinearScorer.read(join(dirname(teacherPath), file), numFeatures, numLabels);
    if (!scorer) return null;
    byFile.set(file, scorer);
  }
  return folded.withModels((_, file) => byFile.get(file)!);
}
