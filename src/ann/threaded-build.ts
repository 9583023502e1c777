/**
 * Several HNSW indexes built at once, each by its own worker thread (hnswlib-node has no
 * multi-threaded add, so one index cannot use two cores; two indexes can). Used for a model's
 * published indexes: the label index and the training-point index. Each worker saves its index to
 * a scratch file that is loaded back here, so the result is the same graph, bit for bit, as
 * LabelIndex.build on this thread, and the model directory's format does not change.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DistilxrError } from '../core/util/errors.js';
import { runModuleWorkerOnce } from '../core/util/module-worker.js';
import { sharedFloats } from '../core/util/shared-arrays.js';
import { LabelIndex, type LabelIndexBuildOptions } from './hnsw-index.js';

export interface IndexSpec {
  /** [count, dim] */
  vectors: Float32Array;
  count: number;
  dim: number;
  options: Required<Pick<LabelIndexBuildOptions, 'M' | 'efConstruction' | 'seed'>>;
}

/** workerData of index-build-worker. */
export interface IndexBuildJob {
  vectors: SharedArrayBuffer;
  count: number;
  dim: number;
  M: number;
  efConstruction: number;
  seed: number;
  path: string;
}

export type IndexBuildReply = { type: 'saved'; seconds: number } | { type: 'error'; message: string };

/** Below this many vectors in all, starting the threads costs more than the overlap saves. */
export const THREADED_BUILD_MIN_VECTORS = 50_000;

/**
 * Builds every spec's index; with `threads` (the caller has more than one core) and more than one
 * spec of minVectors in all, each in its own worker thread at once, else one after the other here.
 */
export async function buildIndexes(specs: IndexSpec[], threads: boolean, minVectors = THREADED_BUILD_MIN_VECTORS): Promise<LabelIndex[]> {
  const total = specs.reduce((s, x) => s + x.count, 0);
  if (!threads || specs.length < 2 || total < minVectors) return specs.map((s) => LabelIndex.build(s.vectors, s.count, s.dim, s.options));
  const dir = await mkdtemp(join(tmpdir(), 'distilxr-index-'));
  try {
    return await Promise.all(specs.map((s, i) => buildInThread(s, join(dir, `index-${i}.bin`))));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function buildInThread(spec: IndexSpec, path: string): Promise<LabelIndex> {
  const shared = sharedFloats(spec.vectors.subarray(0, spec.count * spec.dim)).buffer as SharedArrayBuffer;
  const job: IndexBuildJob = { vectors: shared, count: spec.count, dim: spec.dim, ...spec.options, path };
  const reply = await runModuleWorkerOnce<IndexBuildReply>(import.meta.url, 'index-build-worker', job);
  if (reply.type === 'error') throw new DistilxrError(`index build worker: ${reply.message}`, 'INDEX_BUILD', 'permanent');
  return LabelIndex.load(path, spec.dim, spec.count);
}
