/**
 * What every trained trial of a search starts with, made once for all the trial threads: the
 * first pool and its teacher scores. One thread makes them while the job's thread factors the
 * fold-0 model (debtags: 2.2 s of mining and scoring under 3.5 s of factoring), and the others take
 * them, so no trial mines or scores them again. A trial gets the same pool and the same scores
 * either way (one seed, one teacher): only who pays for them changes.
 */
import type { TrainConfig } from '../core/model/train-config.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import { TeacherScoreCache } from '../teacher/score-cache.js';
import { SparseLinearScorer } from '../teacher/sparse-linear-scorer.js';
import { firstPoolKey, mineFirstPool } from './pool-training.js';
import { calibratedScorer, scorePositivesAndPool } from './score.js';
import type { PreparedFirstPool, TrialMemo, TrialSlices } from './trial-pool.js';

/**
 * Mines the first pool a trial with `config` trains on and scores it as such a trial does (the
 * trial's teacher from its weights, else through ONNX Runtime, divided by its calibration
 * temperature), into `memo`; null when a trial with `config` would mine no pool or score nothing.
 */
export async function prepareFirstPool(slices: TrialSlices, config: TrainConfig, memo: TrialMemo): Promise<PreparedFirstPool | null> {
  if (!(config.hardNegatives > 0 && config.poolSize > 0 && config.alpha > 0)) return null;
  const { train, teacherPath } = slices;
  const teacher = await OnnxTeacher.load(teacherPath, { intraOpThreads: slices.teacherThreads });
  try {
    const pool = await mineFirstPool(train, config, 1);
    const key = firstPoolKey(config);
    memo.pools.set(key, pool.labels.slice());
    const temperature = config.teacherCalibration ? teacher.temperature : 1;
    const weights = config.teacherWeights ? await SparseLinearScorer.read(teacherPath, train.features.cols, train.labels.cols) : null;
    const cache = new TeacherScoreCache(train.features.rows);
    await scorePositivesAndPool(calibratedScorer(weights ?? teacher, temperature), cache, train, pool);
    memo.scores.set(temperature, cache);
    return { key, labels: pool.labels, temperature, scores: cache.serialize() };
  } finally {
    await teacher.close();
  }
}

/** Another thread's first pool and scores, taken into `memo` (where it has none of its own). */
export function adoptFirstPool(memo: TrialMemo, prepared: PreparedFirstPool): void {
  if (!memo.pools.has(prepared.key)) memo.pools.set(prepared.key, prepared.labels);
  if (!memo.scores.has(prepared.temperature)) memo.scores.set(prepared.temperature, TeacherScoreCache.deserialize(prepared.scores));
}
