import type { LabelIndex } from '../ann/hnsw-index.js';
import { encodePoints } from '../ann/neighbour-blend.js';
import { buildIndexes } from '../ann/threaded-build.js';
import type { Dataset } from '../core/data/dataset.js';
import type { Student } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import type { ProgressSink } from './progress.js';
import type { NeighbourComponent } from './retrieve.js';

/** What a model publishes for search: the label index, and the neighbour component when asked. */
export interface PublishedIndexes {
  index: LabelIndex;
  neighbours: NeighbourComponent | null;
}

/**
 * The label index over the student's label embeddings and, with `withNeighbours`, the neighbour
 * component (its embeddings of the training points, indexed; efConstruction hnsw.efConstruction, the label
 * index cfg.labelIndexEfConstruction); with `threads`, the two indexes are
 * built at once on two threads (the same graphs as one after the other).
 */
export async function buildPublishedIndexes(student: Student, train: Dataset, cfg: TrainConfig, hnsw: { M: number; efConstruction: number }, opts: { withNeighbours: boolean; threads: boolean }, sink: ProgressSink): Promise<PublishedIndexes> {
  const t0 = performance.now();
  const { dim, numLabels } = student.shape;
  const options = { M: hnsw.M, efConstruction: hnsw.efConstruction, seed: cfg.seed };
  const n = train.features.rows;
  const specs = [{ vectors: student.V, count: numLabels, dim, options: { ...options, efConstruction: cfg.labelIndexEfConstruction } }];
  if (opts.withNeighbours) specs.push({ vectors: encodePoints(student, train.features), count: n, dim, options });
  const [index, pointIndex] = await buildIndexes(specs, opts.threads);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  if (!pointIndex) return { index, neighbours: null };
  sink.log(`label index (${numLabels}) and neighbour index (${n} training points) built in ${seconds} s${opts.threads ? ' on two threads' : ''}`);
  return { index, neighbours: { index: pointIndex, pointLabels: train.labels, settings: { neighbours: cfg.neighbours, weight: cfg.neighbourWeight, voteTemperature: cfg.voteTemperature } } };
}
