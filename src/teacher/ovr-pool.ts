/**
 * One-vs-rest fits spread over worker threads: every task (a fold's rows, or all rows) is cut into
 * blocks of labels that idle threads take in turn. Labels are independent and each is shuffled by
 * its own generator, so the models are the same for any number of threads.
 */
import type { Worker } from 'node:worker_threads';
import type { Csr } from '../core/data/csr.js';
import { shareCsr } from '../core/data/shared-csr.js';
import { sharedInts } from '../core/util/shared-arrays.js';
import { DistilxrError, threadFailureKind, type ErrorKind } from '../core/util/errors.js';
import { spawnModuleWorker } from '../core/util/module-worker.js';
import { fitLabelBlock, modelOfBlocks, ovrData, type LabelBlock, type LabelRows, type OvrSolverConfig } from './ovr-solver.js';
import type { SparseLinearModel } from './sparse-linear-model.js';
import type { OvrBlockRequest, OvrInit, OvrReply } from './ovr-protocol.js';

/** A model to fit: on these rows, each label on its own rows when perLabel is given. */
export interface OvrTask {
  rows: Int32Array;
  perLabel: LabelRows | null;
  seed: number;
}

/** A solver thread refused a block (permanent) or failed or died (retriable, as for ShardWorkerError). */
export class SolverWorkerError extends DistilxrError {
  constructor(message: string, kind: ErrorKind) {
    super(message, 'SOLVER_WORKER', kind);
  }
}

/** Labels per block: small enough that two threads finish together, large enough to amortise messages. */
function blockSize(numLabels: number, threads: number): number {
  return Math.max(16, Math.min(512, Math.ceil(numLabels / (threads * 16))));
}

/**
 * Fits one model per task with `threads` threads (≤ 1: in this thread). onProgress(done, total,
 * task): labels fitted over all tasks, and the first task not yet finished.
 */
export async function fitOvrTasks(
  features: Csr,
  labels: Csr,
  numLabels: number,
  tasks: OvrTask[],
  cfg: OvrSolverConfig,
  threads: number,
  onProgress: (done: number, total: number, task: number) => void,
): Promise<SparseLinearModel[]> {
  const size = blockSize(numLabels, Math.max(1, threads));
  const queue: OvrBlockRequest[] = [];
  tasks.forEach((t, task) => {
    for (let y0 = 0; y0 < numLabels; y0 += size) queue.push({ task, y0, y1: Math.min(numLabels, y0 + size), rows: t.rows, perLabel: t.perLabel, seed: t.seed });
  });
  const blocks: LabelBlock[][] = tasks.map(() => []);
  const left = tasks.map(() => numLabels);
  const total = numLabels * tasks.length;
  let done = 0;
  const finish = (req: OvrBlockRequest, block: LabelBlock): void => {
    blocks[req.task].push(block);
    left[req.task] -= req.y1 - req.y0;
    done += req.y1 - req.y0;
    onProgress(done, total, Math.max(0, left.findIndex((n) => n > 0)));
  };

  if (threads <= 1) {
    const data = ovrData(features, labels, numLabels);
    for (const req of queue) {
      finish(req, fitLabelBlock(data, req.rows, req.perLabel, { ...cfg, seed: req.seed }, req.y0, req.y1));
      await new Promise((r) => setImmediate(r)); // let progress and stop requests through
    }
  } else {
    const init: OvrInit = { features: shareCsr(features), labels: shareCsr(labels), numLabels, cfg };
    const shared = new Map<OvrTask, OvrTask>();
    for (const req of queue) {
      const t = tasks[req.task];
      if (!shared.has(t)) shared.set(t, { rows: sharedInts(t.rows), perLabel: t.perLabel && shareCsr(t.perLabel), seed: t.seed });
      const s = shared.get(t)!;
      req.rows = s.rows;
      req.perLabel = s.perLabel;
    }
    const workers = Array.from({ length: Math.min(threads, queue.length) }, () => spawnModuleWorker(import.meta.url, 'ovr-worker', init));
    try {
      await Promise.all(workers.map((w, t) => drain(w, t, queue, finish)));
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }
  return blocks.map((b) => modelOfBlocks(b, features.cols, numLabels));
}

/** Feeds blocks from the shared queue to one worker until the queue is empty. */
function drain(worker: Worker, thread: number, queue: OvrBlockRequest[], finish: (req: OvrBlockRequest, block: LabelBlock) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let current: OvrBlockRequest | undefined;
    const next = (): void => {
      current = queue.shift();
      if (current) worker.postMessage(current);
      else resolve();
    };
    worker.on('message', (m: OvrReply) => {
      if (m.type === 'error') return reject(new SolverWorkerError(`solver thread ${thread}: ${m.message}`, 'permanent'));
      finish(current!, m.block);
      next();
    });
    worker.on('error', (e) => reject(new SolverWorkerError(`solver thread ${thread} failed: ${e.message}`, threadFailureKind(e))));
    worker.on('exit', (code) => current && reject(new SolverWorkerError(`solver thread ${thread} exited with code ${code}`, 'retriable')));
    next();
  });
}
