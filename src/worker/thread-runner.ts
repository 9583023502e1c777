import { CancelledError, DistilxrError, OutOfMemoryError } from '../core/util/errors.js';
import { spawnModuleWorker } from '../core/util/module-worker.js';
import type { TeacherFitResult } from '../pipeline/fit-teacher.js';
import type { TrainJobResult } from '../pipeline/train-job.js';
import type { ThreadError, ThreadInput, ThreadMessage, ThreadTask } from './thread-protocol.js';

/** Messages other than the final done/error, as the thread sends them. */
export type ThreadEvent = Exclude<ThreadMessage, { type: 'done' } | { type: 'error' }>;

export interface PipelineThread {
  /** Resolves with the pipeline's result; rejects with the thread's error, rebuilt (see errorFromThread). */
  readonly result: Promise<TrainJobResult | TeacherFitResult>;
  /** Kills the thread at once (checkpoints are written by rename, so none is ever half-written). */
  terminate(): Promise<void>;
}

/** Rebuilds a thread's error so `instanceof CancelledError` / `DistilxrError` and its kind still steer the job. */
export function errorFromThread(e: ThreadError): Error {
  let err: Error;
  if (e.code === 'CANCELLED') err = new CancelledError(e.message);
  else if (e.code !== null) err = new DistilxrError(e.message, e.code, e.kind);
  else err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/**
 * Starts one job's pipeline in a worker_thread; `onEvent` receives its stage/progress/epoch/log
 * messages in order. `heapLimitMb` caps the thread's JavaScript heap: past it V8 stops the thread
 * (ERR_WORKER_OUT_OF_MEMORY) instead of the whole process growing until the system kills it.
 */
export function startPipelineThread(task: ThreadTask, stop: SharedArrayBuffer, onEvent: (e: ThreadEvent) => void, heapLimitMb?: number): PipelineThread {
  const limits = heapLimitMb ? { maxOldGenerationSizeMb: heapLimitMb } : undefined;
  const worker = spawnModuleWorker(import.meta.url, 'pipeline-thread', { task, stop } satisfies ThreadInput, limits);
  const result = new Promise<TrainJobResult | TeacherFitResult>((resolve, reject) => {
    let settled = false;
    worker.on('message', (m: ThreadMessage) => {
      if (m.type === 'done') {
        settled = true;
        resolve(m.result);
      } else if (m.type === 'error') {
        settled = true;
        reject(errorFromThread(m.error));
      } else {
        try {
          onEvent(m);
        } catch {
          // a failing observer must not take the pipeline down
        }
      }
    });
    worker.on('error', (e: Error & { code?: string }) => {
      if (settled) return;
      settled = true;
      if (e.code !== 'ERR_WORKER_OUT_OF_MEMORY') reject(e);
      else reject(new OutOfMemoryError(`the job ran out of memory (${heapLimitMb ? `limit ${heapLimitMb} MB of JavaScript heap, JOB_MAX_MEMORY_MB` : "V8's default JavaScript heap limit"})`));
    });
    worker.on('exit', (code) => {
      if (settled) return;
      settled = true;
      reject(new Error(`pipeline thread exited with code ${code} before finishing`));
    });
  });
  return {
    result,
    terminate: async () => {
      await worker.terminate();
    },
  };
}
