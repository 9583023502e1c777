/**
 * Exact top-k split by queries over worker threads: each thread runs exactTopK on a contiguous
 * slice of the queries, so every query's result is the one exactTopK gives on this thread. Used by
 * evaluation, whose exact search over every label is the largest part of the evaluating stage on
 * large label sets (apt-files: 17k test points × 57k labels).
 */
import { DistilxrError } from '../core/util/errors.js';
import { runModuleWorkerOnce } from '../core/util/module-worker.js';
import { sharedFloats } from '../core/util/shared-arrays.js';
import { exactTopK } from './exact-search.js';

/** workerData of exact-search-worker: queries [q0, q1) of the shared arrays. */
export interface ExactSliceJob {
  vectors: SharedArrayBuffer;
  count: number;
  dim: number;
  queries: SharedArrayBuffer;
  q0: number;
  q1: number;
  k: number;
  labels: SharedArrayBuffer;
  scores: SharedArrayBuffer;
}

/** Below this many query × label pairs one thread answers sooner than starting more. */
export const THREADED_EXACT_MIN_PAIRS = 50_000_000;

function shared(a: Float32Array, length: number): SharedArrayBuffer {
  return sharedFloats(a.subarray(0, length)).buffer as SharedArrayBuffer;
}

/** exactTopK (no exclusions) over `threads` threads; the same labels and scores, bit for bit. */
export async function exactTopKThreaded(vectors: Float32Array, count: number, dim: number, queries: Float32Array, n: number, k: number, threads: number, minPairs = THREADED_EXACT_MIN_PAIRS): Promise<{ labels: Int32Array; scores: Float32Array }> {
  const t = Math.min(threads, n);
  if (t <= 1 || n * count < minPairs) return exactTopK(vectors, count, dim, queries, n, k);
  const base = { vectors: shared(vectors, count * dim), count, dim, queries: shared(queries, n * dim), k, labels: new SharedArrayBuffer(Math.max(1, n * k) * 4), scores: new SharedArrayBuffer(Math.max(1, n * k) * 4) };
  const slices = Array.from({ length: t }, (_, i) => ({ ...base, q0: Math.floor((i * n) / t), q1: Math.floor(((i + 1) * n) / t) }));
  await Promise.all(slices.map((job) => runSlice(job)));
  return { labels: new Int32Array(base.labels, 0, n * k).slice(), scores: new Float32Array(base.scores, 0, n * k).slice() };
}

async function runSlice(job: ExactSliceJob): Promise<void> {
  const reply = await runModuleWorkerOnce<{ ok: boolean; message?: string }>(import.meta.url, 'exact-search-worker', job);
  if (!reply.ok) throw new DistilxrError(`exact search worker: ${reply.message}`, 'EXACT_SEARCH', 'permanent');
}
