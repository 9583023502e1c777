/**
 * What a job will cost, estimated before it is queued from the dataset's stats and the job's
 * settings: peak memory (parameters, optimizer state, pools, buffers), checkpoint size and run
 * time. The HTTP service refuses a job over the configured limits (413) and settings that the
 * dataset cannot use (400); the CLI runs the same checks once it has loaded the data.
 *
 * The figures are estimates of the arrays the pipeline allocates (see core/model/trainer.ts,
 * core/model/optimizer.ts, pipeline/mine.ts, pipeline/score.ts, pipeline/checkpoint.ts); run times use
 * rates measured on the 2-core reference machine, so a faster machine finishes sooner.
 */
import type { DatasetStats } from '../core/data/dataset.js';
import { DistilxrError, UsageError } from '../core/util/errors.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';
import type { TrainConfig } from '../core/model/train-config.js';
import { BLOCK_SCORES } from '../ann/dense-search.js';
import { shortlistSize } from '../teacher/linear-teacher.js';
import { CENTROID_PROJECTION_DIM, EXACT_MINING_MAX_MACS, MINING_HNSW } from './mine.js';
import type { TeacherFitConfig } from './teacher-fit-config.js';

const MiB = 1 << 20;

export interface JobLimits {
  /** Estimated peak memory of one job, bytes (JOB_MAX_MEMORY_MB). */
  maxMemoryBytes: number;
  /** Estimated run time of one job, seconds (JOB_MAX_SECONDS). */
  maxSeconds: number;
}

/** Fits a 2-core 24 GB machine: two worker processes of one job each plus the API stay under ~20 GB. */

/**
 * Training: (candidates + features of an example) × d multiply-adds per second, one thread, with
 * the SIMD kernels. Measured on apt-files' --auto trials (158,507 rows, d 256; their stages in
 * bench/results/auto-jobs-s36-apt-files-before.log): 2.9e8 at α=0 (80.7 s for 10 epochs), 3.1e8 at
 * α 0.5 (149.9 s for 20); Bibtex before the SIMD kernels: 0.9–1.2e8.
 */
const TRAIN_UNITS_PER_SECOND = 2.8e8;
/**
 * Teacher scoring of the pools' pairs, one intra-op thread: apt-files' α 0.5 trial scored its 4 pools
 * (41 M pairs as counted below) of a 57,764-label sparse teacher in 97.7 s (4.2e5/s, the same log); a
 * hidden-layer teacher on ONNX Runtime does ≈1.6 M/s (STACK.md). The slower rate is the one to plan with.
 */
const SCORED_PAIRS_PER_SECOND = 4.2e5;
/** hnswlib, efConstruction 200: 100k labels × 64 dims in ≈22 s. */
const HNSW_BUILD_SECONDS_PER_LABEL_DIM = 22 / (1e5 * 64);
/** hnswlib search at ef 100, 64 dims: ≈3.8k queries/s. */
const HNSW_QUERY_SECONDS = 1 / 3800;
/**
 * Exact mining on ONNX Runtime, points × labels × dim multiply-adds per second, one thread, whole
 * passes: apt-files re-mining per point, 3.5·10^12 (BENCHMARKS.md 2c: int8 18.8 s, float 45.2 s on 2
 * threads). Re-mining per label set (the default) asks fewer queries than points: apt-files' --auto
 * trials mined 2 and 4 passes of 2.35·10^12 in 22.9 and 28.9 s on one thread (2.1–3.3e11, the same log).
 */
const EXACT_MINING_MACS_PER_SECOND = { int8: 2e11, float32: 8e10 };
/**
 * The neighbour component's points index (USearch, point-index.ts), one thread: apt-files' default job
 * at d 128 added its 237,888 points in 33.8 s on two threads while the label index was built beside
 * it on one of them (bench/results/auto-jobs-s36-apt-files-d128.log): ≈1.6e-6 counting 1.5 threads.
 */
const POINT_INDEX_SECONDS_PER_POINT_DIM = 1.6e-6;
/**
 * Teacher fit: rows × labels × features per row × passes per second, one solver thread, every
 * pass counted (the solver usually stops sooner). Measured: Bibtex 2.7e8, Delicious 1.9e8.
 */
