import { chooseEfSearch, EF_CANDIDATES } from '../ann/ef-search.js';
import { LabelIndex } from '../ann/hnsw-index.js';
import { labelCounts, type Csr } from '../core/data/csr.js';
import { CancelledError, UsageError } from '../core/util/errors.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';
import { datasetStats } from '../core/data/dataset.js';
import { loadTrainTest } from '../core/data/load-dataset.js';
import { propensitiesFromCounts, type MetricReport } from '../core/model/metrics.js';
import { Student } from '../core/model/student.js';
import { studentShapeOf, validateTrainConfig, type TrainConfig } from '../core/model/train-config.js';
import { StudentTrainer, type EpochStats, type NegativePool } from '../core/model/trainer.js';
import { FoldedTeacher } from '../teacher/folded-teacher.js';
import { foldsFitData, readFoldsManifest } from '../teacher/folds.js';
import { isBundleDir } from '../teacher/text/text-bundle.js';
import { TeacherScoreCache } from '../teacher/score-cache.js';
import { encodeTrainState, restoreTrainState, type CheckpointStore, type TrainState } from './checkpoint.js';
import { evaluateStudent, evaluateTeacher, evenlySpacedSubset } from './evaluate.js';
import { datasetBoundProblems, formatBytes, formatSeconds, TRAIN_DATASET_BOUNDS, trainJobCost } from './job-cost.js';
import { mineFromCentroids, mineFromStudent } from './mine.js';
import { publishModel } from './model-dir.js';
import { silentProgress, StageTimer, type JobStage, type ProgressSink } from './progress.js';
import { calibratedScorer, scorePositivesAndPool } from './score.js';
import { initStudentFromTeacher, MIN_ENERGY } from './teacher-init.js';
import { tuneBlend, type BlendChoice } from './blend-tuning.js';
import { buildNeighbours } from './neighbours.js';
import { autoConfig, autoTune, type AutoTuneReport, type TrialRunner } from './auto-tune.js';
import { BoundTextTeacher, loadJobTeacher, type TextSplit } from './job-teacher.js';

/** efConstruction 100: half the build of 200, recall@10 −0.002 (bench/hnsw-build.ts, 10^5 labels). */
export const HNSW_DEFAULTS = { M: 16, efConstruction: 100, efSearch: EF_CANDIDATES[0] };
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
  auto?: { budgetSeconds?: number };
  /** Already loaded data (the auto search's trials); trainPath/testPath then only name it. */
  data?: LoadedTrainTest;
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

