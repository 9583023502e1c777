import { Type, type Static } from 'typebox';
import type { DatasetRecord } from '../../infra/records.js';
import { Id, NextCursor, Nullable, Timestamp } from './common.js';

export const DatasetStats = Type.Object({
  points: Type.Integer(),
  features: Type.Integer(),
  labels: Type.Integer(),
  labelsPerPoint: Type.Number(),
  pointsPerLabel: Type.Number(),
  nnzPerPoint: Type.Number(),
  labelFrequency: Type.Optional(
    Type.Array(Type.Object({ rank: Type.Integer(), count: Type.Integer() }), {
      description: 'training points per label at up to 64 log-spaced ranks, most frequent label first (training split only; absent for datasets uploaded before it was recorded)',
    }),
  ),
});

export const Dataset = Type.Object({
  id: Id,
  name: Type.String(),
  format: Type.Union([Type.Literal('xc'), Type.Literal('jsonl')]),
  stats: DatasetStats,
  testStats: Nullable(DatasetStats),
  hasTest: Type.Boolean(),
  createdAt: Timestamp,
});
export type DatasetView = Static<typeof Dataset>;

export const DatasetList = Type.Object({ datasets: Type.Array(Dataset), nextCursor: NextCursor });

/** Multipart fields of POST /v1/datasets (documentation only: multipart is parsed by the route). */
export const DatasetUpload = Type.Object({
  train: Type.String({ format: 'binary', description: 'training data: XC text ("N D L" header, "labels f:v ...") or JSONL ({"text": ..., "labels": [...]})' }),
  test: Type.Optional(Type.String({ format: 'binary', description: 'test data in the same format' })),
  labels: Type.Optional(
    Type.String({
      format: 'binary',
      description: 'XC only: label names, one per line (line i names label id i-1), exactly as many as the header declares, non-empty and unique; query answers and teacher matching use them',
    }),
  ),
  name: Type.Optional(Type.String({ maxLength: 200 })),
});

export function datasetView(d: DatasetRecord): DatasetView {
  return {
    id: d.id,
    name: d.name,
    format: d.format,
    stats: d.stats,
    testStats: d.testStats,
    hasTest: d.testKey !== null,
    createdAt: d.createdAt.toISOString(),
  };
}
