import { defaultsOf, settingProblems, type SettingSpec, type SettingsOf } from '../util/settings.js';
import type { StudentShape } from './student.js';

/**
 * Every switch of the student's training: type, range, default and description, declared once.
 * TrainConfig, DEFAULT_TRAIN_CONFIG and validateTrainConfig derive from it here, the HTTP body
 * schema of a job's params in service/schemas/jobs.ts, the `distilxr train` flags and their help in
 * cli/commands-model.ts. The order is the order of config objects and of the CLI's help.
 */
export const TRAIN_SETTINGS = {
  dim: { type: 'integer', min: 1, max: 4096, default: 64, arg: 'd', description: 'embedding size d' },
  tau: { type: 'number', min: 0, exclusiveMin: true, max: 100, default: 1, arg: 't', description: 'score temperature τ in s = q·v/τ' },
  epochs: { type: 'integer', min: 0, max: 100000, default: 20, arg: 'n', description: 'passes over the training data' },
  lr: { type: 'number', min: 0, exclusiveMin: true, max: 100, default: 0.1, arg: 'x', description: 'Adagrad learning rate' },
  // core/model/optimizer.ts
  rowwiseAdagrad: {
    type: 'boolean',
    default: false,
    description: 'row-wise Adagrad: one accumulator per parameter row (feature or label) instead of one per coordinate, one square root per row in each step',
  },
  alpha: {
    type: 'number',
    min: 0,
    max: 1,
    default: 0.5,
    arg: 'a',
    description: 'weight of the distillation term (0 = negative sampling only, 1 = distillation only); 0 without a teacher (a value above 0 is then refused)',
  },
  temperature: { type: 'number', min: 0, exclusiveMin: true, max: 1000, default: 1, arg: 'T', description: 'distillation temperature T' },
  hardNegatives: { type: 'integer', min: 0, max: 100000, default: 16, arg: 'n', description: 'hard negatives per example, sampled from its mined pool (0 = uniform negatives only)' },
  randomNegatives: { type: 'integer', min: 0, max: 100000, default: 16, arg: 'n', description: 'uniform random negatives per example (log-q corrected)' },
  inBatchNegatives: { type: 'integer', min: 0, max: 100000, default: 8, arg: 'n', description: 'positives of other batch members used as negatives (log-q corrected)' },
  batchSize: { type: 'integer', min: 1, max: 1000000, default: 64, arg: 'n', description: 'examples per batch (the pool in-batch negatives are drawn from)' },
  poolSize: { type: 'integer', min: 0, max: 100000, default: 64, arg: 'n', description: 'size K of the candidate pool mined per example' },
  remineEvery: { type: 'integer', min: 0, max: 100000, default: 5, arg: 'n', description: "re-mine the pool with the student's embeddings every R epochs (0 = never)" },
  // src/pipeline/mine.ts
  remineByLabelSet: {
    type: 'boolean',
    default: true,
    description: "re-mine one pool per distinct set of positive labels (the mean of its points' encodings as the query) instead of one per point: fewer queries where points share their labels (apt-files: 2.5× faster re-mining at recall@64 0.91 against the exact per-point pools, the same P@1 within Hogwild's spread)",
    off: 're-mine one pool per training point',
  },
  firstPoolByLabelSet: {
    type: 'boolean',
    default: true,
    description: "mine the first pool (from the label centroids) once per distinct set of positive labels, not once per point, as re-mining does: in the centroids' random projection a set's mean is far from its points (apt-files: recall@64 0.43 against the exact per-point pools), but it is only the first epochs' pool (apt-files' α=0 job: mining 10.2–10.8 s against 16.1–22.6, P@1 82.06–82.11 against 81.81–82.23; PECOS, the best peer, 80.42)",
    off: 'mine the first pool once per training point',
  },
  // src/ann/dense-search.ts
  int8Mining: {
    type: 'boolean',
    default: true,
    description: 'mine the pools by exact search in 8-bit integer arithmetic (7-bit labels, 8-bit queries): apt-files 1.7–2.4× faster than float at recall@64 0.97 against the float pools, the same P@1',
    off: 'mine the pools by exact search in float arithmetic (1.7–2.4× slower, the true top labels)',
  },
  // src/ann/ef-search.ts
  hnswRecallTarget: {
    type: 'number',
    min: 0,
    max: 1,
    default: 0.97,
    arg: 'x',
    // 0.95 chose ef 100 on apt-files once the label index was built with efConstruction 200: P@1 80.47 through it against 80.95 at ef 400 (BENCHMARKS.md 0)
    description: 'publish the HNSW index with the smallest ef (100–800) reaching this recall@10 against exact search on training queries (0 = ef 100)',
  },
  // src/pipeline/neighbours.ts
  labelIndexEfConstruction: {
    type: 'integer',
    min: 10,
    max: 2000,
    default: 200,
    arg: 'n',
    description: "candidate list size while building the published label index (the training points' index has its own, pointIndexEfConstruction): a graph built by inner product leaves fewer labels out of reach with more (apt-files: P@1 through the index 80.58 at 100, 80.88 at 200, exact search 81.15)",
  },
  // src/pipeline/neighbours.ts. 100 builds in half the time of 200 (bench/hnsw-build.ts); 40 built
  // apt-files' in under half the time again but cost the neighbour vote 2.3 P@1 (BENCHMARKS.md 0)
  pointIndexEfConstruction: {
    type: 'integer',
    min: 10,
    max: 2000,
    default: 100,
    arg: 'n',
    description: "candidate list size while building the training points' index of the neighbour component (unit vectors: cosine is a metric, so it needs less than the label index)",
  },
  int8PointIndex: {
    type: 'boolean',
    default: true,
    description: "keep the training points' index of the neighbour component in 8-bit integers, searched by cosine, instead of half floats: apt-files' α=0 job in 121.7 s against 128.0 (the index alone 31.4–33.4 s against 36.6–38.3, bench/probe-s37-parts.ts), P@1 81.81–82.17 against 82.02–82.23 (PECOS, the best peer, 80.42)",
    off: "keep the training points' index in half floats",
  },
  teacherWeightedNegatives: { type: 'boolean', default: false, description: 'sample hard negatives ∝ exp(teacher score / T) instead of uniformly from the pool (needs a teacher)' },
  seed: { type: 'integer', min: 0, max: 2 ** 31 - 1, default: 1, arg: 'n', description: 'seed of every random draw (init, order, negatives, projections, HNSW)' },
  // core/model/hogwild-trainer.ts
  threads: {
    type: 'integer',
    min: 0,
    max: 64,
    default: 0,
    arg: 'n',
    description: 'training threads sharing the parameters, Hogwild-style (0 = one per core); 1 is the deterministic mode: the same seed gives the same model bit for bit, more threads give one as good but not identical',
  },
  // core/simd/kernels.wat
  simdKernels: {
    type: 'boolean',
    default: true,
    description: "the training step's inner loops (scores, dL/dq, Adagrad) in WebAssembly SIMD, four floats at a time; off: plain JavaScript loops, the same training up to float rounding",
    off: "plain JavaScript loops for the training step (the SIMD kernels' results differ only by float rounding)",
  },
  batchedKernels: {
    type: 'boolean',
    default: true,
    description:
      "with the SIMD kernels, three calls into WebAssembly per training example (its encoding, its candidates' scores, its backward pass with every row's Adagrad step) instead of one per parameter row: the same model bit for bit, the training stage 1.28–1.60× faster on one thread on Bibtex, Delicious, Corel5k and debtags (BENCHMARKS.md section 2)",
    off: 'one call into WebAssembly per parameter row of the training step (the same model bit for bit, slower)',
  },
  teacherCalibration: {
    type: 'boolean',
    default: true,
    description: "divide the teacher's scores by the calibration temperature its ONNX metadata declares (distilxr.temperature; 1 when absent), so p^t_T = softmax(s / (T_cal·T))",
    off: "distil the teacher's raw scores, ignoring the calibration temperature its ONNX metadata declares (distilxr.temperature)",
  },
  teacherWeights: {
    type: 'boolean',
    default: true,
    description: "score the training pairs of a sparse linear teacher `teacher fit` wrote (and of its fold models) from its weights in JavaScript, not through its ONNX graph: the same function up to float rounding (≤ 1e-6), 4.5–30× faster on Corel5k, Bibtex and Delicious; other teachers always run in ONNX Runtime",
    off: "score a sparse linear teacher's training pairs through its ONNX graph in ONNX Runtime, as other teachers are (slower, and the only way scoring fans out to other workers)",
  },
  teacherInit: {
    type: 'boolean',
    default: true,
    description: "start the student from a rank-d factorisation of the teacher's weights (W ≈ V·W1ᵀ) when the teacher is a sparse linear model `teacher fit` wrote; random start otherwise",
    off: "start the student at random instead of from a rank-d factorisation of a sparse linear teacher's weights",
  },
  labelBias: {
    type: 'boolean',
    default: true,
    description: 'a learnt bias per label, s = (q̂·v̂ + b)/τ, kept as one more coordinate of q and V',
    off: 'no per-label bias in the score (s = q·v/τ only)',
  },
  // the neighbour component: src/ann/neighbour-blend.ts
  neighbours: {
    type: 'integer',
    min: 0,
    max: 1000,
    default: 50,
    arg: 'K',
    description: 'training points whose labels vote at query time, found in an HNSW index over their embeddings published with the model (0 = no neighbour component)',
  },
  neighbourWeight: { type: 'number', min: 0, max: 1, default: 0.5, arg: 'beta', description: "weight β of the neighbours' vote against the student's softmax (0 = the student alone)" },
  voteTemperature: { type: 'number', min: 0, exclusiveMin: true, max: 100, default: 0.1, arg: 'kappa', description: "temperature κ of the vote's weights exp(cos/κ)" },
  // src/ann/point-dedupe.ts
  pointDedupe: {
    type: 'number',
    min: 0,
    max: 1,
    default: 0.97,
    arg: 'cos',
    description: 'leave out of the neighbour component every training point within this cosine of an earlier point with the same label set (0 = every point): near-copies vote as one',
  },
} as const satisfies Record<string, SettingSpec>;

