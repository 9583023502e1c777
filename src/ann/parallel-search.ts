/**
 * A large batch of label-index searches on two threads: this one and a worker thread that loads the
 * index's file. hnswlib-node searches one query at a time on the calling thread, and a job's
 * evaluation asks the label index for every test query (apt-files: 17,311 at ef 400, 16.2 s of a
 * 30.5 s `distilxr eval` in a CPU profile before this; BENCHMARKS.md 0). Each query's search is the same on either thread, so the results are those of
 * LabelIndex.searchBatch, bit for bit.
 */
import { existsSync } from 'node:fs';
import { DistilxrError } from '../core/util/errors.js';
import { runStartedModuleWorker } from '../core/util/module-worker.js';
import type { LabelIndex, SearchResults } from './hnsw-index.js';

/** Below this many queries × ef, starting the thread and loading the index cost more than they save. */
export const PARALLEL_SEARCH_MIN_WORK = 1_000_000;

/** workerData of label-search-worker: search queries [from, to) into the shared outputs. */
export interface LabelSearchJob {
  path: string;
  dim: number;
  count: number;
  ef: number;
  k: number;
  from: number;
  to: number;
  queries: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  scores: SharedArrayBuffer;
}

export type LabelSearchReply = { type: 'started' } | { type: 'done' } | { type: 'error'; message: string };

/**
 * index.searchBatch(queries, n, k) at the index's ef, the second half of the queries searched in a
 * worker thread when `threads` > 1, the index has a file to load, and the batch is large enough.
 */
export async function searchBatchInThreads(index: LabelIndex, queries: Float32Array, n: number, k: number, threads: number, minWork = PARALLEL_SEARCH_MIN_WORK): Promise<SearchResults> {
  const { file, dim } = index;
  if (threads < 2 || file === null || !existsSync(file) || n * Math.max(index.ef, k) < minWork) return index.searchBatch(queries, n, k);
  const sharedQueries = new Float32Array(new SharedArrayBuffer(n * dim * 4));
  sharedQueries.set(queries.subarray(0, n * dim));
  const labels = new Int32Array(new SharedArrayBuffer(n * k * 4));
  const scores = new Float32Array(new SharedArrayBuffer(n * k * 4));
  const half = Math.floor(n / 2);
  const job: LabelSearchJob = { path: file, dim, count: index.count, ef: index.ef, k, from: half, to: n, queries: sharedQueries.buffer as SharedArrayBuffer, labels: labels.buffer as SharedArrayBuffer, scores: scores.buffer as SharedArrayBuffer };
  const helper = runStartedModuleWorker<LabelSearchReply>(import.meta.url, 'label-search-worker', job);
  await helper.started;
  for (let q = 0; q < half; q++) index.searchInto(sharedQueries, q * dim, k, labels, scores, q * k);
  const reply = await helper.answer;
  if (reply.type === 'error') throw new DistilxrError(`label search worker: ${reply.message}`, 'INDEX_SEARCH', 'permanent');
  return { labels, scores };
}
