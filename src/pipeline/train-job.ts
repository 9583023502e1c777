import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { chooseEfSearch, EF_CANDIDATES } from '../ann/ef-search.js';
import type { LabelIndex } from '../ann/hnsw-index.js';
import { labelCounts, type Csr } from '../core/data/csr.js';
import { CancelledError, UsageError } from '../core/util/errors.js';
import { oneAtATime } from '../core/util/one-at-a-time.js';
import { threadCount } from '../core/util/threads.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';
import { datasetStats, type Dataset } from '../core/data/dataset.js';
import { loadTrainTest } from '../core/data/load-dataset.js';
import { propensitiesFromCounts, type MetricReport } from '../core/model/metrics.js';
import { Student } from '../core/model/student.js';
import { studentShapeOf, validateTrainConfig, type TrainConfig } from '../core/model/train-config.js';
import { stepScratchFloats, type EpochStats } from '../core/model/trainer.js';
import { trainingThreads, warmTrainingThreads } from '../core/model/hogwild-trainer.js';
import { trainerFor, trainingParameters } from '../core/model/training-setup.js';
import type { KernelMemorySlot } from '../core/simd/kernel-memory.js';
import { FoldedTeacher } from '../teacher/folded-teacher.js';
import { foldsFitData, readFoldsManifest } from '../teacher/folds.js';
import { isBundleDir } from '../teacher/text/text-bundle.js';
import { OnnxTeacher, type CandidateScorer } from '../teacher/onnx-teacher.js';
import type { CheckpointStore } from './checkpoint.js';
import { evaluateStudent, evaluateTeacher, evenlySpacedSubset } from './evaluate.js';
import { datasetBoundProblems, estimateText, TRAIN_DATASET_BOUNDS, trainJobCost } from './job-cost.js';
import { publishModel } from './model-dir.js';
import { silentProgress, StageTimer, type JobStage, type ProgressSink } from './progress.js';
import { PoolTraining } from './pool-training.js';
import { calibratedScorer } from './score.js';
import { TEXT_RUN_WORK, type ChunkWork, type ScoreFanOut } from './score-fan-out.js';
import { TeacherScoreCache } from '../teacher/score-cache.js';
import { SparseLinearScorer } from '../teacher/sparse-linear-scorer.js';
import { weightsScorer } from './weights-scoring.js';
import { initStudentFromTeacher, MIN_ENERGY, teacherStartEnergy } from './teacher-init.js';
import { blendOnHeldOut, blendText, tuneBlend, type BlendChoice } from './blend-tuning.js';
import { chooseBlendByJob, heldOutSlices, pointsOfRows, type HeldOutByJob } from './blend-by-job.js';
import { buildPublishedIndexes, PUBLISHED_INDEX_M } from './neighbours.js';
import type { NeighbourComponent } from './retrieve.js';
import { AUTO_TEACHER_START, autoConfig, autoTune, defaultAutoBudget, extrapolatesByDefault, type AutoFamily, type AutoTuneReport, type TrialOutcome, type TrialRows, type TrialRunner } from './auto-tune.js';
import { newTrialMemo, sliceTexts, TrialPool, type TrialMemo, type TrialSlices } from './trial-pool.js';
import { TEXT_BATCH } from '../teacher/text/text-teacher.js';
import { BoundTextTeacher, loadJobTeacher, readTexts, type JobTeacher, type TextSplit } from './job-teacher.js';

/** Training rows whose queries choose the index's ef. */
const EF_SAMPLE_QUERIES = 1000;

/** Teacher evaluation scores test points × labels pairs; skip it above this many. */
export const TEACHER_EVAL_MAX_PAIRS = 50_000_000;
/** The same for a cross-encoder, which runs the transformer once per pair. */
export const CROSS_ENCODER_EVAL_MAX_PAIRS = 200_000;

