/**
 * Errors carry whether a retry can help (core/util/errors.ts: ErrorKind), and the worker's retry
 * decision reads that kind (job-runner.ts: a permanent error fails the job at once, anything else
 * is retried). Bad input is permanent; a thread that died is retriable, also across the pipeline
 * thread's boundary.
 */
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ShardedLabelIndex, ShardWorkerError } from '../src/ann/sharded-index.js';
import { ArtifactIntegrityError } from '../src/core/util/checksums.js';
import { CancelledError, ContractError, DataFormatError, DistilxrError, isPermanent, NumericError, OutOfMemoryError, threadFailureKind, UsageError } from '../src/core/util/errors.js';
import { Rng } from '../src/core/util/rng.js';
import { SolverWorkerError } from '../src/teacher/ovr-pool.js';
import { errorFromThread } from '../src/worker/thread-runner.js';

describe('error kinds', () => {
  it('bad input, broken contracts, NaNs, corrupt files and out of memory are permanent', () => {
    const permanent = [
      new UsageError('--dim must be positive'),
      new DataFormatError('train.txt', 3, 'bad label'),
      new ContractError('no scores output'),
      new NumericError('NaN in epoch 2'),
      new OutOfMemoryError('over the limit'),
      new ArtifactIntegrityError('f', 'sha256 mismatch'),
      new DistilxrError('anything of ours', 'SOME_CODE'),
    ];
    for (const e of permanent) {
      expect(e.kind).toBe('permanent');
      expect(isPermanent(e)).toBe(true);
    }
  });

  it('a crashed or dead thread is retriable, and so is anything not ours', () => {
    expect(isPermanent(new ShardWorkerError('shard 0 worker exited with code 1', 'retriable'))).toBe(false);
    expect(isPermanent(new SolverWorkerError('solver thread 1 exited with code 1', 'retriable'))).toBe(false);
    expect(isPermanent(new Error('ECONNRESET'))).toBe(false);
    expect(isPermanent(new TypeError('x is undefined'))).toBe(false);
    expect(isPermanent('a string')).toBe(false);
    expect(threadFailureKind(Object.assign(new Error('boom'), { code: 'ERR_UNHANDLED' }))).toBe('retriable');
    expect(threadFailureKind(Object.assign(new Error('heap'), { code: 'ERR_WORKER_OUT_OF_MEMORY' }))).toBe('permanent');
  });

  it('keeps its kind across the pipeline thread boundary', () => {
    const retriable = errorFromThread({ name: 'ShardWorkerError', message: 'shard 1 worker exited with code 1', code: 'SHARD_WORKER', kind: 'retriable' });
    expect(retriable).toBeInstanceOf(DistilxrError);
    expect(isPermanent(retriable)).toBe(false);
    const permanent = errorFromThread({ name: 'UsageError', message: 'bad', code: 'USAGE', kind: 'permanent' });
    expect(isPermanent(permanent)).toBe(true);
    expect(errorFromThread({ name: 'CancelledError', message: 'cancelled', code: 'CANCELLED' })).toBeInstanceOf(CancelledError);
    expect(isPermanent(errorFromThread({ name: 'TypeError', message: 'x', code: null }))).toBe(false);
  });

  it('a search on an HNSW shard whose thread died fails with a retriable ShardWorkerError', async () => {
    const dim = 8;
    const count = 200;
    const rng = new Rng(3);
    const vectors = Float32Array.from({ length: count * dim }, () => rng.normal());
    const index = await ShardedLabelIndex.build(vectors, count, dim, { shards: 2 });
    try {
      // the thread dies under the index, as a crashed one would
      const threads = (index as unknown as { threads: { worker: Worker }[] }).threads;
      await threads[1].worker.terminate();
      const queries = vectors.slice(0, dim);
      const none = { rows: 1, cols: count, indptr: Int32Array.from([0, 0]), indices: new Int32Array(0), values: null };
      const err = await index.searchBatchExcluding(queries, 1, 5, none).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ShardWorkerError);
      expect((err as ShardWorkerError).kind).toBe('retriable');
      expect(isPermanent(err)).toBe(false);
    } finally {
      await index.close();
    }
  });
});
