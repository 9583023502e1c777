/**
 * Body of the worker_thread that runs one job's pipeline. Training is synchronous CPU work; here
 * it blocks only this thread, so the main thread keeps renewing the BullMQ lock and polling the
 * database for cancellation. Loaded by thread-runner.ts, never imported elsewhere.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { DistilxrError } from '../core/util/errors.js';
import { FileCheckpointStore } from '../pipeline/checkpoint.js';
import { fitTeacher, type TeacherFitResult } from '../pipeline/fit-teacher.js';
import type { ProgressSink } from '../pipeline/progress.js';
import { runTrainJob, type TrainJobResult } from '../pipeline/train-job.js';
import { ScoreFanOut } from '../pipeline/score-fan-out.js';
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
  let result: TrainJobResult | TeacherFitResult;
  if (task.kind === 'train') {
    const { kind: _train, checkpointPath, scoreFanOut: fan, ...input } = task;
    const scoreFanOut = fan ? new ScoreFanOut(
          fan,
          (chunks) => send({ type: 'score-chunks', chunks }),
          shouldStop,
          (model) => send({ type: 'score-warm', model }),
        ) : undefined;
    result = await runTrainJob({ ...input, checkpoints: new FileCheckpointStore(checkpointPath), shouldStop, scoreFanOut }, sink);
  } else {
    const { kind: _fit, ...input } = task;
    result = await fitTeacher(input, sink);
  }
  send({ type: 'done', result });
} catch (e) {
  send({ type: 'error', error: flatten(e) });
}