export interface TrainJobInput {
  trainPath: string;
  testPath?: string;
  teacherPath?: string;
  outDir?: string;
  config: TrainConfig;
  featurizer?: FeaturizerOptions;
  labelNames?: string[];
  cacheDir?: string | false;
  teacherThreads?: number;
  /**
   * Score training examples with the teacher's cross-fitting fold models when it has them (see
   * teacher/folds.ts). @defaultValue true
   */
  crossFit?: boolean;
  /** Resumable state: saved after mining/scoring and after every epoch, read on start. */
  checkpoints?: CheckpointStore;
  /** Polled at every batch boundary and between stages; true cancels the job (CancelledError). */
  shouldStop?: () => boolean;
  /**
   * Choose the distillation settings on a held-out slice first (auto-tune.ts); `config` supplies
   * the rest. Needs a teacher: without one the job runs `config` as given.
   */
  auto?: {
    budgetSeconds?: number;
    /**
     * Trials run at once, each on a thread of its own and trained on one thread (trial-pool.ts);
     * 1: one at a time in the job's thread, on config.threads; 0: one per core. @defaultValue
     * config.threads; 1 with a text teacher
     */
    trialThreads?: number;
    /** Run every candidate to the end, refinements of beaten candidates too (AutoFamily.refines). @defaultValue false */
    everyCandidate?: boolean;
    /** Choose a simpler candidate within one standard error of the best-scoring one (AutoFamily.simpler). @defaultValue true */
    preferSimpler?: boolean;
    /** Rank the candidates by their P@1 extrapolated from two sizes, the random start's α 1 among them (autoTune's `extrapolate`). @defaultValue extrapolatesByDefault: up to AUTO_EXTRAPOLATE_MAX_ROWS training rows, without a text teacher */
    extrapolate?: boolean;
  };
  /** Already loaded data (the auto search's trials); trainPath/testPath then only name it. */
  data?: LoadedTrainTest;
  /** The texts of `data`'s rows, for a text teacher (the auto search's trials); else read from trainPath/testPath. */
  texts?: { train: readonly string[]; test?: readonly string[] };
  /**
   * Choose the neighbour blend's β and κ on the test split (the auto search's trials, whose test
   * split is the held-out slice) and report it as result.blend.
   */
  tuneBlend?: boolean;
  /** Score the teacher on the test split too. @defaultValue true */
  evaluateTeacher?: boolean;
  /**
   * The settings the user gave explicitly (the CLI's flags): refused with a UsageError when the
   * dataset cannot use them (pipeline/job-cost.ts, e.g. a pool larger than the label count).
   */
  given?: Readonly<Record<string, unknown>>;
  /**
   * Spread the training pairs' scoring over workers (score-fan-out.ts): a worker's jobs get one,
   * the CLI's and the auto search's trials score in-process. Sparse ONNX teachers only: a text
   * teacher scores in-process.
   */
  scoreFanOut?: ScoreFanOut;
  /**
   * Teacher scores of this job's training rows that earlier jobs paid for (the auto search's
   * trials: the same rows, the same fold-0 teacher), by the temperature the scores were divided
   * by; the job adds what it scores. Only for jobs whose scorer and rows are the same.
   */
  sharedScores?: Map<number, TeacherScoreCache>;
  /**
   * A kernel memory the job may reset and train in (the auto search's trials, one at a time per
   * thread): each trial's parameters then land in pages the last one touched (KernelMemorySlot).
   */
  kernelMemory?: KernelMemorySlot;
  /** First pools earlier jobs on these training rows mined (the auto search's trials), by their settings (PoolTrainingInput.firstPools). */
  sharedPools?: Map<string, Int32Array>;
}

type LoadedTrainTest = Awaited<ReturnType<typeof loadTrainTest>>;

export interface TrainJobResult {
  metrics?: MetricReport;
  hnswMetrics?: MetricReport;
  hnswRecallAt10?: number;
  /** The HNSW search list size chosen for the index (hnswRecallTarget). */
  efSearch?: number;
  /** Test points the metrics cover (a subset when points × labels is very large). */
  evaluatedPoints?: number;
  /**
   * Of the evaluating stage, the seconds the test split's metrics took (the student's and the
   * teacher's): what a job without --test does not spend, and what the peers' train seconds leave
   * out (they predict in a separate command).
   */
  testSeconds?: number;
  /** ece: of the raw scores; eceCalibrated: of the scores divided by teacherTemperature. */
  teacherMetrics?: MetricReport & { ece: number; eceCalibrated: number };
  epochs: EpochStats[];
  stageSeconds: Partial<Record<JobStage, number>>;
  pairsScored: number;
  /** Cross-fitting folds used to score the training examples (0 = the teacher itself). */
  teacherFolds: number;
  /** The neighbour blend chosen on the test split (tuneBlend). */
  blend?: BlendChoice;
  /** What the auto search tried and chose (auto jobs with a teacher). */
  auto?: AutoTuneReport;
  /** The configuration the student was trained with (the chosen one for auto jobs). */
  config: TrainConfig;
  /**
   * The calibration temperature the teacher declares (1 when none), when there is a teacher. Its
   * scores were divided by it unless config.teacherCalibration is false.
   */
  teacherTemperature?: number;
  modelDir?: string;
}

/**
 * The teacher's cross-fitting fold models when they were cut from this training data; on other
 * data (the teacher reused on another file of the same labels) a fold model may have seen any
 * row, so the full teacher scores every example instead, and the job log says so.
 */