const TEACHER_FIT_UNITS_PER_SECOND = 2e8;

/** One term of an estimate, and the settings that make it grow (for the refusal message). */
export interface CostPart {
  what: string;
  bytes: number;
  seconds: number;
  params: string[];
}

export interface JobCost {
  memoryBytes: number;
  checkpointBytes: number;
  seconds: number;
  parts: CostPart[];
}

/** A job over a configured limit: HTTP 413 (service/errors.ts maps the code). */
export class JobLimitError extends DistilxrError {
  constructor(message: string) {
    super(message, 'JOB_LIMIT');
  }
}

/** The input dimension a job trains on: the dataset's, or the bound its own featurizer settings allow. */
export function inputDimOf(stats: DatasetStats, featurizer?: FeaturizerOptions): number {
  if (!featurizer) return stats.features;
  const maxFeatures = featurizer.maxFeatures ?? 1 << 18;
  const hashed = 2 ** (featurizer.hashBits ?? Math.max(1, Math.ceil(Math.log2(maxFeatures))));
  if (featurizer.hashing === 'always') return hashed;
  return featurizer.hashing ? Math.max(maxFeatures, hashed) : maxFeatures;
}

/** Training rows, features and labels in memory (CSR: int32 ids, float32 values, row offsets). */
function datasetBytes(s: DatasetStats): number {
  return s.points * (s.nnzPerPoint * 8 + s.labelsPerPoint * 4 + 8);
}

const sum = (parts: CostPart[], key: 'bytes' | 'seconds'): number => parts.reduce((a, p) => a + p[key], 0);

export interface TrainCostInput {
  stats: DatasetStats;
  config: TrainConfig;
  inputDim: number;
  teacher: boolean;
  /** The auto search's budget, when the job runs one. */
  autoBudgetSeconds?: number;
}

/** The name of the --auto search's part of a job's cost. */
const AUTO_SEARCH_PART = 'the auto search';

export function trainJobCost({ stats, config: c, inputDim, teacher, autoBudgetSeconds }: TrainCostInput): JobCost {
  const N = stats.points;
  const L = stats.labels;
  const d = c.dim + (c.labelBias ? 1 : 0);
  const usePool = c.hardNegatives > 0 && c.poolSize > 0 && c.epochs > 0;
  const K = usePool ? c.poolSize : 0;
  const pools = usePool ? 1 + (c.remineEvery > 0 ? Math.floor((c.epochs - 1) / c.remineEvery) : 0) : 0;
  // W1 [D, d] and V [L, d], each with an Adagrad accumulator of the same shape (row-wise: one per row)
  const model = (inputDim + L) * (d + (c.rowwiseAdagrad ? 1 : d)) * 4;
  const cachedPerExample = teacher ? Math.min(L, K * pools + stats.labelsPerPoint) : 0;
  const cache = N * cachedPerExample * 8; // label id + score per cached pair
  const pool = N * K * (teacher ? 8 : 4); // [N, K] label ids (+ teacher scores)
  const checkpoint = model + pool + cache + N * 4;
  const candidates = stats.labelsPerPoint + c.hardNegatives + c.randomNegatives + c.inBatchNegatives;
  const mineDim = Math.max(CENTROID_PROJECTION_DIM, d);
  const ef = Math.min(L, Math.max(100, K)); // a search never visits more than the L labels
  const negatives = ['hardNegatives', 'randomNegatives', 'inBatchNegatives'];
  const parts: CostPart[] = [
    { what: 'the training data', bytes: datasetBytes(stats), seconds: 0, params: [] },
    { what: 'the student and its optimizer state', bytes: model, seconds: 0, params: ['dim'] },
    { what: 'the checkpoint written after each epoch', bytes: checkpoint, seconds: 0, params: ['poolSize', 'dim'] },
    // mined pool, plus the search results and (with a teacher) the candidate rows and scores while scoring
    { what: 'the candidate pool', bytes: pool + N * K * (teacher ? 8 : 4), seconds: 0, params: ['poolSize'] },
    { what: "the teacher's score cache", bytes: cache, seconds: 0, params: ['poolSize', 'remineEvery'] },
    miningPart(N, L, mineDim, ef, pools, c.int8Mining),
    { what: 'the per-example candidate buffers', bytes: (candidates + 1) * 22 + L * 5, seconds: 0, params: negatives },
    { what: 'training', bytes: 0, seconds: (c.epochs * N * (candidates + stats.nnzPerPoint) * d) / TRAIN_UNITS_PER_SECOND, params: ['epochs', 'dim', ...negatives] },
    { what: 'teacher scoring', bytes: 0, seconds: teacher ? (pools * N * (K + stats.labelsPerPoint)) / SCORED_PAIRS_PER_SECOND : 0, params: ['poolSize', 'remineEvery'] },
    {
      // the training points' embeddings and their HNSW graph (published with the model)
      what: 'the neighbour index',
      bytes: c.neighbours > 0 ? N * (d * 4 * 2 + 2 * 16 * 4) : 0,
      seconds: c.neighbours > 0 ? N * d * POINT_INDEX_SECONDS_PER_POINT_DIM : 0,
      params: ['neighbours', 'dim'],
    },
    { what: AUTO_SEARCH_PART, bytes: 0, seconds: autoBudgetSeconds ?? 0, params: ['autoBudgetSeconds'] },
  ];
  return { memoryBytes: sum(parts, 'bytes'), checkpointBytes: checkpoint, seconds: sum(parts, 'seconds'), parts };
}

