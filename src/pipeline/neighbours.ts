import { LabelIndex } from '../ann/hnsw-index.js';
import { encodePoints } from '../ann/neighbour-blend.js';
import type { Dataset } from '../core/data/dataset.js';
import type { Student } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import type { ProgressSink } from './progress.js';
import type { NeighbourComponent } from './retrieve.js';

/** The neighbour component of a trained student: its embeddings of the training points, indexed. */
export function buildNeighbours(student: Student, train: Dataset, cfg: TrainConfig, hnsw: { M: number; efConstruction: number }, sink: ProgressSink): NeighbourComponent {
  const t0 = performance.now();
  const n = train.features.rows;
  const vectors = encodePoints(student, train.features);
  const index = LabelIndex.build(vectors, n, student.shape.dim, { M: hnsw.M, efConstruction: hnsw.efConstruction, seed: cfg.seed });
  sink.log(`neighbour index over ${n} training points built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { index, pointLabels: train.labels, settings: { neighbours: cfg.neighbours, weight: cfg.neighbourWeight, voteTemperature: cfg.voteTemperature } };
}
