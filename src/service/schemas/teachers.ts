import { Type, type Static } from 'typebox';
import { DEFAULT_TEACHER_FIT } from '../../pipeline/teacher-fit-config.js';
import type { TeacherRecord } from '../../infra/records.js';
import { FeaturizerParams, FreeObject, Id, NextCursor, Nullable, Timestamp } from './common.js';

const f = DEFAULT_TEACHER_FIT;

export const Teacher = Type.Object({
  id: Id,
  name: Type.String(),
  kind: Type.Union([Type.Literal('scores'), Type.Literal('logits'), Type.Literal('classifier'), Type.Literal('cross-encoder'), Type.Literal('bi-encoder')], {
    description: 'sparse ONNX: candidate scorer (scores [B,K]) or full teacher (logits [B,L]); text-teacher bundle: classifier, cross-encoder or bi-encoder',
  }),
  numLabels: Nullable(Type.Integer()),
  sizeBytes: Type.Integer(),
  jobId: Nullable(Id),
  datasetId: Nullable(Id),
  metrics: Nullable(FreeObject('test metrics of a fitted teacher')),
  createdAt: Timestamp,
});
export type TeacherView = Static<typeof Teacher>;

export const TeacherList = Type.Object({ teachers: Type.Array(Teacher), nextCursor: NextCursor });

/** Multipart fields of POST /v1/teachers (documentation only). */
export const TeacherUpload = Type.Object({
  model: Type.Optional(Type.String({ format: 'binary', description: 'ONNX model meeting the sparse teacher contract' })),
  bundle: Type.Optional(Type.String({ format: 'binary', description: 'text-teacher bundle as .tar or .zip: model.onnx, tokenizer.json, teacher.json (instead of model)' })),
  name: Type.Optional(Type.String({ maxLength: 200 })),
});

/** TeacherFitConfig, every field optional (defaults from DEFAULT_TEACHER_FIT). */
export const TeacherFitParams = Type.Object(
  {
    C: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1000, default: f.C, description: 'inverse regularisation of each one-vs-rest SVM (liblinear C)' })),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 10, default: f.threshold, description: 'weights with |w| at or below this are dropped' })),
    maxPasses: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: f.maxPasses, description: 'solver passes over a label\'s rows at most' })),
    shortlist: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10000, default: f.shortlist, description: 'hard negatives per row from the label centroids (0 = automatic: 100 above fullMaxLabels; at or below, every label unless the held-out recall reaches shortlistRecall < 1)' }),
    ),
    shortlistRecall: Type.Optional(
      Type.Number({ minimum: 0, maximum: 1, default: f.shortlistRecall, description: 'automatic shortlist at or below fullMaxLabels: the held-out recall of the positives it must reach (1 = never)' }),
    ),
    fullMaxLabels: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: f.fullMaxLabels, description: 'exact one-vs-rest up to this many labels' })),
    calibrationRows: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, default: f.calibrationRows, description: 'out-of-fold training rows the temperature is fitted on' })),
    folds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10, default: f.folds, description: 'cross-fitting fold models, so training examples are scored by a model that did not see them (0 = none)' }),
    ),
    centroidWeight: Type.Optional(
      Type.Number({ minimum: 0, maximum: 100, default: f.centroidWeight, description: 'weight of each label\'s centroid added to its classifier (a nearest-centroid vote for rare labels)' }),
    ),
    fullTeacher: Type.Optional(
      Type.Boolean({ default: f.fullTeacher, description: 'with folds: publish a model fitted on every training row (true) or the mean of the fold models (false)' }),
    ),
    threads: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, default: f.threads, description: 'solver threads (0 = one per core); the model does not depend on it' })),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1, default: f.seed })),
    featurizer: Type.Optional(FeaturizerParams),
  },
  { additionalProperties: false },
);

export const TeacherFitBody = Type.Object(
  { datasetId: Id, name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'name of the fitted teacher' })), params: Type.Optional(TeacherFitParams) },
  { additionalProperties: false },
);
export type TeacherFitBody = Static<typeof TeacherFitBody>;

export function teacherView(t: TeacherRecord): TeacherView {
  return {
    id: t.id,
    name: t.name,
    kind: t.kind,
    numLabels: t.numLabels,
    sizeBytes: t.sizeBytes,
    jobId: t.jobId,
    datasetId: t.datasetId,
    metrics: t.metrics,
    createdAt: t.createdAt.toISOString(),
  };
}
