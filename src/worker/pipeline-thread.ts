/**
 * Body of the worker_thread that runs one job's pipeline. Training is synchronous CPU work; here
 * it blocks only this thread, so the main thread keeps renewing the BullMQ lock and polling the
 * database for cancellation. Loaded by thread-runner.ts, never imported elsewhere.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DistilxrError } from '../core/util/errors.js';
import { FileCheckpointStore } from '../pipeline/checkpoint.js';
import { fitTeacher } from '../pipeline/fit-teacher.js';
import type { ProgressSink } from '../pipeline/progress.js';
import { runTrainJob } from '../pipeline/train-job.js';
import { STOP_NONE, type ThreadError, type ThreadInput, type ThreadMessage } from './thread-protocol.js';

/** Progress ticks come per batch; the parent needs a few per second at most. */
const PROGRESS_EVERY_MS = 100;

const port = parentPort;
if (!port) throw new Error('pipeline-thread.ts must run in a worker_thread');
const { task, stop } = workerData as ThreadInput;
const stopFlag = new Int32Array(stop);
const send = (m: ThreadMessage): void => port.postMessage(m);

let lastProgress = 0;
const sink: ProgressSink = {
  stage: (stage, detail) => send({ type: 'stage', stage, detail }),
  progress: (done, total, info) => {
    const now = performance.now();
    if (done < total && now - lastProgress < PROGRESS_EVERY_MS) return;
    lastProgress = now;
    send({ type: 'progress', done, total, info });
  },
  epoch: (stats) => send({ type: 'epoch', stats }),
  log: (message) => send({ type: 'log', message }),
};
const shouldStop = (): boolean => Atomics.load(stopFlag, 0) !== STOP_NONE;

function flatten(e: unknown): ThreadError {
  if (e instanceof DistilxrError) return { name: e.name, message: e.message, code: e.code, kind: e.kind, stack: e.stack };
  if (e instanceof Error) return { name: e.name, message: e.message, code: null, stack: e.stack };
  return { name: 'Error', message: String(e), code: null };
}

try {
  const result =
    task.kind === 'train'
      ? await runTrainJob(
          {
            trainPath: task.trainPath,
            testPath: task.testPath,
            teacherPath: task.teacherPath,
            outDir: task.outDir,
            config: task.config,
            featurizer: task.featurizer,
            cacheDir: task.cacheDir,
            teacherThreads: task.teacherThreads,
            checkpoints: new FileCheckpointStore(task.checkpointPath),
            shouldStop,
            auto: task.auto,
            crossFit: task.crossFit,
            labelNames: task.labelNames,
          },
          sink,
        )
      : await fitTeacher(
          { trainPath: task.trainPath, testPath: task.testPath, outPath: task.outPath, config: task.config, featurizer: task.featurizer, cacheDir: task.cacheDir },
          sink,
        );
  send({ type: 'done', result });
} catch (e) {
  send({ type: 'error', error: flatten(e) });
}
