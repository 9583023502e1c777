/**
 * A StudentTrainer's epochs on several worker threads that share its parameters, Hogwild-style
 * (Recht et al. 2011; fastText trains the same way): W1, V and their Adagrad accumulators live in
 * SharedArrayBuffers, each thread trains a disjoint slice of the epoch's order with its own
 * sampling stream and scratch buffers, and concurrent updates of a row are allowed to race.
 * Sparse updates rarely collide, so the result is as good as a serial run, but not bit for bit
 * reproducible: threads = 1 (StudentTrainer.trainEpoch in the caller's thread) is the
 * deterministic mode.
 */
import type { Worker } from 'node:worker_threads';
import { shareCsr } from '../data/shared-csr.js';
import { CancelledError, DistilxrError, NumericError, threadFailureKind, type ErrorKind } from '../util/errors.js';
import { fmix32 } from '../util/hash.js';
import { spawnModuleWorker } from '../util/module-worker.js';
import { threadCount } from '../util/threads.js';
import { isShared, sharedFloats, sharedInts } from '../util/shared-arrays.js';
import type { HogwildInit, HogwildMessage, HogwildReply, HogwildSlice } from './hogwild-protocol.js';
import { epochStats, type EpochProgress, type EpochStats, type LossSums, type NegativePool, type StudentTrainer } from './trainer.js';

/** A training thread failed or died (retriable), or refused its slice for a reason not ours (permanent). */
export class TrainingThreadError extends DistilxrError {
  constructor(message: string, kind: ErrorKind) {
    super(message, 'TRAINING_THREAD', kind);
  }
}

/**
 * The threads a training run uses: `threads`, or one per core when 0; never more than there are
 * whole batches, so each thread has at least one.
 */
export function trainingThreads(threads: number, rows: number, batchSize: number): number {
  return Math.max(1, Math.min(threadCount(threads), Math.floor(rows / batchSize)));
}

/** Thread t's sampling seed for an epoch: distinct streams, fixed by the seed (the interleaving is not). */
function sliceSeed(seed: number, epoch: number, thread: number): number {
  return fmix32(fmix32((seed ^ 0x5eed) + Math.imul(epoch, 0x9e3779b9)) + thread) >>> 0;
}

/**
 * Training threads of ended runs, kept for the next one: starting a thread costs about half a
 * second under tsx (Bibtex's first epoch 0.83 s against 0.26 s for the next; 0.28 s with a kept
 * thread: bench:auto-jobs' logs, BENCHMARKS.md 0), and an --auto job
 * runs seven trainings. Kept unref'd (they never hold the process open), at most one per core.
 */
const idle: Worker[] = [];

function keepIdle(w: Worker): boolean {
  if (idle.length >= threadCount(0)) return false;
  w.postMessage({ type: 'release' } satisfies HogwildMessage); // drops the run's arrays
  w.unref();
  idle.push(w);
  return true;
}

/** Training threads kept from earlier runs. */
export function idleTrainingThreads(): number {
  return idle.length;
}

/**
 * Starts training threads with no run yet and keeps them, up to `n` kept: a job that trains on
 * threads after a phase without (--auto's trials on one thread each) has them load meanwhile,
 * not when its training starts.
 */
export function warmTrainingThreads(n: number): void {
  while (idle.length < Math.min(n, threadCount(0))) {
    const w = spawnTrainingThread(null);
    w.unref();
    idle.push(w);
  }
}

/** Ends the kept training threads (the next run starts new ones). */
export async function endIdleTrainingThreads(): Promise<void> {
  await Promise.all(idle.splice(0).map((w) => w.terminate()));
}

export class HogwildTrainer {
  private workers: Worker[] | null = null;
  /** A thread failed or died in this run: none of them is kept. */
  private broken = false;
  private readonly init: HogwildInit;
  private poolSource: NegativePool | null = null;
  private pool: NegativePool | null = null;
  private scoresSource: Float32Array | null = null;
  private scores: Float32Array | null = null;

  /** The trainer's student and optimizer state must be in shared memory (trainingParameters, trainerFor). */
  constructor(
    readonly trainer: StudentTrainer,
    readonly threads: number,
  ) {
    const { student } = trainer;
    const opt = trainer.optimizerState();
    if (![student.W1, student.V, opt.w1, opt.v].every(isShared)) throw new Error('Hogwild training needs the parameters and optimizer state in shared memory');
    this.init = {
      shape: student.shape,
      W1: student.W1,
      V: student.V,
      accumW1: opt.w1,
      accumV: opt.v,
      kernelMemory: trainer.kernelMemory?.memory ?? null,
      features: shareCsr(trainer.features),
      labels: shareCsr(trainer.labels),
      config: trainer.config,
      order: sharedInts(new Int32Array(trainer.features.rows)),
      stop: new Int32Array(new SharedArrayBuffer(4)),
    };
  }