/** The student's training settings (TRAIN_SETTINGS says what each one is). */
export type TrainConfig = SettingsOf<typeof TRAIN_SETTINGS>;

export const DEFAULT_TRAIN_CONFIG: TrainConfig = defaultsOf(TRAIN_SETTINGS);

/** Range checks with messages that name the field, then the rules across fields; returns the list of problems. */
export function validateTrainConfig(c: TrainConfig): string[] {
  const problems = settingProblems(TRAIN_SETTINGS, c);
  if (c.hardNegatives > c.poolSize) problems.push(`hardNegatives (${c.hardNegatives}) cannot exceed poolSize (${c.poolSize})`);
  return problems;
}

/** How the edges name a setting and the teacher in the no-teacher rule's messages. */
export interface SettingNames {
  /** Put before a setting's name: 'params.' over HTTP. */
  prefix: string;
  /** What giving a teacher is called: 'teacherId', '--teacher'. */
  teacher: string;
}

/**
 * The one rule for a job without a teacher, at every edge (HTTP, CLI) and in the worker: there is
 * nothing to distil, so α is 0 whatever its default, and a setting that needs the teacher's scores,
 * given explicitly (α > 0, teacherWeightedNegatives), is refused with a message naming it.
 * `given`: the settings the user set. Returns the config to run and the problems.
 */
export function withoutTeacher(config: TrainConfig, given: Readonly<Partial<Record<keyof TrainConfig, unknown>>>, names: SettingNames): { config: TrainConfig; problems: string[] } {
  const problems: string[] = [];
  if (typeof given.alpha === 'number' && given.alpha > 0) problems.push(`${names.prefix}alpha is ${given.alpha} but no ${names.teacher} was given: distillation needs a teacher`);
  if (given.teacherWeightedNegatives === true) problems.push(`${names.prefix}teacherWeightedNegatives needs a ${names.teacher}`);
  return { config: { ...config, alpha: 0 }, problems };
}

/** The student a configuration trains: d learnt coordinates, plus the bias slot when on. */
export function studentShapeOf(c: TrainConfig, inputDim: number, numLabels: number): StudentShape {
  return { inputDim, dim: c.dim + (c.labelBias ? 1 : 0), numLabels, tau: c.tau, labelBias: c.labelBias };
}
