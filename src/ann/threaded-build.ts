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
import { runModuleWorker } from '../core/util/module-worker.js';
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

export type IndexBuildReply = { type: 'building' } | { type: 'saved'; seconds: number } | { type: 'error'; message: string };

/** Below this many vectors in all, starting a thread costs more than the overlap saves. */
export const THREADED_BUILD_MIN_VECTORS = 50_000;

/** A label index being built in a worker thread. */
export interface ThreadedBuild {
  /**
   * Resolves once the worker has loaded its modules and is building. Wait for it before blocking
   * this thread (a long native call): under tsx the worker's module loading needs this thread's
   * event loop, so a worker started just before such a call only begins when the call returns.
   */
  building: Promise<void>;
  index: Promise<LabelIndex>;
}

/**
 * Builds the spec's index in a worker thread (the same graph as LabelIndex.build here), so this
 * thread can do other work meanwhile. The worker saves it to `keepAt` (the caller's, left there:
 * the index's `file`, for other threads to load) or to a scratch file removed once loaded.
 */
export function buildIndexInThread(spec: IndexSpec, keepAt?: string): ThreadedBuild {
  let building!: () => void;
  const started = new Promise<void>((resolve) => {
    building = resolve;
  });
  const index = (async () => {
    const dir = keepAt === undefined ? await mkdtemp(join(tmpdir(), 'distilxr-index-')) : null;
    try {
      const path = keepAt ?? join(dir!, 'index.bin');
      const shared = sharedFloats(spec.vectors.subarray(0, spec.count * spec.dim)).buffer as SharedArrayBuffer;
      const job: IndexBuildJob = { vectors: shared, count: spec.count, dim: spec.dim, ...spec.options, path };
      const answers = (m: IndexBuildReply): boolean => {
        if (m.type !== 'building') return true;
        building();
        return false;
      };
      const reply = await runModuleWorker<IndexBuildReply>(import.meta.url, 'index-build-worker', job, answers);
      if (reply.type === 'error') throw new DistilxrError(`index build worker: ${reply.message}`, 'INDEX_BUILD', 'permanent');
      return await LabelIndex.load(path, spec.dim, spec.count);
    } finally {
      building(); // a worker that failed before building releases its waiter too
      if (dir) await rm(dir, { recursive: true, force: true });
    }
  })();
  return { building: started, index };
}