export interface TeacherFitCostInput {
  stats: DatasetStats;
  config: TeacherFitConfig;
  inputDim: number;
}

/**
 * The solver's buffers and passes. The fitted weights are left out: they are thresholded and
 * sparse, and how sparse cannot be told from the dataset's stats.
 */
export function teacherFitCost({ stats, config: c, inputDim }: TeacherFitCostInput): JobCost {
  const N = stats.points;
  const L = stats.labels;
  const K = shortlistSize(c, L).k; // the automatic choice without its held-out measurement: the larger one
  const labelsPerRow = K > 0 ? Math.min(L, K + stats.labelsPerPoint) : L;
  // each of F fold models sees (F-1)/F of the rows; the full teacher sees them all
  const modelRows = c.folds >= 2 ? (c.folds - 1) * N + (c.fullTeacher ? N : 0) : N;
  const calibration = Math.min(N, c.calibrationRows);
  const parts: CostPart[] = [
    { what: 'the training data', bytes: datasetBytes(stats), seconds: 0, params: [] },
    { what: 'the shortlists and per-label row lists', bytes: K > 0 ? N * labelsPerRow * 8 + inputDim * 8 : 0, seconds: 0, params: ['shortlist', 'fullMaxLabels'] },
    { what: 'the calibration scores', bytes: calibration * labelsPerRow * 8, seconds: 0, params: ['calibrationRows', 'shortlist', 'fullMaxLabels'] },
    {
      what: 'the one-vs-rest solver',
      bytes: 0,
      seconds: (modelRows * labelsPerRow * Math.max(1, stats.nnzPerPoint) * c.maxPasses) / TEACHER_FIT_UNITS_PER_SECOND,
      params: ['maxPasses', 'folds', 'shortlist', 'fullMaxLabels'],
    },
  ];
  return { memoryBytes: sum(parts, 'bytes'), checkpointBytes: 0, seconds: sum(parts, 'seconds'), parts };
}

/** Settings the dataset bounds, checked where the request gave them (defaults adapt to small datasets). */
export function datasetBoundProblems(
  stats: DatasetStats,
  given: Readonly<Record<string, unknown>>,
  bounds: Readonly<Record<string, 'labels' | 'points'>>,
  prefix = 'params.',
): string[] {
  const problems: string[] = [];
  for (const [name, by] of Object.entries(bounds)) {
    const v = given[name];
    if (typeof v === 'number' && v > stats[by]) problems.push(`${prefix}${name} (${v}) is more than the dataset's ${stats[by]} ${by}`);
  }
  return problems;
}

export const TRAIN_DATASET_BOUNDS = { hardNegatives: 'labels', randomNegatives: 'labels', inBatchNegatives: 'labels', poolSize: 'labels', batchSize: 'points' } as const;
export const TEACHER_FIT_DATASET_BOUNDS = { shortlist: 'labels', calibrationRows: 'points' } as const;