  /**
   * One pass over the data on every thread; the order is the trainer's (its generator shuffles it,
   * so checkpoints hold it as in serial runs). shouldStop is polled at each progress report (about
   * every 100 ms): true stops every thread at its next batch boundary with a CancelledError. A NaN
   * in any thread stops the others and raises its NumericError.
   */
  async trainEpoch(epoch: number, onProgress?: EpochProgress, shouldStop?: () => boolean): Promise<EpochStats> {
    const started = performance.now();
    if (shouldStop?.()) throw new CancelledError(`cancelled during epoch ${epoch}`);
    const order = this.trainer.shuffledOrder();
    this.init.order.set(order);
    const { stop } = this.init;
    Atomics.store(stop, 0, 0);
    const workers = this.start();
    const T = workers.length;
    const N = order.length;
    const { pool, positiveScores } = this.samplingInputs();
    const done = new Float64Array(T);
    const lossSums = new Float64Array(T);
    const report = (t: number, d: number, loss: number): void => {
      done[t] = d;
      lossSums[t] = loss;
      if (shouldStop?.()) Atomics.store(stop, 0, 1);
      const total = done.reduce((a, b) => a + b, 0);
      if (onProgress && total > 0) onProgress(total, N, lossSums.reduce((a, b) => a + b, 0) / total);
    };
    const slices = workers.map((w, t) => {
      const slice: HogwildSlice = { epoch, s0: Math.floor((t * N) / T), s1: Math.floor(((t + 1) * N) / T), seed: sliceSeed(this.init.config.seed, epoch, t), pool, positiveScores };
      return this.runSlice(w, t, slice, report).catch((e: unknown) => {
        Atomics.store(stop, 0, 1); // the others stop at their next batch
        throw e;
      });
    });
    const results = await Promise.allSettled(slices);
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length) throw failures.find((e) => e instanceof NumericError) ?? failures.find((e) => !(e instanceof CancelledError)) ?? new CancelledError(`cancelled during epoch ${epoch}`);
    const sums: LossSums = { loss: 0, ce: 0, kl: 0, examples: 0 };
    for (const r of results) {
      if (r.status !== 'fulfilled') continue;
      sums.loss += r.value.loss;
      sums.ce += r.value.ce;
      sums.kl += r.value.kl;
      sums.examples += r.value.examples;
    }
    // threads report every ~100 ms: an epoch shorter than that would otherwise show no progress at all
    if (onProgress && sums.examples > 0) onProgress(sums.examples, N, sums.loss / sums.examples);
    return epochStats(epoch, sums, (performance.now() - started) / 1000);
  }

  /** Ends the run: its threads are kept for the next run (or ended), the parameters stay in the trainer's student. */
  async close(): Promise<void> {
    const workers = this.workers ?? [];
    this.workers = null;
    await Promise.all(workers.filter((w) => this.broken || !keepIdle(w)).map((w) => w.terminate()));
  }

  /** The threads, kept ones first, started on the first epoch and kept for the next ones. */
  private start(): Worker[] {
    this.workers ??= Array.from({ length: this.threads }, () => {
      const kept = idle.pop();
      if (!kept) return spawnTrainingThread(this.init);
      kept.ref();
      kept.postMessage({ type: 'init', init: this.init } satisfies HogwildMessage);
      return kept;
    });
    return this.workers;
  }

  /** The trainer's pool and positive scores in shared memory, copied once per new pool. */
  private samplingInputs(): { pool: NegativePool | null; positiveScores: Float32Array | null } {
    const { pool, positiveScores } = this.trainer.samplingInputs();
    if (pool !== this.poolSource) {
      this.poolSource = pool;
      this.pool = pool && { size: pool.size, labels: sharedInts(pool.labels), teacherScores: pool.teacherScores && sharedFloats(pool.teacherScores) };
    }
    if (positiveScores !== this.scoresSource) {
      this.scoresSource = positiveScores;
      this.scores = positiveScores && sharedFloats(positiveScores);
    }
    return { pool: this.pool, positiveScores: this.scores };
  }

  /** Sends one slice to thread t; resolves with its loss sums. */
  private runSlice(worker: Worker, t: number, slice: HogwildSlice, report: (t: number, done: number, lossSum: number) => void): Promise<LossSums> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: HogwildReply): void => {
        if (m.type === 'progress') {
          report(t, m.done, m.lossSum);
          return;
        }
        detach();
        if (m.type === 'done') resolve(m.sums);
        else if (m.error === 'numeric') reject(new NumericError(m.message));
        else if (m.error === 'cancelled') reject(new CancelledError(m.message));
        else reject(new TrainingThreadError(`training thread ${t}: ${m.message}`, 'permanent'));
      };
      const onError = (e: Error): void => {
        this.broken = true;
        detach();
        reject(new TrainingThreadError(`training thread ${t} failed: ${e.message}`, threadFailureKind(e)));
      };
      const onExit = (code: number): void => {
        this.broken = true;
        detach();
        reject(new TrainingThreadError(`training thread ${t} exited with code ${code}`, 'retriable'));
      };
      const detach = (): void => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ type: 'slice', ...slice } satisfies HogwildMessage);
    });
  }
}

/** A new training thread (`init` null: none yet, a run sends it); one that dies while kept leaves the pool. */
function spawnTrainingThread(init: HogwildInit | null): Worker {
  const w = spawnModuleWorker(import.meta.url, 'hogwild-worker', { init });
  w.on('exit', () => {
    const i = idle.indexOf(w);
    if (i >= 0) idle.splice(i, 1);
  });
  return w;
}
