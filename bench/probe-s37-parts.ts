// Probe (session 37, not a bench): where apt-files' α=0 job spends its mining and index seconds. The 8-bit
// points index took 23.2 s by inner product (before it searched by cosine) and 31.4 s by cosine (as shipped).
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { Student } from '../src/core/model/student.js';
import { DEFAULT_TRAIN_CONFIG, studentShapeOf } from '../src/core/model/train-config.js';
import { mineFromCentroids, mineFromStudent } from '../src/pipeline/mine.js';
import { PointIndex } from '../src/ann/point-index.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { pointIndexOptions, PUBLISHED_INDEX_M } from '../src/pipeline/neighbours.js';
import { datasetSplit } from './lib.js';

const split = datasetSplit('apt-files');
let t = performance.now();
const lap = (what: string): void => {
  const now = performance.now();
  console.log(`${what}: ${((now - t) / 1000).toFixed(2)} s`);
  t = now;
};
const { train } = await loadTrainTest(split.train, split.test, {});
lap('load');
const cfg = { ...DEFAULT_TRAIN_CONFIG, dim: 128, alpha: 0, teacherInit: false };
await mineFromCentroids(train, train.labels.cols, { poolSize: 64, seed: 1, precision: 'int8', threads: 2 });
lap('first pool (centroids, int8, 2 threads)');
const student = Student.zeros(studentShapeOf(cfg, train.features.cols, train.labels.cols)).randomize(1);
lap('random student');
await mineFromStudent(student, train, { poolSize: 64, seed: 2, byLabelSet: true, precision: 'int8', threads: 2 });
lap('re-mine by label set (int8, 2 threads)');
const pts = encodePoints(student, train.features);
lap('encode points');
const { dim, numLabels } = student.shape;
for (const [int8PointIndex, pointIndexEfConstruction, threads] of [[false, 100, 2], [true, 100, 2], [false, 64, 2]] as const) {
  // the options a job with these settings builds its points index with
  const options = pointIndexOptions({ int8PointIndex, pointIndexEfConstruction });
  PointIndex.build(pts, train.features.rows, dim, options, threads);
  lap(`points index ${options.scalar} efC ${pointIndexEfConstruction} on ${threads} threads`);
}
LabelIndex.build(student.V, numLabels, dim, { M: PUBLISHED_INDEX_M, efConstruction: DEFAULT_TRAIN_CONFIG.labelIndexEfConstruction, seed: 1 });
lap('label index alone (hnswlib, efC 200, 1 thread)');
