import { Type, type Static } from 'typebox';
import { DEFAULT_TRAIN_CONFIG } from '../../core/model/train-config.js';
import { AUTO_BUDGET_SECONDS } from '../../pipeline/auto-tune.js';
import { isStalled } from '../../infra/job-liveness.js';
import { JOB_STATUSES, type JobRecord } from '../../infra/records.js';
import { FeaturizerParams, FreeObject, Id, NextCursor, Nullable, Timestamp, iso, pageQueryProperties } from './common.js';

const d = DEFAULT_TRAIN_CONFIG;
const MAX_COUNT = 100000;

/**
 * TrainConfig, every field optional (defaults from DEFAULT_TRAIN_CONFIG). Ranges mirror
 * validateTrainConfig, which still runs on the merged config for the cross-field rules.
 */
export const TrainParams = Type.Object(
  {
    dim: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, default: d.dim, description: 'embedding size d' })),
    tau: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, default: d.tau, description: 'score temperature τ in s = q·v/τ' })),
    epochs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT, default: d.epochs, description: 'passes over the training data' })),
    lr: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, default: d.lr, description: 'Adagrad learning rate' })),
    alpha: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: d.alpha, description: 'weight of the distillation term (0 = negative sampling only; forced to 0 without a teacher)' }),
    ),
    temperature: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: d.temperature, description: 'distillation temperature T' })),
    hardNegatives: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT, default: d.hardNegatives, description: 'hard negatives per example, from its mined pool' })),
    randomNegatives: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT, default: d.randomNegatives, description: 'uniform random negatives per example' })),
    inBatchNegatives: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT, default: d.inBatchNegatives, description: 'positives of other batch members used as negatives' })),
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, default: d.batchSize, description: 'examples per batch' })),
    poolSize: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT, default: d.poolSize, description: 'mined candidate pool per example' })),
    remineEvery: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_COUNT, default: d.remineEvery, description: "re-mine with the student's embeddings every R epochs (0 = never)" })),
    hnswRecallTarget: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: d.hnswRecallTarget, description: 'publish the HNSW index with the smallest ef (100–800) reaching this recall@10 against exact search on training queries (0 = ef 100)' }),
    ),
    teacherWeightedNegatives: Type.Optional(Type.Boolean({ default: d.teacherWeightedNegatives, description: 'sample hard negatives ∝ exp(teacher score / T)' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: d.seed })),
    teacherCalibration: Type.Optional(
      Type.Boolean({ default: d.teacherCalibration, description: "divide the teacher's scores by the calibration temperature its ONNX metadata declares (distilxr.temperature; 1 when absent)" }),
    ),
    teacherInit: Type.Optional(
      Type.Boolean({ default: d.teacherInit, description: "start the student from a rank-d factorisation of the teacher's weights when the teacher is a sparse linear model (teacher fit)" }),
    ),
    auto: Type.Optional(
      Type.Boolean({
        description: 'choose alpha, temperature, negative counts and epochs on a held-out slice of the training data first; the default with a teacherId when no other training setting is given',
      }),
    ),
    crossFit: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          "with a teacherId: score training examples with the teacher's cross-fitting fold models, each blind to the examples it scores (teacher fits with folds ≥ 2); false scores them with the teacher itself. Folds fitted on other training data are never used: the teacher itself scores then (the job log says so)",
      }),
    ),
    autoBudgetSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, default: AUTO_BUDGET_SECONDS, description: 'time budget of the auto search, seconds' })),
    labelBias: Type.Optional(Type.Boolean({ default: d.labelBias, description: 'a learnt bias per label in the score (one more coordinate of q and V)' })),
    neighbours: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1000, default: d.neighbours, description: 'training points whose labels vote at query time, from an HNSW index over their embeddings (0 = no neighbour component)' }),
    ),
    neighbourWeight: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: d.neighbourWeight, description: "weight β of the neighbours' vote against the student's softmax (0 = the student alone)" })),
    voteTemperature: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, default: d.voteTemperature, description: "temperature κ of the vote's weights exp(cos/κ)" })),
    featurizer: Type.Optional(FeaturizerParams),
  },
  { additionalProperties: false },
);
export type TrainParams = Static<typeof TrainParams>;

export const CreateJobBody = Type.Object(
  {
    datasetId: Id,
    teacherId: Type.Optional(Id),
    params: Type.Optional(TrainParams),
  },
  { additionalProperties: false },
);
export type CreateJobBody = Static<typeof CreateJobBody>;

export const JobStatus = Type.Enum([...JOB_STATUSES]);

export const Job = Type.Object({
  id: Id,
  kind: Type.Union([Type.Literal('train'), Type.Literal('teacher-fit')]),
  status: JobStatus,
  stage: Nullable(
    Type.String({ description: 'preparing, mining, scoring, cross-fitting (teacher fits), training, evaluating, publishing; a failed or cancelled job keeps the stage it stopped in' }),
  ),
  progress: Type.Number({ description: '0..1 over the whole job' }),
  examplesPerSecond: Nullable(Type.Number()),
  etaSeconds: Nullable(Type.Number({ description: 'null until a speed is measured, and while the job is stalled' })),
  stalled: Type.Boolean({
    description: 'running, but its worker has not been heard of for 5 s (it probably died): the job goes to another worker once its queue lock expires',
  }),
  heartbeatAt: Nullable(Timestamp),
  params: FreeObject('the full configuration the job runs with (defaults filled in)'),
  datasetId: Id,
  teacherId: Nullable(Id),
  modelId: Nullable(Id),
  resultTeacherId: Nullable(Id),
  metrics: Nullable(FreeObject('evaluation on the test split')),
  error: Nullable(Type.String()),
  cancelRequested: Type.Boolean(),
  attempts: Type.Integer(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  startedAt: Nullable(Timestamp),
  finishedAt: Nullable(Timestamp),
  retryOf: Nullable(Id),
});
export type JobView = Static<typeof Job>;

export const JobList = Type.Object({ jobs: Type.Array(Job), nextCursor: NextCursor });

export const JobListQuery = Type.Object({ status: Type.Optional(JobStatus), ...pageQueryProperties }, { additionalProperties: false });

export const JobMetrics = Type.Object({
  id: Id,
  status: JobStatus,
  epochs: Type.Array(FreeObject('one epoch: epoch, loss, ce, kl, examples, seconds, examplesPerSecond')),
  evaluation: Nullable(FreeObject('evaluation on the test split')),
});

export const EventsHeaders = Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) });

export function jobView(j: JobRecord, now = Date.now()): JobView {
  const stalled = isStalled(j, now);
  return {
    id: j.id,
    kind: j.kind,
    status: j.status,
    stage: j.stage,
    progress: j.progress,
    examplesPerSecond: j.examplesPerSecond,
    // a dead worker's ETA would stay frozen
    etaSeconds: stalled ? null : j.etaSeconds,
    stalled,
    heartbeatAt: iso(j.heartbeatAt),
    params: j.params,
    datasetId: j.datasetId,
    teacherId: j.teacherId,
    modelId: j.modelId,
    resultTeacherId: j.resultTeacherId,
    metrics: j.metrics,
    error: j.error,
    cancelRequested: j.cancelRequested,
    attempts: j.attempts,
    createdAt: j.createdAt.toISOString(),
    updatedAt: j.updatedAt.toISOString(),
    startedAt: iso(j.startedAt),
    finishedAt: iso(j.finishedAt),
    retryOf: j.retryOf,
  };
}
