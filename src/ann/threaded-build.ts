/**
 * An HNSW label index built in a worker thread (hnswlib-node has no multi-threaded add), while the
 * caller's thread builds the training points' index beside it. The worker saves the index to a
 * scratch file that is loaded back here, so the result is the same graph, bit for bit, as
 * LabelIndex.build on this thread.
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

/** Below this many vectors in all, starting a thread costs more than the overlap saves. */
export const THREADED_BUILD_MIN_VECTORS = 50_000;

/** Builds the spec's index in a worker thread (the same graph as LabelIndex.build here), so this thread can do other work meanwhile. */
export async function buildIndexInThread(spec: IndexSpec): Promise<LabelIndex> {
  const dir = await mkdtemp(join(tmpdir(), 'distilxr-index-'));
  try {
    return await buildInThread(spec, join(dir, 'index.bin'));
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
