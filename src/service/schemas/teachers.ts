import { Type, type Static } from 'typebox';
import { TEACHER_FIT_SETTINGS } from '../../pipeline/teacher-fit-config.js';
import type { TeacherRecord } from '../../infra/records.js';
import { optionalSettingProperties } from './settings-schema.js';
import { FeaturizerParams, FreeObject, Id, NextCursor, Nullable, Timestamp } from './common.js';

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

/** A teacher fit's params: the settings of TEACHER_FIT_SETTINGS, every one optional, and the featurizer. */
export const TeacherFitParams = Type.Object({ ...optionalSettingProperties(TEACHER_FIT_SETTINGS), featurizer: Type.Optional(FeaturizerParams) }, { additionalProperties: false });

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
