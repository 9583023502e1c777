import { Type, type Static } from 'typebox';
import { FILES } from '../../pipeline/model-dir.js';
import type { ModelRecord } from '../../infra/records.js';
import { FreeObject, Id, NextCursor, Nullable, Timestamp } from './common.js';

/** The only files of a model directory that can be downloaded. */
export const DOWNLOADABLE_FILES: readonly string[] = [FILES.weights, FILES.onnx, FILES.index, FILES.points, FILES.config, FILES.labels, FILES.featurizer, FILES.labelMap];

export const MAX_QUERIES = 1000;
export const MAX_K = 1000;

export const Model = Type.Object({
  id: Id,
  jobId: Id,
  datasetId: Id,
  teacherId: Nullable(Id),
  config: FreeObject('model configuration: shape, training config, HNSW settings, input kind'),
  metrics: Nullable(FreeObject('student metrics on the test split')),
  teacherMetrics: Nullable(FreeObject('the teacher on the same test split, for comparison')),
  files: Type.Array(Type.String(), { description: 'downloadable files: GET /v1/models/{id}/files/{name}' }),
  createdAt: Timestamp,
});
export type ModelView = Static<typeof Model>;

export const ModelList = Type.Object({ models: Type.Array(Type.Omit(Model, ['files'])), nextCursor: NextCursor });

export const FileParams = Type.Object({ id: Id, name: Type.String({ minLength: 1, maxLength: 64 }) });

/** One query: exactly one of `text` (text models) or `features` (checked by the route). */
const Query = Type.Object(
  {
    // a blank text would be encoded as the zero vector and answered with arbitrary labels
    text: Type.Optional(Type.String({ minLength: 1, maxLength: 100000, pattern: '\\S', description: 'raw text (models trained on JSONL text); not blank' })),
    features: Type.Optional(
      Type.Record(Type.String({ pattern: '^[0-9]{1,10}$' }), Type.Number(), {
        description: 'sparse features: {"feature id": value}',
        additionalProperties: false,
        maxProperties: 100000,
      }),
    ),
  },
  { additionalProperties: false },
);

export const QueryBody = Type.Object(
  {
    queries: Type.Array(Query, { minItems: 1, maxItems: MAX_QUERIES }),
    k: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_K, default: 5 })),
    exact: Type.Optional(Type.Boolean({ default: false, description: 'exact search over all labels instead of the HNSW index' })),
  },
  { additionalProperties: false },
);
export type QueryBody = Static<typeof QueryBody>;

export const QueryResponse = Type.Object({
  results: Type.Array(Type.Array(Type.Object({
        label: Type.Integer(),
        name: Type.String(),
        score: Type.Number({ description: "the ranking score: the student's score, or with the neighbour component the blend (1 − β)·softmax + β·vote in [0, 1]" }),
        studentScore: Type.Number({ description: "s = q·v/τ, the student's own score (what student.onnx gives)" }),
      }))),
});

export function modelView(m: ModelRecord, files: string[]): ModelView {
  return {
    id: m.id,
    jobId: m.jobId,
    datasetId: m.datasetId,
    teacherId: m.teacherId,
    config: m.config,
    metrics: m.metrics,
    teacherMetrics: m.teacherMetrics,
    files,
    createdAt: m.createdAt.toISOString(),
  };
}
