import { Type, type Static } from 'typebox';
import { TRAIN_SETTINGS } from '../../core/model/train-config.js';
import { AUTO_EXTRAPOLATE_MAX_ROWS, AUTO_MIN_BUDGET_SECONDS, AUTO_TEXT_TEACHER_BUDGET_SECONDS } from '../../pipeline/auto-tune.js';
import { isStalled } from '../../infra/job-liveness.js';
import { JOB_STATUSES, type JobRecord } from '../../infra/records.js';
import { optionalSettingProperties } from './settings-schema.js';
import { FeaturizerParams, FreeObject, Id, NextCursor, Nullable, Timestamp, iso, pageQueryProperties } from './common.js';

/**
 * A job's params: the training settings, every one optional (TRAIN_SETTINGS gives type, range,
 * default and description; validateTrainConfig still runs on the merged config for the rules across
 * fields), and the job's own options.
 */
export const TrainParams = Type.Object(
  {
    ...optionalSettingProperties(TRAIN_SETTINGS),
    auto: Type.Optional(
      Type.Boolean({
        description: 'choose alpha, temperature, negative counts and epochs on a held-out slice of the training data first; the default with a teacherId when no setting it chooses or that shapes the model is given (the seed and the speed levers, such as int8Mining or int8PointIndex, keep it on)',
      }),
    ),
    crossFit: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          "with a teacherId: score training examples with the teacher's cross-fitting fold models, each blind to the examples it scores (teacher fits with folds ≥ 2); false scores them with the teacher itself. Folds fitted on other training data are never used: the teacher itself scores then (the job log says so)",
      }),
    ),
    autoBudgetSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: `time budget of the auto search, seconds; by default as long as the job at the α=0 candidate's settings is estimated to take on the dataset, at least ${AUTO_MIN_BUDGET_SECONDS}; ${AUTO_TEXT_TEACHER_BUDGET_SECONDS} with a text teacher (the job record holds the budget used)` })),
    autoExtrapolate: Type.Optional(
      Type.Boolean({
        description: `with auto: each candidate is also trained on a third of the rows and ranked by its held-out P@1 extrapolated to every row, the random start's α 1 T 1 among the teacher start's candidates (about twice the search's time); by default up to ${AUTO_EXTRAPOLATE_MAX_ROWS} training rows without a text teacher`,
      }),
    ),
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
