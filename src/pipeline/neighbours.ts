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

/** Graph degree of both published indexes. */
export const PUBLISHED_INDEX_M = 16;
/**
 * Build list size of the training points' index: unit vectors, where inner product is a metric's
 * cosine, and 100 builds in half the time of 200 (bench/hnsw-build.ts); 40 built apt-files' in under
 * half the time again but cost the neighbour vote 2.3 P@1 (BENCHMARKS.md 0). The label index's is
 * cfg.labelIndexEfConstruction: inner product over vectors of unequal norms leaves labels out of reach with less.
 */
export const POINT_INDEX_EF_CONSTRUCTION = 100;

/**
 * The label index over the student's label embeddings and, with `withNeighbours`, the neighbour
 * component (its embeddings of the training points, indexed); with `threads`, the two indexes are
 * built at once on two threads (the same graphs as one after the other).
 */
export async function buildPublishedIndexes(student: Student, train: Dataset, cfg: TrainConfig, opts: { withNeighbours: boolean; threads: boolean }, sink: ProgressSink): Promise<PublishedIndexes> {
  const t0 = performance.now();
  const { dim, numLabels } = student.shape;
  const n = train.features.rows;
  const specs = [{ vectors: student.V, count: numLabels, dim, options: { M: PUBLISHED_INDEX_M, efConstruction: cfg.labelIndexEfConstruction, seed: cfg.seed } }];
  if (opts.withNeighbours) specs.push({ vectors: encodePoints(student, train.features), count: n, dim, options: { M: PUBLISHED_INDEX_M, efConstruction: POINT_INDEX_EF_CONSTRUCTION, seed: cfg.seed } });
  const [index, pointIndex] = await buildIndexes(specs, opts.threads);
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  if (!pointIndex) return { index, neighbours: null };
  sink.log(`label index (${numLabels}) and neighbour index (${n} training points) built in ${seconds} s${opts.threads ? ' on two threads' : ''}`);
  return { index, neighbours: { index: pointIndex, pointLabels: train.labels, settings: { neighbours: cfg.neighbours, weight: cfg.neighbourWeight, voteTemperature: cfg.voteTemperature } } };
}
