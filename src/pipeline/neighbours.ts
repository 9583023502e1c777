import { join } from 'node:path';
import { LabelIndex } from '../ann/hnsw-index.js';
import { encodePoints } from '../ann/neighbour-blend.js';
import { withoutRepeats } from '../ann/point-dedupe.js';
import { PointIndex, type PointIndexOptions } from '../ann/point-index.js';
import { buildIndexInThread, type IndexSpec, THREADED_BUILD_MIN_VECTORS } from '../ann/threaded-build.js';
import type { Dataset } from '../core/data/dataset.js';
import type { Student } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import type { ProgressSink } from './progress.js';
import { type NeighbourComponent, POINT_EF } from './retrieve.js';

/** What a model publishes for search: the label index, and the neighbour component when asked. */
export interface PublishedIndexes {
  index: LabelIndex;
  neighbours: NeighbourComponent | null;
}

/** Graph degree of both published indexes. */
export const PUBLISHED_INDEX_M = 16;
/** The training points' index a job with these settings builds. */
export function pointIndexOptions(cfg: Pick<TrainConfig, 'pointIndexEfConstruction' | 'int8PointIndex'>): PointIndexOptions {
  return { M: PUBLISHED_INDEX_M, efConstruction: cfg.pointIndexEfConstruction, efSearch: POINT_EF, scalar: cfg.int8PointIndex ? 'i8' : 'f16' };
}

/**
 * The label index over the student's label embeddings and, with `withNeighbours`, the neighbour
 * component (its embeddings of the training points, in a PointIndex). With more than one thread the
 * label index is built in a worker thread while the points are added here on every thread; with
 * `scratchDir` the worker leaves its file there (the index's `file`, for searches on threads). `points`: the training
 * points already encoded (encodePoints of `train`), else encoded here.
 */
export async function buildPublishedIndexes(student: Student, train: Dataset, cfg: TrainConfig, opts: { withNeighbours: boolean; threads: number; scratchDir?: string; points?: Float32Array }, sink: ProgressSink): Promise<PublishedIndexes> {
  const t0 = performance.now();
  const { dim, numLabels } = student.shape;
  const n = train.features.rows;
  const labelSpec: IndexSpec = { vectors: student.V, count: numLabels, dim, options: { M: PUBLISHED_INDEX_M, efConstruction: cfg.labelIndexEfConstruction, seed: cfg.seed } };
  const labelFile = opts.scratchDir ? join(opts.scratchDir, 'labels.hnsw') : undefined;
  // built here, the label index is saved to the scratch file too: a second thread can then search it
  const buildLabels = async (): Promise<LabelIndex> => {
    const built = LabelIndex.build(labelSpec.vectors, numLabels, dim, labelSpec.options);
    if (labelFile && opts.threads > 1) await built.save(labelFile);
    return built;
  };
  if (!opts.withNeighbours) return { index: await buildLabels(), neighbours: null };
  const inThread = opts.threads > 1 && numLabels + n >= THREADED_BUILD_MIN_VECTORS;
  const labelBuild = inThread ? buildIndexInThread(labelSpec, labelFile) : null;
  await labelBuild?.building;
  const kept = withoutRepeats(opts.points ?? encodePoints(student, train.features), dim, train.labels, cfg.pointDedupe);
  const count = kept.labels.rows;
  const points = PointIndex.build(kept.points, count, dim, pointIndexOptions(cfg), opts.threads);
  const pointSeconds = (performance.now() - t0) / 1000;
  const index = labelBuild ? await labelBuild.index : await buildLabels();
  const seconds = (performance.now() - t0) / 1000;
  const left = count < n ? ` of ${n}: ${n - count} within cosine ${cfg.pointDedupe} of an earlier point of their label set left out` : '';
  sink.log(`neighbour index (${count} training points${left}) built in ${pointSeconds.toFixed(1)} s on ${opts.threads} thread(s), label index (${numLabels}) ${inThread ? 'beside it' : 'after it'}: ${seconds.toFixed(1)} s in all`);
  return { index, neighbours: { index: points, pointLabels: kept.labels, settings: { neighbours: cfg.neighbours, weight: cfg.neighbourWeight, voteTemperature: cfg.voteTemperature } } };
}
