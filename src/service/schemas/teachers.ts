import { Type, type Static } from 'typebox';
import { DEFAULT_TEACHER_FIT } from '../../pipeline/fit-teacher.js';
import type { TeacherRecord } from '../records.js';
import { FeaturizerParams, FreeObject, Id, Nullable, Timestamp } from './common.js';

const f = DEFAULT_TEACHER_FIT;

export const Teacher = Type.Object({
  id: Id,
  name: Type.String(),
  kind: Type.Union([Type.Literal('scores'), Type.Literal('logits')], { description: 'candidate scorer (scores [B,K]) or full teacher (logits [B,L])' }),
  numLabels: Nullable(Type.Integer()),
  sizeBytes: Type.Integer(),
  jobId: Nullable(Id),
  datasetId: Nullable(Id),
  metrics: Nullable(FreeObject('test metrics of a fitted teacher')),
  createdAt: Timestamp,
});
export type TeacherView = Static<typeof Teacher>;

export const TeacherList = Type.Object({ teachers: Type.Array(Teacher) });

/** Multipart fields of POST /v1/teachers (documentation only). */
export const TeacherUpload = Type.Object({
  model: Type.String({ format: 'binary', description: 'ONNX model meeting the teacher contract' }),
  name: Type.Optional(Type.String({ maxLength: 200 })),
});

/** TeacherFitConfig, every field optional (defaults from DEFAULT_TEACHER_FIT). */
export const TeacherFitParams = Type.Object(
  {
    hidden: Type.Optional(Type.Integer({ minimum: 1, maximum: 65536, default: f.hidden, description: 'hidden ReLU units' })),
    lr: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 100, default: f.lr, description: 'Adagrad learning rate' })),
    dropout: Type.Optional(Type.Number({ minimum: 0, maximum: 0.99, default: f.dropout, description: 'hidden-layer dropout while fitting' })),
    maxEpochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: f.maxEpochs, description: 'upper bound on epochs' })),
    patience: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000, default: f.patience, description: 'epochs without validation gain before stopping' })),
    validationFraction: Type.Optional(
      Type.Number({ minimum: 0, maximum: 0.9, default: f.validationFraction, description: 'share of train held out to pick the epoch' }),
    ),
    folds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10, default: f.folds, description: 'cross-fitting fold models, so training examples are scored by a model that did not see them (0 = none)' }),
    ),
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
