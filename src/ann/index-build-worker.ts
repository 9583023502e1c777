/**
 * Builds one LabelIndex in its own worker thread and saves it (index file + sidecar) where the
 * parent asked; the parent loads it back. The build is LabelIndex.build's, single-threaded in row
 * order with the given seed, so the graph is the one the parent would have built itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LabelIndex } from './hnsw-index.js';
import type { IndexBuildJob, IndexBuildReply } from './threaded-build.js';

const job = workerData as IndexBuildJob;
const reply = (m: IndexBuildReply): void => parentPort!.postMessage(m);

try {
  reply({ type: 'started' });
  const t0 = performance.now();
  const vectors = new Float32Array(job.vectors, 0, job.count * job.dim);
  const index = LabelIndex.build(vectors, job.count, job.dim, { M: job.M, efConstruction: job.efConstruction, seed: job.seed });
  await index.save(job.path);
  reply({ type: 'saved', seconds: (performance.now() - t0) / 1000 });
} catch (e) {
  const err = e instanceof Error ? e : new Error(String(e));
  reply({ type: 'error', message: err.message });
}
