/**
 * One slice of a threaded exact search (exact-search-threads.ts): exactTopK over its queries,
 * written into the shared result arrays. Runs once and exits.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { exactTopK } from './exact-search.js';
import type { ExactSliceJob } from './exact-search-threads.js';

const job = workerData as ExactSliceJob;
try {
  const vectors = new Float32Array(job.vectors, 0, job.count * job.dim);
  const queries = new Float32Array(job.queries, job.q0 * job.dim * 4, (job.q1 - job.q0) * job.dim);
  const { labels, scores } = exactTopK(vectors, job.count, job.dim, queries, job.q1 - job.q0, job.k);
  new Int32Array(job.labels, job.q0 * job.k * 4, labels.length).set(labels);
  new Float32Array(job.scores, job.q0 * job.k * 4, scores.length).set(scores);
  parentPort!.postMessage({ ok: true });
} catch (e) {
  parentPort!.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) });
}