/**
 * Throws UsageError (400) for settings the dataset cannot use, then JobLimitError (413) when the
 * estimate is over a limit; the message names the limit and the settings behind the largest part.
 */
export function checkJobCost(cost: JobCost, limits: JobLimits, given: Readonly<Record<string, unknown>>, boundProblems: string[]): void {
  if (boundProblems.length) throw new UsageError(boundProblems.join('; '));
  if (cost.memoryBytes > limits.maxMemoryBytes) {
    throw new JobLimitError(
      `estimated peak memory ${formatBytes(cost.memoryBytes)} is over the JOB_MAX_MEMORY_MB limit of ${Math.floor(limits.maxMemoryBytes / MiB)} MiB; ${largest(cost.parts, 'bytes', given)}`,
    );
  }
  if (cost.seconds > limits.maxSeconds) {
    throw new JobLimitError(`estimated run time ${formatSeconds(cost.seconds)} is over the JOB_MAX_SECONDS limit of ${limits.maxSeconds} s; ${largest(cost.parts, 'seconds', given)}`);
  }
}

function largest(parts: CostPart[], key: 'bytes' | 'seconds', given: Readonly<Record<string, unknown>>): string {
  const top = parts.reduce((a, b) => (b[key] > a[key] ? b : a));
  const amount = key === 'bytes' ? formatBytes(top.bytes) : formatSeconds(top.seconds);
  // the settings the request gave are the ones to lower; the defaults when it gave none of them
  const givenParams = top.params.filter((p) => given[p] !== undefined);
  const named = givenParams.length ? givenParams.map((p) => `params.${p} (${String(given[p])})`) : top.params.map((p) => `params.${p}`);
  return `the largest part is ${top.what} (${amount})${named.length ? `: lower ${named.join(' or ')}` : ''}`;
}

/**
 * The job's estimate as its log states it. The --auto search's part is its budget, a limit the small sets' searches
 * stay far under (Bibtex: 3.6 s of a 60 s budget), so the line says how much of the run time it is.
 */
export function estimateText(cost: JobCost): string {
  const search = cost.parts.find((p) => p.what === AUTO_SEARCH_PART)?.seconds ?? 0;
  const ofIt = search > 0 ? ` (${formatSeconds(search)} of it the --auto search's budget, which it may end well within)` : '';
  return `estimated peak memory ${formatBytes(cost.memoryBytes)}, checkpoint ${formatBytes(cost.checkpointBytes)}, run time ${formatSeconds(cost.seconds)} on the reference machine${ofIt}`;
}

export function formatBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : `${Math.ceil(n / MiB)} MiB`;
}

export function formatSeconds(s: number): string {
  if (s >= 2 * 86400) return `${(s / 86400).toFixed(1)} days`;
  if (s >= 2 * 3600) return `${(s / 3600).toFixed(1)} hours`;
  return `${Math.ceil(s)} s`;
}

/**
 * Mining as mine.ts does it: exact search up to EXACT_MINING_MAX_MACS a pass (every point a query:
 * re-mining per label set asks fewer, which the stats do not tell), an HNSW index above.
 */
function miningPart(N: number, L: number, mineDim: number, ef: number, pools: number, int8: boolean): CostPart {
  const params = ['dim', 'poolSize', 'remineEvery'];
  if (pools === 0) return { what: 'mining', bytes: 0, seconds: 0, params };
  const macs = N * L * mineDim;
  if (macs <= EXACT_MINING_MAX_MACS) {
    const rate = EXACT_MINING_MACS_PER_SECOND[int8 ? 'int8' : 'float32'];
    // the queries, the labels, and a block of scores twice (the product and ONNX Runtime's TopK input)
    const bytes = (N + L) * mineDim * 4 + 2 * Math.min(N * L, BLOCK_SCORES) * 4;
    return { what: 'mining (exact search)', bytes, seconds: (pools * macs) / rate, params };
  }
  return {
    what: 'mining (the HNSW mining index)',
    bytes: L * (mineDim * 4 + 2 * MINING_HNSW.M * 4) + N * mineDim * 4,
    seconds: pools * (L * mineDim * HNSW_BUILD_SECONDS_PER_LABEL_DIM + N * HNSW_QUERY_SECONDS * (ef / 100) * (mineDim / 64)),
    params,
  };
}