async function loadFoldsFor(teacherPath: string, labels: Csr, threads: number | undefined, sink: ProgressSink): Promise<FoldedTeacher | null> {
  const manifest = await readFoldsManifest(teacherPath);
  if (!manifest) return null;
  if (!foldsFitData(manifest, labels)) {
    sink.log(`the teacher's ${manifest.folds} cross-fitting fold models were fitted on other training data (${manifest.trainPoints} points, this job has ${labels.rows}): training examples scored by the full teacher`);
    return null;
  }
  return FoldedTeacher.load(teacherPath, manifest, { intraOpThreads: threads });
}

/** The whole job: prepare → (tune) → mine → score → train (re-mining) → evaluate → publish. */
export async function runTrainJob(input: TrainJobInput, sink: ProgressSink = silentProgress): Promise<TrainJobResult> {
  const problems = validateTrainConfig(input.config);
  if (problems.length) throw new UsageError(`invalid training settings: ${problems.join('; ')}`);
  const timer = new StageTimer(sink);

  timer.start('preparing');
  const data = await prepareData(input, sink);
  const { config: cfg, auto, heldOutByJob } = await tuneSettings(input, data, timer, sink);
  const { train } = data;
  // the rows the student trains on: all of them, but the held-out ones of a search that left the blend to the job
  const fit = heldOutByJob?.fit ?? train;
  const numLabels = train.labels.cols;
  const teacher = input.teacherPath ? await openTeacher(input.teacherPath, input, data, sink) : null;
  let folded: FoldedTeacher | null = null;
  try {
    if (teacher && teacher.numLabels !== null && teacher.numLabels < numLabels) {
      throw new UsageError(`the teacher scores ${teacher.numLabels} labels but the training data has ${numLabels}`);
    }
    folded = await openFolds(input, teacher, train.labels, auto !== undefined, sink);
    // an epochs-0 job (--auto's factorisation-alone candidate) trains nothing: no optimizer state
    // (debtags: 139 MB), no threads, no pool. A trained one's start is written where it trains.
    const threads = cfg.epochs > 0 ? trainingThreads(cfg.threads, fit.features.rows, cfg.batchSize) : 1;
    if (threads > 1) sink.log(`training on ${threads} threads sharing the parameters (Hogwild: threads 1 for a reproducible run)`);
    const shape = studentShapeOf(cfg, train.features.cols, numLabels);
    const placed = cfg.epochs > 0 ? trainingParameters(shape, cfg, threads, input.kernelMemory, stepScratchFloats(fit.features, fit.labels, cfg)) : null;
    const student = await initialStudent(input, teacher, placed?.blank ?? Student.zeros(shape), fit, cfg, sink);
    const fromWeights = await scoringFromWeights(input, teacher, folded, cfg, fit, sink);
    const scoring = trainingScores(teacher, folded, cfg, sink, fromWeights ?? spreadScoring(input, teacher, folded));
    const shouldStop = input.shouldStop ?? (() => false);
    const training = placed
      ? new PoolTraining({
          train: fit,
          config: cfg,
          student,
          trainer: trainerFor(student, placed.kernels, fit.features, fit.labels, cfg, threads),
          threads,
          hasTeacher: teacher !== null,
          scorer: scoring.scorer,
          appliedTemperature: scoring.appliedTemperature,
          scoreCache: sharedScoreCache(input.sharedScores, scoring.appliedTemperature, train.features.rows),
          firstPools: input.sharedPools,
          checkpoints: input.checkpoints,
          shouldStop,
          timer,
          sink,
        })
      : null;
    if (!training && shouldStop()) throw new CancelledError('cancelled before evaluating');
    const { epochs, pairsScored } = training ? await training.run() : { epochs: [], pairsScored: 0 };

    timer.start('evaluating');
    const result: TrainJobResult = { epochs, stageSeconds: timer.seconds, pairsScored, teacherFolds: folded?.manifest.folds ?? 0, config: cfg, ...(auto ? { auto } : {}) };
    if (teacher) result.teacherTemperature = teacher.temperature;
    let points: Float32Array | undefined;
    if (heldOutByJob && auto) {
      const t0 = performance.now();
      const blend = await blendOnHeldOut(student, fit, heldOutByJob.heldOut, cfg);
      chooseBlendByJob(blend, auto, result, sink, (performance.now() - t0) / 1000);
      points = pointsOfRows(heldOutByJob, blend.encoded, student.shape);
    }
    const built = await evaluate(input, data, student, result, sink, points);
    // the teacher's weights, when the training pairs were scored from them (not the fold models'), score its test metrics too
    const teacherWeights = fromWeights instanceof SparseLinearScorer ? fromWeights : null;
    if (teacher && data.test && built.propensities) await evaluateTeacherOn(input, data.test, numLabels, teacher, teacherWeights, built.propensities, result, sink);
    if (result.testSeconds !== undefined) sink.log(`test metrics: ${result.testSeconds.toFixed(1)} s of the stage`);
    if (input.outDir) {
      timer.start('publishing');
      result.modelDir = await publish(input.outDir, input, data, student, built, result);
    }
    timer.stop();
    return result;
  } finally {
    await teacher?.close();
    await folded?.close();
  }
}

