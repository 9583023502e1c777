/**
 * An HNSW label index built in a worker thread (hnswlib-node has no multi-threaded add), while the
 * caller's thread builds the training points' index beside it. The worker saves the index to a
 * scratch file that is loaded back here, so the result is the same graph, bit for bit, as
 * LabelIndex.build on this thread.
 */
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DistilxrError } from '../core/util/errors.js';
import { runStartedModuleWorker } from '../core/util/module-worker.js';
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

export type IndexBuildReply = { type: 'started' } | { type: 'saved'; seconds: number } | { type: 'error'; message: string };

/** Below this many vectors in all, starting a thread costs more than the overlap saves. */
export const THREADED_BUILD_MIN_VECTORS = 50_000;

/** A label index being built in a worker thread. */
export interface ThreadedBuild {
  /** Resolves true once the worker is building, false if it ended first (StartedWorker.started: await it before blocking this thread). */
  building: Promise<boolean>;
  index: Promise<LabelIndex>;
}

/**
 * Builds the spec's index in a worker thread (the same graph as LabelIndex.build here), so this
 * thread can do other work meanwhile. The worker saves it to `keepAt` (the caller's, left there:
 * the index's `file`, for other threads to load) or to a scratch file removed once loaded.
 */
export function buildIndexInThread(spec: IndexSpec, keepAt?: string): ThreadedBuild {
  const dir = keepAt === undefined ? mkdtempSync(join(tmpdir(), 'distilxr-index-')) : null;
  const path = keepAt ?? join(dir!, 'index.bin');
  const shared = sharedFloats(spec.vectors.subarray(0, spec.count * spec.dim)).buffer as SharedArrayBuffer;
  const job: IndexBuildJob = { vectors: shared, count: spec.count, dim: spec.dim, ...spec.options, path };
  const worker = runStartedModuleWorker<IndexBuildReply>(import.meta.url, 'index-build-worker', job);
  const index = (async () => {
    try {
      const reply = await worker.answer;
      if (reply.type === 'error') throw new DistilxrError(`index build worker: ${reply.message}`, 'INDEX_BUILD', 'permanent');
      return await LabelIndex.load(path, spec.dim, spec.count);
    } finally {
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  })();
  index.catch(() => {}); // the caller awaits it later; handled here in case it fails while the caller is busy
  return { building: worker.started, index };
}
