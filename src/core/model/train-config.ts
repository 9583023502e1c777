import type { StudentShape } from './student.js';

/** Every switch of the student's training, with its default. The CLI flags mirror this. */
export interface TrainConfig {
  /** Embedding size d. @defaultValue 64 */
  dim: number;
  /** Score temperature τ in s = q·v/τ. @defaultValue 1 */
  tau: number;
  /** Passes over the training data. @defaultValue 20 */
  epochs: number;
  /** Adagrad learning rate. @defaultValue 0.1 */
  lr: number;
  /** Weight of the distillation term; 0 = plain negative sampling, 1 = pure distillation. @defaultValue 0.5 */
  alpha: number;
  /** Distillation temperature T. @defaultValue 1 */
  temperature: number;
  /** Hard negatives sampled per example from its mined pool; 0 = uniform negatives only. @defaultValue 16 */
  hardNegatives: number;
  /** Uniform random negatives per example (log-q corrected). @defaultValue 16 */
  randomNegatives: number;
  /** Positives of other examples in the batch used as negatives (log-q corrected). @defaultValue 8 */
  inBatchNegatives: number;
  /** Examples per batch (the pool in-batch negatives are drawn from). @defaultValue 64 */
  batchSize: number;
  /** Size K of each example's mined candidate pool. @defaultValue 64 */
  poolSize: number;
  /** Re-mine the pool with the student's own embeddings every R epochs; 0 = never. @defaultValue 5 */
  remineEvery: number;
  /**
   * The published HNSW index searches with the smallest ef whose recall@10 against exact search
   * reaches this on a sample of training queries (src/ann/ef-search.ts); 0 = ef 100 untested.
   * @defaultValue 0.95
   */
  hnswRecallTarget: number;
  /** Sample hard negatives with probability ∝ exp(teacher/T) instead of uniformly from the pool. @defaultValue false */
  teacherWeightedNegatives: boolean;
  /** Seed of every random draw (init, order, negatives, projections, HNSW). @defaultValue 1 */
  seed: number;
  /**
   * Divide the teacher's scores by the calibration temperature its ONNX metadata declares
   * (`distilxr.temperature`; 1 when absent) before distilling, so p^t_T = softmax(s / (T_cal·T)).
   * @defaultValue true
   */
  teacherCalibration: boolean;
  /**
   * Start the student from a rank-d factorisation of the teacher's weights (W ≈ V·W1ᵀ) when the
   * teacher is a sparse linear model `teacher fit` wrote; random start otherwise. @defaultValue true
   */
  teacherInit: boolean;
  /** A learnt bias per label, s = (q̂·v̂ + b)/τ, kept as one more coordinate of q and V. @defaultValue true */
  labelBias: boolean;
  /**
   * K: training points whose labels vote at query time (src/ann/neighbour-blend.ts), found in an
   * HNSW index over their embeddings published with the model; 0 = no neighbour component. @defaultValue 50
   */
  neighbours: number;
  /** β: weight of the neighbours' vote against the student's softmax; 0 = the student alone. @defaultValue 0.5 */
  neighbourWeight: number;
  /** κ: temperature of the vote's weights exp(cos/κ). @defaultValue 0.1 */
  voteTemperature: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  dim: 64,
  tau: 1,
  epochs: 20,
  lr: 0.1,
  alpha: 0.5,
  temperature: 1,
  hardNegatives: 16,
  randomNegatives: 16,
  inBatchNegatives: 8,
  batchSize: 64,
  poolSize: 64,
  remineEvery: 5,
  hnswRecallTarget: 0.95,
  teacherWeightedNegatives: false,
  seed: 1,
  teacherCalibration: true,
  teacherInit: true,
  labelBias: true,
  neighbours: 50,
  neighbourWeight: 0.5,
  voteTemperature: 0.1,
};

/** Range checks with messages that name the field; returns the list of problems. */
export function validateTrainConfig(c: TrainConfig): string[] {
  const problems: string[] = [];
  const intAtLeast = (name: keyof TrainConfig, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = c[name] as number;
    if (!Number.isInteger(v) || v < min || v > max) problems.push(`${name} must be an integer in [${min}, ${max}], got ${v}`);
  };
  const realIn = (name: keyof TrainConfig, lo: number, hi: number, openLo = false): void => {
    const v = c[name] as number;
    if (!Number.isFinite(v) || v > hi || v < lo || (openLo && v === lo)) problems.push(`${name} must be in ${openLo ? '(' : '['}${lo}, ${hi}], got ${v}`);
  };
  intAtLeast('dim', 1, 4096);
  realIn('tau', 0, 100, true);
  intAtLeast('epochs', 0, 100000);
  realIn('lr', 0, 100, true);
  realIn('alpha', 0, 1);
  realIn('temperature', 0, 1000, true);
  intAtLeast('hardNegatives', 0, 100000);
  intAtLeast('randomNegatives', 0, 100000);
  intAtLeast('inBatchNegatives', 0, 100000);
  intAtLeast('batchSize', 1, 1000000);
  intAtLeast('poolSize', 0, 100000);
  intAtLeast('remineEvery', 0, 100000);
  realIn('hnswRecallTarget', 0, 1);
  intAtLeast('seed', 0, 2 ** 31 - 1);
  intAtLeast('neighbours', 0, 1000);
  realIn('neighbourWeight', 0, 1);
  realIn('voteTemperature', 0, 100, true);
  for (const flag of ['teacherCalibration', 'teacherInit', 'labelBias'] as const) {
    if (typeof c[flag] !== 'boolean') problems.push(`${flag} must be true or false, got ${JSON.stringify(c[flag])}`);
  }
  if (c.hardNegatives > c.poolSize) problems.push(`hardNegatives (${c.hardNegatives}) cannot exceed poolSize (${c.poolSize})`);
  return problems;
}

/** The student a configuration trains: d learnt coordinates, plus the bias slot when on. */
export function studentShapeOf(c: TrainConfig, inputDim: number, numLabels: number): StudentShape {
  return { inputDim, dim: c.dim + (c.labelBias ? 1 : 0), numLabels, tau: c.tau, labelBias: c.labelBias };
}