/** The preparing stage: the data, loaded (or given), and the settings the user gave checked against it. */
async function prepareData(input: TrainJobInput, sink: ProgressSink): Promise<LoadedTrainTest> {
  const data = input.data ?? (await loadTrainTest(input.trainPath, input.testPath, { featurizer: input.featurizer, cacheDir: input.cacheDir }));
  if (input.given) {
    const { train } = data;
    const stats = datasetStats(train);
    const bounds = datasetBoundProblems(stats, input.given, TRAIN_DATASET_BOUNDS, '');
    if (bounds.length) throw new UsageError(bounds.join('; '));
    const autoBudgetSeconds = input.auto && input.teacherPath ? (input.auto.budgetSeconds ?? defaultAutoBudget(stats, input.config, train.features.cols, await isBundleDir(input.teacherPath))) : undefined;
    const cost = trainJobCost({ stats, config: input.config, inputDim: train.features.cols, teacher: input.teacherPath !== undefined, autoBudgetSeconds });
    sink.log(estimateText(cost));
  }
  return data;
}

/**
 * The tuning stage of an auto job with a teacher: trials on a held-out slice choose the settings
 * (auto-tune.ts). Any other job trains with input.config as given.
 */
async function tuneSettings(input: TrainJobInput, { train, labelMap }: LoadedTrainTest, timer: StageTimer, sink: ProgressSink): Promise<{ config: TrainConfig; auto?: AutoTuneReport; heldOutByJob?: HeldOutByJob }> {
  if (!input.auto || !input.teacherPath) return { config: input.config };
  timer.start('tuning');
  const texts = (await isBundleDir(input.teacherPath)) ? await readTexts(input.trainPath) : null;
  const lanes = trialThreads(input, texts !== null);
  // the trials on threads of their own, each trained on one thread; with one lane, in this thread
  const pool = lanes > 1 ? new TrialPool(lanes, { trainPath: input.trainPath, labelMap, teacherThreads: 1 }, texts, input.shouldStop) : null;
  let auto: AutoTuneReport;
  let heldOutByJob: HeldOutByJob | undefined;
  try {
    // the trial threads load their modules while this one cuts the slices and factors the fold-0
    // model (debtags: 0.5 s of loading under 3.5 s); the job's training threads load while the trials run
    const threads = trainingThreads(input.config.threads, train.features.rows, input.config.batchSize);
    // one trial thread mines and scores the trained trials' first pool meanwhile, for all of them
    const onSlices = pool && texts === null
      ? (t: Dataset, h: Dataset, path: string, rows: TrialRows): void => {
          pool.sendSlices(t, h, path, rows);
          pool.prepareFirstPool({ ...input.config, ...AUTO_TEACHER_START.base, ...AUTO_TEACHER_START.candidates[0] });
        }
      : undefined;
    const beforeTrials = async (): Promise<void> => {
      await pool?.ready();
      if (pool && threads > 1) warmTrainingThreads(threads);
    };
    // the job after the search starts from the full teacher's factors (debtags: 3.6 s): made in
    // this thread, which only hands trials out, once none is left to hand out
    const teacherPath = input.teacherPath;
    const afterLastTrial = async (family: AutoFamily): Promise<void> => {
      if (family !== AUTO_TEACHER_START) return;
      const t0 = performance.now();
      await teacherStartEnergy(teacherPath, studentShapeOf({ ...input.config, ...family.base }, train.features.cols, train.labels.cols), input.config.seed);
      sink.log(`auto: the teacher factored for the job once the last trial was handed out (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    };
    const inThread = trialRunner(input, texts, labelMap);
    // a trial that runs alone trains on the job's threads, which the trial threads' work would contend for
    const runAlone: TrialRunner | undefined = pool
      ? async (...args) => {
          await pool.close();
          return inThread(...args);
        }
      : undefined;
    // no trial when the job can choose the blend itself; a text teacher's rows are bound to their texts, so it keeps its trial
    const blendByJob = texts === null
      ? (rows: TrialRows): void => {
          heldOutByJob = heldOutSlices(train, rows.heldOut); // the trial threads got no work: closed below
        }
      : undefined;
    const extrapolate = input.auto.extrapolate ?? extrapolatesByDefault(train.features.rows, texts !== null);
    auto = await autoTune(train, teacherPath, input.config, pool?.runner ?? inThread, { budgetSeconds: input.auto.budgetSeconds, textTeacher: texts !== null, sink, concurrency: lanes, onSlices, beforeTrials, afterLastTrial, runAlone, blendByJob, everyCandidate: input.auto.everyCandidate, preferSimpler: input.auto.preferSimpler, ...(extrapolate ? { extrapolate: { runTrial: trialRunner(input, texts, labelMap), byDefault: input.auto.extrapolate === undefined } } : {}) });
  } finally {
    await pool?.close();
  }
  timer.start('preparing');
  return { config: autoConfig(input.config, auto), auto, ...(heldOutByJob ? { heldOutByJob } : {}) };
}

/**
 * How many auto trials run at once (TrainJobInput.auto.trialThreads). A text teacher's trials run
 * one at a time unless asked: each trial thread would score its first pool through the transformer
 * again, the costliest step of such a search.
 */
function trialThreads(input: TrainJobInput, textTeacher: boolean): number {
  const n = input.auto?.trialThreads ?? (textTeacher ? 1 : input.config.threads);
  if (!(Number.isInteger(n) && n >= 0)) throw new UsageError(`auto trial threads must be an integer >= 0, got ${n}`);
  return threadCount(n);
}

/**
 * One auto trial at a time in this thread: a train job on the trial's slices (trialJobInput).
 * `texts`: the training rows' texts, for a text teacher.
 */
function trialRunner(input: TrainJobInput, texts: readonly string[] | null, labelMap: LoadedTrainTest['labelMap']): TrialRunner {
  // every trial trains on the same rows with the same teacher: a pair is scored once for them all,
  // and a first pool mined once for all the trials whose mining settings are the same. One at a time:
  // each takes the memo's kernel memory (reset), so two lanes calling at once (the extrapolating search's
  // fold-1 trials) would train in the same floats
  const memo = newTrialMemo();
  return oneAtATime(async (config: TrainConfig, train: Dataset, heldOut: Dataset, teacherPath: string, rows: TrialRows, signal?: AbortSignal) => {
    const slices = { trainPath: input.trainPath, teacherPath, train, heldOut, labelMap, teacherThreads: input.teacherThreads, ...sliceTexts(texts, rows) };
    const shouldStop = (): boolean => signal?.aborted === true || input.shouldStop?.() === true;
    return trialOutcome(await runTrainJob(trialJobInput(slices, config, memo, shouldStop)));
  });
}

/** A trial as a train job: no cross-fitting, no teacher evaluation, the neighbour blend tuned. */
export function trialJobInput(slices: TrialSlices, config: TrainConfig, memo: TrialMemo, shouldStop?: () => boolean): TrainJobInput {
  return {
    trainPath: slices.trainPath,
    teacherPath: slices.teacherPath,
    config,
    data: { train: slices.train, test: slices.heldOut, labelMap: slices.labelMap },
    texts: slices.texts,
    crossFit: false,
    evaluateTeacher: false,
    teacherThreads: slices.teacherThreads,
    shouldStop,
    tuneBlend: true,
    sharedScores: memo.scores,
    sharedPools: memo.pools,
    kernelMemory: memo.kernelMemory,
  };
}

/** The search's view of a trial's job: P@1 on the held-out slice through its indexes, and the blend it chose. */
export function trialOutcome(r: TrainJobResult): TrialOutcome {
  const blend = r.blend ? { blend: { neighbourWeight: r.blend.chosen.weight, voteTemperature: r.blend.chosen.voteTemperature } } : {};
  return { p1: r.hnswMetrics?.['p@1'] ?? r.metrics?.['p@1'] ?? 0, stageSeconds: r.stageSeconds, pairsScored: r.pairsScored, ...blend, ...(r.blend?.hits ? { hits: r.blend.hits } : {}) };
}

/** The cache of the scores earlier jobs made in the same units, made and kept when there is none yet. */
function sharedScoreCache(shared: Map<number, TeacherScoreCache> | undefined, appliedTemperature: number, rows: number): TeacherScoreCache | undefined {
  if (!shared) return undefined;
  let cache = shared.get(appliedTemperature);
  if (!cache) shared.set(appliedTemperature, (cache = new TeacherScoreCache(rows)));
  if (cache.numExamples !== rows) throw new RangeError(`a shared score cache of ${cache.numExamples} examples for a job of ${rows}`);
  return cache;
}

/** The job's teacher, bound to the texts of the job's files when it is a text teacher. */
function openTeacher(teacherPath: string, input: TrainJobInput, data: LoadedTrainTest, sink: ProgressSink): Promise<JobTeacher> {
  const splits: TextSplit[] = [input.texts ? { features: data.train.features, texts: input.texts.train } : { features: data.train.features, path: input.trainPath }];
  if (data.test && input.texts?.test) splits.push({ features: data.test.features, texts: input.texts.test });
  else if (data.test && input.testPath) splits.push({ features: data.test.features, path: input.testPath });
  const labelNames = data.labelMap?.kind === 'string' ? data.labelMap.names : undefined;
  return loadJobTeacher(teacherPath, { threads: input.teacherThreads, labelNames, splits, log: (l) => sink.log(l) });
}

/** The cross-fitting fold models that score the training examples, when the job uses them. */
async function openFolds(input: TrainJobInput, teacher: JobTeacher | null, labels: Csr, tuned: boolean, sink: ProgressSink): Promise<FoldedTeacher | null> {
  if (teacher?.family === 'onnx' && input.teacherPath && !tuned && input.crossFit !== false) return loadFoldsFor(input.teacherPath, labels, input.teacherThreads, sink);
  if (teacher && input.crossFit === false) sink.log('cross-fitting off: training examples scored by the teacher itself');
  return null;
}

/**
 * The student before training, written into `blank`: with teacherInit, a rank-d factorisation of
 * a sparse linear teacher's weights; else (or when that does not apply) seeded random draws,
 * which the teacher start skips (debtags: 35 M floats).
 */
async function initialStudent(input: TrainJobInput, teacher: JobTeacher | null, blank: Student, train: Dataset, cfg: TrainConfig, sink: ProgressSink): Promise<Student> {
  if (teacher?.family === 'text' && cfg.teacherInit) sink.log('random student start: a text teacher has no sparse weights to start from');
  if (teacher?.family !== 'onnx' || !input.teacherPath || !cfg.teacherInit) return blank.randomize(cfg.seed);
  const scoreScale = cfg.teacherCalibration ? 1 / teacher.temperature : 1;
  const student = blank;
  const init = await initStudentFromTeacher(student, input.teacherPath, train.features, { seed: cfg.seed, scoreScale });
  const share = init ? `${(100 * init.energy).toFixed(1)} % of their energy` : '';
  if (!init) sink.log('teacher weights not readable (not a sparse linear teacher): random student start');
  else if (init.applied) sink.log(`student initialised from the teacher's weights at rank ${init.rank} (${share})`);
  else sink.log(`random student start: rank ${init.rank} holds only ${share} of the teacher's weights (below ${100 * MIN_ENERGY} %)`);
  return init?.applied ? student : student.randomize(cfg.seed);
}

/**
 * The teacher's training scores feed the distillation term and teacher-weighted sampling only: an
 * α=0 job with a teacher (--auto's random-start family) would score millions of unused pairs.
 */
function usesTeacherScores(cfg: TrainConfig): boolean {
  return cfg.alpha > 0 || cfg.teacherWeightedNegatives;
}

/** teacherWeights: the training pairs scored from a sparse linear teacher's weights (weights-scoring.ts), or null. */
async function scoringFromWeights(input: TrainJobInput, teacher: JobTeacher | null, folded: FoldedTeacher | null, cfg: TrainConfig, train: Dataset, sink: ProgressSink): Promise<CandidateScorer | null> {
  // no epoch, no pair scored (--auto's epochs-0 candidate): nothing to read the weights for
  if (!cfg.teacherWeights || !usesTeacherScores(cfg) || cfg.epochs === 0 || teacher?.family !== 'onnx' || !input.teacherPath) return null;
  const scorer = await weightsScorer(input.teacherPath, folded, train.features.cols, train.labels.cols);
  if (scorer) sink.log(`training pairs scored from the ${folded ? "fold models'" : "teacher's"} weights in this process${input.scoreFanOut ? ', not fanned out' : ''} (--no-teacher-weights: through ONNX Runtime)`);
  return scorer;
}

/**
 * The fold models, or else the teacher, with their calls spread over workers when the job may
 * (input.scoreFanOut); null: score in-process. Each chunk names what scores it: the ONNX file
 * beside the teacher, or the text teacher's bundle folder (workers bind it to the job's training
 * texts and label names as the job does).
 */
function spreadScoring(input: TrainJobInput, teacher: JobTeacher | null, folded: FoldedTeacher | null): CandidateScorer | null {
  const fan = input.scoreFanOut;
  if (!fan || !teacher || !input.teacherPath) return null;
  if (teacher instanceof BoundTextTeacher) {
    // a cross-encoder runs its transformer per pair, the other kinds once per row (a bi-encoder's label embeddings are kept)
    const work: ChunkWork = teacher.teacher.kind === 'cross-encoder' ? { perPair: TEXT_RUN_WORK } : { perRow: TEXT_RUN_WORK };
    return fan.wrap(teacher, basename(input.teacherPath), (b) => b ?? TEXT_BATCH, work);
  }
  if (!(teacher instanceof OnnxTeacher)) return null;
  const workOf = (m: OnnxTeacher): ChunkWork => (m.kind === 'logits' && m.numLabels !== null ? { perRow: m.numLabels } : { perPair: 1 });
  if (folded) return folded.withModels((m, file) => fan.wrap(m, file, (b) => m.effectiveBatchSize(b), workOf(m)));
  return fan.wrap(teacher, basename(input.teacherPath), (b) => teacher.effectiveBatchSize(b), workOf(teacher));
}

/**
 * Who scores the training pairs (the fold models, else the teacher) and what the scores are
 * divided by. One temperature for every training score, the full teacher's: fold models are meant
 * to carry the same one (see FoldedTeacher.temperature). `via`: what their calls go through
 * instead, when anything (their weights, the scoring fan-out).
 */
function trainingScores(teacher: JobTeacher | null, folded: FoldedTeacher | null, cfg: TrainConfig, sink: ProgressSink, via: CandidateScorer | null): { scorer: CandidateScorer | null; appliedTemperature: number } {
  if (folded) sink.log(`training examples scored out of fold by ${folded.manifest.folds} cross-fitting teacher models`);
  const appliedTemperature = teacher && cfg.teacherCalibration ? teacher.temperature : 1;
  if (teacher && teacher.temperature !== 1) {
    sink.log(cfg.teacherCalibration ? `teacher scores divided by its calibration temperature ${teacher.temperature}` : `teacher calibration off: its temperature ${teacher.temperature} is not applied`);
  }
  if (teacher && folded && cfg.teacherCalibration && folded.temperature !== teacher.temperature) {
    sink.log(`the fold models declare temperature ${folded.temperature}, the teacher ${teacher.temperature}: the teacher's is applied to every training score`);
  }
  return { scorer: teacher && usesTeacherScores(cfg) ? calibratedScorer(via ?? folded ?? teacher, appliedTemperature) : null, appliedTemperature };
}

/** What evaluation builds and publishing reuses. */
interface Built {
  /** The label index: built when there is a test split or a model to publish. */
  index: LabelIndex | null;
  neighbours: NeighbourComponent | null;
  /** Training points per label, as float32 (stored so in the model's weights). */
  counts: Float32Array;
  /** Label propensities for PSP@k on the test split (null without one). */
  propensities: Float64Array | null;
}

/**
 * The evaluating stage for the student: the HNSW index and its ef, the neighbour component (its
 * blend tuned on the test split when asked, which updates result.config), metrics on the test split.
 */
async function evaluate(input: TrainJobInput, data: LoadedTrainTest, student: Student, result: TrainJobResult, sink: ProgressSink, points?: Float32Array): Promise<Built> {
  const { test } = data;
  const cfg = result.config;
  if (input.tuneBlend && !input.outDir && test && cfg.neighbours > 0) return evaluateTrial(data, test, student, result, sink);
  // the label index's file while the stage runs, for searches on a second thread
  const scratchDir = await mkdtemp(join(tmpdir(), 'distilxr-evaluating-'));
  try {
    return await evaluateWithIndexes(input, data, student, result, sink, scratchDir, points);
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }
}

async function evaluateWithIndexes(input: TrainJobInput, data: LoadedTrainTest, student: Student, result: TrainJobResult, sink: ProgressSink, scratchDir: string, points?: Float32Array): Promise<Built> {
  const { train, test } = data;
  const cfg = result.config;
  const numLabels = train.labels.cols;
  // The HNSW index serves evaluation and the published model; neither, no index.
  const withNeighbours = cfg.neighbours > 0 && (cfg.neighbourWeight > 0 || input.tuneBlend === true);
  const published = test || input.outDir ? await buildPublishedIndexes(student, train, cfg, { withNeighbours, threads: threadCount(cfg.threads), scratchDir, ...(points ? { points } : {}) }, sink) : null;
  const index = published?.index ?? null;
  if (index) {
    const sample = evenlySpacedSubset(train, EF_SAMPLE_QUERIES).features;
    const choice = await chooseEfSearch(index, student.V, student.encodeAll(sample), sample.rows, cfg.hnswRecallTarget, threadCount(cfg.threads));
    result.efSearch = choice.ef;
    if (choice.tried.length) sink.log(`HNSW ef ${choice.ef}: recall@10 against exact search on ${sample.rows} training queries ${choice.tried.map((t) => `${t.ef} → ${t.recall.toFixed(3)}`).join(', ')}`);
  }
  const counts = Float32Array.from(labelCounts(train.labels));
  const neighbours = published?.neighbours ?? null;
  if (!test) return { index, neighbours, counts, propensities: null };
  const propensities = propensitiesFromCounts(counts, train.features.rows, test.labels.cols);
  if (input.tuneBlend && neighbours && index) {
    result.blend = tuneBlend(student, test, propensities, index, neighbours);
    neighbours.settings = result.blend.chosen;
    result.config = { ...cfg, neighbourWeight: result.blend.chosen.weight, voteTemperature: result.blend.chosen.voteTemperature };
    sink.log(`neighbour blend: ${blendText(result.blend)}`);
  }
  // the blend chosen on the test split (a bench's lever) makes the model; the metrics only measure it
  const t0 = performance.now();
  const ev = await evaluateStudent(student, test, propensities, index ?? undefined, neighbours, threadCount(cfg.threads));
  result.metrics = ev.exact;
  result.hnswMetrics = ev.hnsw;
  result.hnswRecallAt10 = ev.hnswRecallAt10;
  result.evaluatedPoints = ev.evaluatedPoints;
  if (ev.evaluatedPoints < test.features.rows) sink.log(`evaluated on ${ev.evaluatedPoints} of ${test.features.rows} test points (exact search over ${numLabels} labels)`);
  result.testSeconds = (performance.now() - t0) / 1000;
  return { index, neighbours, counts, propensities };
}

/**
 * An auto trial's evaluating stage: the blend tuned and the metrics taken with exact searches
 * (tuneBlendExact), no HNSW index built, since a trial publishes nothing.
 */
async function evaluateTrial(data: LoadedTrainTest, test: Dataset, student: Student, result: TrainJobResult, sink: ProgressSink): Promise<Built> {
  const { choice, metrics, config, counts, propensities } = await blendOnHeldOut(student, data.train, test, result.config);
  result.blend = choice;
  result.config = config;
  result.metrics = metrics;
  result.evaluatedPoints = test.features.rows;
  sink.log(`neighbour blend (exact search, no index): ${blendText(choice)}`);
  return { index: null, neighbours: null, counts, propensities };
}

/** The teacher's metrics and calibration on the test split, unless that is too many pairs to score. */
async function evaluateTeacherOn(input: TrainJobInput, test: Dataset, numLabels: number, teacher: JobTeacher, weights: SparseLinearScorer | null, propensities: Float64Array, result: TrainJobResult, sink: ProgressSink): Promise<void> {
  if (input.evaluateTeacher === false) return;
  const evalPairs = test.features.rows * numLabels;
  const evalCap = teacher instanceof BoundTextTeacher && teacher.teacher.kind === 'cross-encoder' ? CROSS_ENCODER_EVAL_MAX_PAIRS : TEACHER_EVAL_MAX_PAIRS;
  if (evalPairs > evalCap) {
    sink.log(`teacher not evaluated: ${evalPairs} test pairs is above ${evalCap}`);
    return;
  }
  const t0 = performance.now();
  // a teacher `teacher fit` wrote scores every label far faster from its weights than through its
  // graph: the ones the training pairs were scored from, else read here
  const fromWeights = weights ?? (teacher.family === 'onnx' && input.teacherPath ? await SparseLinearScorer.read(input.teacherPath, test.features.cols, numLabels) : null);
  const te = await evaluateTeacher(fromWeights ?? teacher, test, numLabels, propensities, teacher.temperature);
  const seconds = (performance.now() - t0) / 1000;
  result.testSeconds = (result.testSeconds ?? 0) + seconds;
  sink.log(`teacher evaluated on ${test.features.rows} test points × ${numLabels} labels in ${seconds.toFixed(1)} s${fromWeights ? ' (from its weights)' : ''}`);
  result.teacherMetrics = { ...te.metrics, ece: te.ece, eceCalibrated: te.calibratedEce };
}

/** The publishing stage: the model folder (weights, label index, neighbour index, student.onnx, config). */
function publish(dir: string, input: TrainJobInput, data: LoadedTrainTest, student: Student, built: Built, result: TrainJobResult): Promise<string> {
  const { train } = data;
  if (!built.index) throw new Error('publish: the label index is built whenever outDir is set');
  return publishModel({
    dir,
    student,
    index: built.index,
    labelNames: input.labelNames ?? data.labelMap?.names ?? train.labelNames,
    featurizer: data.featurizer,
    labelMap: data.labelMap,
    labelCounts: built.counts,
    trainPoints: train.features.rows,
    neighbours: built.neighbours,
    config: {
      numFeatures: train.features.cols,
      train: result.config,
      hnsw: { M: PUBLISHED_INDEX_M, efConstruction: result.config.labelIndexEfConstruction, efSearch: result.efSearch ?? EF_CANDIDATES[0] },
      input: data.featurizer ? 'text' : 'features',
      metrics: result.metrics,
      hnswMetrics: result.hnswMetrics,
      teacherMetrics: result.teacherMetrics,
    },
  });
}