/** The whole job: prepare → mine → score → train (re-mining) → evaluate → publish. */
export async function runTrainJob(input: TrainJobInput, sink: ProgressSink = silentProgress): Promise<TrainJobResult> {
  let cfg = input.config;
  const problems = validateTrainConfig(cfg);
  if (problems.length) throw new UsageError(`invalid training settings: ${problems.join('; ')}`);
  const timer = new StageTimer(sink);

  timer.start('preparing');
  const data = input.data ?? (await loadTrainTest(input.trainPath, input.testPath, { featurizer: input.featurizer, cacheDir: input.cacheDir }));
  const train = data.train;
  if (input.given) {
    const stats = datasetStats(train);
    const bounds = datasetBoundProblems(stats, input.given, TRAIN_DATASET_BOUNDS, '');
    if (bounds.length) throw new UsageError(bounds.join('; '));
    const cost = trainJobCost({ stats, config: cfg, inputDim: train.features.cols, teacher: input.teacherPath !== undefined, autoBudgetSeconds: input.auto?.budgetSeconds });
    sink.log(`estimated peak memory ${formatBytes(cost.memoryBytes)}, checkpoint ${formatBytes(cost.checkpointBytes)}, run time ${formatSeconds(cost.seconds)} on the reference machine`);
  }
  let auto: AutoTuneReport | undefined;
  const textTeacher = input.teacherPath !== undefined && (await isBundleDir(input.teacherPath));
  if (input.auto && textTeacher) sink.log('--auto needs a sparse ONNX teacher (its trials train on slices of the data): the settings given are used');
  if (input.auto && input.teacherPath && !textTeacher) {
    timer.start('tuning');
    const runTrial: TrialRunner = async (config, trialTrain, heldOut, teacherPath) => {
      const r = await runTrainJob({ trainPath: input.trainPath, teacherPath, config, data: { train: trialTrain, test: heldOut }, crossFit: false, evaluateTeacher: false, teacherThreads: input.teacherThreads, shouldStop: input.shouldStop, tuneBlend: true });
      return { p1: r.hnswMetrics?.['p@1'] ?? r.metrics?.['p@1'] ?? 0, ...(r.blend ? { blend: { neighbourWeight: r.blend.chosen.weight, voteTemperature: r.blend.chosen.voteTemperature } } : {}) };
    };
    auto = await autoTune(train, input.teacherPath, cfg, runTrial, { budgetSeconds: input.auto.budgetSeconds, sink });
    cfg = autoConfig(cfg, auto);
    timer.start('preparing');
  }
  const numLabels = train.labels.cols;
  const student = Student.init(studentShapeOf(cfg, train.features.cols, numLabels), cfg.seed);
  const trainer = new StudentTrainer(student, train.features, train.labels, cfg);
  const splits: TextSplit[] = [{ features: train.features, path: input.trainPath }];
  if (data.test && input.testPath) splits.push({ features: data.test.features, path: input.testPath });
  const labelNames = data.labelMap?.kind === 'string' ? data.labelMap.names : undefined;
  const teacher = input.teacherPath ? await loadJobTeacher(input.teacherPath, { threads: input.teacherThreads, labelNames, splits, log: (l) => sink.log(l) }) : null;
  let folded: FoldedTeacher | null = null;
  try {
    if (teacher && teacher.numLabels !== null && teacher.numLabels < numLabels) {
      throw new UsageError(`the teacher scores ${teacher.numLabels} labels but the training data has ${numLabels}`);
    }
    if (teacher?.family === 'onnx' && input.teacherPath && !auto && input.crossFit !== false) folded = await loadFoldsFor(input.teacherPath, train.labels, input.teacherThreads, sink);
    else if (teacher && input.crossFit === false) sink.log('cross-fitting off: training examples scored by the teacher itself');
    if (teacher?.family === 'text' && cfg.teacherInit) sink.log('random student start: a text teacher has no sparse weights to start from');
    if (teacher?.family === 'onnx' && input.teacherPath && cfg.teacherInit) {
      const scoreScale = cfg.teacherCalibration ? 1 / teacher.temperature : 1;
      const init = await initStudentFromTeacher(student, input.teacherPath, train.features, { seed: cfg.seed, scoreScale });
      const share = init ? `${(100 * init.energy).toFixed(1)} % of their energy` : '';
      if (!init) sink.log('teacher weights not readable (not a sparse linear teacher): random student start');
      else if (init.applied) sink.log(`student initialised from the teacher's weights at rank ${init.rank} (${share})`);
      else sink.log(`random student start: rank ${init.rank} holds only ${share} of the teacher's weights (below ${100 * MIN_ENERGY} %)`);
    }
    if (folded) sink.log(`training examples scored out of fold by ${folded.manifest.folds} cross-fitting teacher models`);
    // One temperature for every training score, the full teacher's: fold models are meant to
    // carry the same one (see FoldedTeacher.temperature).
    const appliedTemperature = teacher && cfg.teacherCalibration ? teacher.temperature : 1;
    if (teacher && teacher.temperature !== 1) {
      sink.log(cfg.teacherCalibration ? `teacher scores divided by its calibration temperature ${teacher.temperature}` : `teacher calibration off: its temperature ${teacher.temperature} is not applied`);
    }
    if (folded && cfg.teacherCalibration && folded.temperature !== teacher!.temperature) {
      sink.log(`the fold models declare temperature ${folded.temperature}, the teacher ${teacher!.temperature}: the teacher's is applied to every training score`);
    }
    // the teacher's training scores feed the distillation term and teacher-weighted sampling only:
    // an α=0 job with a teacher (--auto's random-start family) would score millions of unused pairs
    const usesScores = cfg.alpha > 0 || cfg.teacherWeightedNegatives;
    const trainingScorer = teacher && usesScores ? calibratedScorer(folded ?? teacher, appliedTemperature) : null;
    const usePool = cfg.hardNegatives > 0 && cfg.poolSize > 0;
    const shouldStop = input.shouldStop ?? (() => false);
    const state: TrainState = { config: cfg, epochs: [], pairsScored: 0, poolMinedForEpoch: 1, pool: null, poolScored: false, positiveScores: null, cache: teacher ? new TeacherScoreCache(train.features.rows) : null, appliedTemperature };
    const checkpoint = async (): Promise<void> => {
      if (input.checkpoints) await input.checkpoints.save(encodeTrainState(state, student, trainer));
    };
    const stopIfAsked = (): void => {
      if (shouldStop()) throw new CancelledError(`cancelled after epoch ${state.epochs.length}`);
    };

    /** The scoring stage: teacher scores for the positives and the current pool, when there is a teacher. */
    const scorePool = async (): Promise<void> => {
      const { cache } = state;
      if (trainingScorer && cache && (state.pool || cfg.alpha > 0)) {
        timer.start('scoring');
        const scored = await scorePositivesAndPool(trainingScorer, cache, train, state.pool, { onProgress: (d, t) => sink.progress(d, t) });
        state.pairsScored += scored.newlyScored;
        state.positiveScores = scored.positiveScores;
        sink.log(`teacher scored ${scored.newlyScored} new pairs (${cache.size} cached)`);
      }
      state.poolScored = true;
    };
    /**
     * A new pool, checkpointed once mined and again once scored: a job killed while the teacher
     * scores resumes from the mined pool instead of mining it again.
     */
    const refreshPool = async (pool: NegativePool | null, minedForEpoch: number): Promise<void> => {
      state.pool = pool;
      state.poolMinedForEpoch = minedForEpoch;
      state.poolScored = false;
      if (pool && teacher) await checkpoint();
      await scorePool();
      await checkpoint();
    };
    const applyPool = (): void => {
      trainer.setPool(state.pool);
      trainer.setPositiveTeacherScores(state.positiveScores);
    };

    const saved = input.checkpoints ? await input.checkpoints.load() : null;
    const resumed = saved ? restoreTrainState(saved, { config: cfg, appliedTemperature }, student, trainer) : null;
    if (resumed) {
      Object.assign(state, resumed);
      if (state.poolScored) sink.log(`resumed from checkpoint after epoch ${state.epochs.length}`);
      else {
        sink.log(`resumed from checkpoint after epoch ${state.epochs.length} with the pool mined before epoch ${state.poolMinedForEpoch}, not scored yet`);
        await scorePool();
        await checkpoint();
      }
    } else if (cfg.epochs === 0) {
      state.poolScored = true; // nothing is trained: no pool to mine, no pair to score
    } else if (usePool) {
      timer.start('mining');
      await refreshPool(await mineFromCentroids(train, numLabels, { poolSize: cfg.poolSize, seed: cfg.seed }), 1);
    } else await refreshPool(null, 1);
    applyPool();

    for (let e = state.epochs.length + 1; e <= cfg.epochs; e++) {
      stopIfAsked();
      if (usePool && cfg.remineEvery > 0 && e > 1 && (e - 1) % cfg.remineEvery === 0 && state.poolMinedForEpoch !== e) {
        timer.start('mining', `re-mining with the student's embeddings before epoch ${e}`);
        await refreshPool(await mineFromStudent(student, train, { poolSize: cfg.poolSize, seed: cfg.seed + e }), e);
        applyPool();
      }
      timer.start('training');
      const stats = trainer.trainEpoch(e, (done, total, loss) => sink.progress(done, total, { epoch: e, epochs: cfg.epochs, loss }), shouldStop);
      state.epochs.push(stats);
      // saved before it is reported: a reported epoch is never trained again (one killed in
      // between is reported by the next run from the checkpoint, see job-runner.ts)
      await checkpoint();
      sink.epoch(stats);
    }
    stopIfAsked();
    const { epochs, pairsScored } = state;

    timer.start('evaluating');
    const result: TrainJobResult = { epochs, stageSeconds: timer.seconds, pairsScored, teacherFolds: folded?.manifest.folds ?? 0, config: cfg, ...(auto ? { auto } : {}) };
    if (teacher) result.teacherTemperature = teacher.temperature;
    // The HNSW index serves evaluation and the published model; neither, no index.
    const index = data.test || input.outDir ? LabelIndex.build(student.V, numLabels, student.shape.dim, { M: HNSW_DEFAULTS.M, efConstruction: HNSW_DEFAULTS.efConstruction, seed: cfg.seed }) : null;
    if (index) {
      const sample = evenlySpacedSubset(train, EF_SAMPLE_QUERIES).features;
      const choice = chooseEfSearch(index, student.V, student.encodeAll(sample), sample.rows, cfg.hnswRecallTarget);
      result.efSearch = choice.ef;
      if (choice.tried.length) sink.log(`HNSW ef ${choice.ef}: recall@10 against exact search on ${sample.rows} training queries ${choice.tried.map((t) => `${t.ef} → ${t.recall.toFixed(3)}`).join(', ')}`);
    }
    const counts = Float32Array.from(labelCounts(train.labels)); // stored as F32 in the model's weights
    const neighbours = index && cfg.neighbours > 0 && (cfg.neighbourWeight > 0 || input.tuneBlend) ? buildNeighbours(student, train, cfg, HNSW_DEFAULTS, sink) : null;
    if (data.test) {
      const propensities = propensitiesFromCounts(counts, train.features.rows, data.test.labels.cols);
      if (input.tuneBlend && neighbours && index) {
        result.blend = tuneBlend(student, data.test, propensities, index, neighbours);
        neighbours.settings = result.blend.chosen;
        cfg = { ...cfg, neighbourWeight: result.blend.chosen.weight, voteTemperature: result.blend.chosen.voteTemperature };
        result.config = cfg;
        sink.log(`neighbour blend: ${result.blend.tried.map((t) => `β ${t.settings.weight} κ ${t.settings.voteTemperature} → ${(100 * t.p1).toFixed(2)}`).join(', ')}`);
      }
      const ev = evaluateStudent(student, data.test, propensities, index ?? undefined, neighbours);
      result.metrics = ev.exact;
      result.hnswMetrics = ev.hnsw;
      result.hnswRecallAt10 = ev.hnswRecallAt10;
      result.evaluatedPoints = ev.evaluatedPoints;
      if (ev.evaluatedPoints < data.test.features.rows) sink.log(`evaluated on ${ev.evaluatedPoints} of ${data.test.features.rows} test points (exact search over ${numLabels} labels)`);
      const evalPairs = data.test.features.rows * numLabels;
      const evalCap = teacher instanceof BoundTextTeacher && teacher.teacher.kind === 'cross-encoder' ? CROSS_ENCODER_EVAL_MAX_PAIRS : TEACHER_EVAL_MAX_PAIRS;
      if (teacher && input.evaluateTeacher !== false && evalPairs > evalCap) sink.log(`teacher not evaluated: ${evalPairs} test pairs is above ${evalCap}`);
      if (teacher && input.evaluateTeacher !== false && evalPairs <= evalCap) {
        const te = await evaluateTeacher(teacher, data.test, numLabels, propensities, teacher.temperature);
        result.teacherMetrics = { ...te.metrics, ece: te.ece, eceCalibrated: te.calibratedEce };
      }
    }

    if (input.outDir) {
      timer.start('publishing');
      result.modelDir = await publishModel({
        dir: input.outDir,
        student,
        index: index!, // built whenever outDir is set
        labelNames: input.labelNames ?? data.labelMap?.names ?? train.labelNames,
        featurizer: data.featurizer,
        labelMap: data.labelMap,
        labelCounts: counts,
        trainPoints: train.features.rows,
        neighbours,
        config: {
          numFeatures: train.features.cols,
          train: cfg,
          hnsw: { ...HNSW_DEFAULTS, efSearch: result.efSearch ?? HNSW_DEFAULTS.efSearch },
          input: data.featurizer ? 'text' : 'features',
          metrics: result.metrics,
          hnswMetrics: result.hnswMetrics,
          teacherMetrics: result.teacherMetrics,
        },
      });
    }
    timer.stop();
    return result;
  } finally {
    await teacher?.close();
    await folded?.close();
  }
}
