/**
 * The auto search's trials on worker threads, one trial per thread at a time, each trained on one
 * thread: two trials at once on two cores rather than one at a time on both (Hogwild). A trial on
 * one thread is deterministic, so the search chooses the same settings every run. Each thread
 * keeps its own score cache and first pools across its trials (trial-worker.ts); the trained
 * trials' first pool and its scores are made by one of them for all (trial-prepare.ts).
 */
import type { Worker } from 'node:worker_threads';
import type { Dataset } from '../core/data/dataset.js';
import type { LabelMap } from '../core/data/jsonl-format.js';
import type { TrainConfig } from '../core/model/train-config.js';
import { KernelMemorySlot } from '../core/simd/kernel-memory.js';
import { CancelledError, UsageError } from '../core/util/errors.js';
import { spawnModuleWorker } from '../core/util/module-worker.js';
import type { TeacherScoreCache } from '../teacher/score-cache.js';
import type { TrialOutcome, TrialRows, TrialRunner } from './auto-tune.js';
import { lastTeacherFactors, type FactorsMemo } from './teacher-init.js';

/** What every trial of one search shares: the slices, the teacher and the texts. */
export interface TrialSlices {
  trainPath: string;
  teacherPath: string;
  train: Dataset;
  heldOut: Dataset;
  labelMap?: LabelMap;
  /** The slices' texts, for a text teacher. */
  texts?: { train: readonly string[]; test: readonly string[] };
  teacherThreads?: number;
}

/** The texts of a search's two slices, cut from the training file's (text teachers). */
export function sliceTexts(texts: readonly string[] | null, rows: TrialRows): Pick<TrialSlices, 'texts'> {
  return texts ? { texts: { train: rows.train.map((r) => texts[r]), test: rows.heldOut.map((r) => texts[r]) } } : {};
}

/** What trials of one search made that later ones reuse (the same rows, the same teacher). */
export interface TrialMemo {
  scores: Map<number, TeacherScoreCache>;
  pools: Map<string, Int32Array>;
  /** The trials' training memory, reused from one to the next (they run one at a time per memo). */
  kernelMemory: KernelMemorySlot;
}

export function newTrialMemo(): TrialMemo {
  return { scores: new Map(), pools: new Map(), kernelMemory: new KernelMemorySlot() };
}

/** A first pool and its scores, as one trial thread posts them to the others (trial-prepare.ts). */
export interface PreparedFirstPool {
  key: string;
  labels: Int32Array;
  /** What the scores were divided by: the key of TrialMemo.scores. */
  temperature: number;
  /** TeacherScoreCache.serialize() of the positives' and the pool's scores. */
  scores: Uint8Array;
}

/**
 * `stop`: the lane's flag, read by its thread at every batch: the id of a trial to stop (an abort
 * signal of the runner), -1 for none. Shared memory, since a training thread reads no messages.
 */
export type TrialRequest =
  | { type: 'slices'; slices: TrialSlices; stop: Int32Array }
  | { type: 'factors'; factors: FactorsMemo | null }
  | { type: 'trial'; id: number; config: TrainConfig }
  | { type: 'prepare'; id: number; config: TrainConfig }
  | { type: 'adopt'; prepared: PreparedFirstPool };
export type TrialReply =
  | { type: 'started' }
  | { type: 'done'; id: number; outcome: TrialOutcome }
  | { type: 'prepared'; id: number; prepared: PreparedFirstPool | null }
  | { type: 'failed'; id: number; message: string; usage: boolean; cancelled: boolean };

interface Lane {
  worker: Worker;
  busy: boolean;
  stop: Int32Array;
  /** The request the thread works on, until it answers (or exits). */
  current: { id: number; answered: Promise<void>; answer: () => void } | null;
}

/** How often a busy pool asks shouldStop, ms. */
const STOP_POLL_MS = 200;
/**
 * How long close() waits for a busy thread to answer before ending it anyway, ms: a trial stops at
 * its next batch, a first pool in the making (mining and scoring) is let finish.
 */
const CLOSE_WAIT_MS = 60_000;

export class TrialPool {
  private readonly lanes: Lane[];
  private readonly pending = new Map<number, { resolve: (answer: TrialOutcome | PreparedFirstPool | null) => void; reject: (e: Error) => void }>();
  private readonly waiting: (() => void)[] = [];
  private readonly started: Promise<void>;
  private sliced = false;
  private factorsSent = false;
  private nextId = 0;
  private readonly stopPoll: NodeJS.Timeout;
  private failure: Error | null = null;
  private onFailure: (e: Error) => void = () => undefined;
  private readonly failed = new Promise<never>((_, reject) => {
    this.onFailure = reject;
  });
  private closed = false;

  /**
   * `size` trials at once, each on a new thread; this thread only hands them out, so a thread that
   * ends a trial gets the next at once (a trial run here as well blocked that hand-out for up to an
   * epoch: Delicious 14.6 against 13.6 s, debtags 64.5 against 62.7 s, bench/results/auto-jobs-2w.json).
   * `texts`: the training file's texts, from which the slices' are cut (a text teacher); null for
   * other teachers.
   */
  constructor(
    readonly size: number,
    private readonly job: Pick<TrialSlices, 'trainPath' | 'labelMap' | 'teacherThreads'>,
    private readonly texts: readonly string[] | null,
    private readonly shouldStop: () => boolean = () => false,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a trial pool needs at least one thread, got ${size}`);
    const starts: Promise<void>[] = [];
    this.lanes = Array.from({ length: size }, () => {
      const worker = spawnModuleWorker(import.meta.url, 'trial-worker', {});
      const lane: Lane = { worker, busy: false, stop: new Int32Array(new SharedArrayBuffer(4)).fill(-1), current: null };
      starts.push(new Promise<void>((resolve) => worker.once('message', () => resolve())));
      worker.on('message', (m: TrialReply) => this.onReply(lane, m));
      worker.once('error', (e) => this.fail(e instanceof Error ? e : new Error(String(e))));
      worker.once('exit', (code) => {
        lane.current?.answer();
        this.fail(new Error(`an auto trial thread exited with code ${code}`));
      });
      return lane;
    });
    this.started = Promise.all(starts).then(() => undefined);
    this.failed.catch(() => undefined); // awaited by ready() only
    this.stopPoll = setInterval(() => {
      if (this.shouldStop()) this.fail(new CancelledError());
    }, STOP_POLL_MS);
  }

  /**
   * Resolves once every thread has loaded its modules. Compiled, they load on their own while this
   * thread works; under tsx through this thread's event loop (module-worker.ts), so only once it yields.
   */
  async ready(): Promise<void> {
    await Promise.race([this.started, this.failed]);
  }

  /** Every thread gets the search's slices, once; before the first trial or the first pool's preparation. */
  sendSlices(train: Dataset, heldOut: Dataset, teacherPath: string, rows: TrialRows): void {
    if (this.sliced) return;
    const slices: TrialSlices = { ...this.job, teacherPath, train, heldOut, ...sliceTexts(this.texts, rows) };
    for (const lane of this.lanes) lane.worker.postMessage({ type: 'slices', slices, stop: lane.stop } satisfies TrialRequest);
    this.sliced = true;
  }

  /**
   * One thread mines and scores the first pool trials with `config` train on (trial-prepare.ts)
   * and the others take it, while this thread goes on (the fold-0 model's factorisation). A failure
   * is left to the trials, which then mine and score it themselves and meet it there.
   */
  prepareFirstPool(config: TrainConfig): void {
    if (!this.sliced) throw new Error('prepareFirstPool before sendSlices');
    void this.idleLane().then(async (lane) => {
      const prepared = (await this.send(lane, { type: 'prepare', id: this.nextId++, config: { ...config, threads: 1 } })) as PreparedFirstPool | null;
      if (prepared) for (const other of this.lanes) if (other !== lane) other.worker.postMessage({ type: 'adopt', prepared } satisfies TrialRequest);
    }).catch(() => undefined);
  }

  /** The search's TrialRunner: each thread gets the slices, and the teacher's factors, with the first trial. */
  readonly runner: TrialRunner = async (config, train, heldOut, teacherPath, rows, signal) => {
    this.sendSlices(train, heldOut, teacherPath, rows);
    if (!this.factorsSent) {
      const factors = lastTeacherFactors();
      for (const lane of this.lanes) lane.worker.postMessage({ type: 'factors', factors } satisfies TrialRequest);
      this.factorsSent = true;
    }
    const lane = await this.idleLane();
    const id = this.nextId++;
    const stop = (): void => {
      Atomics.store(lane.stop, 0, id);
    };
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      return (await this.send(lane, { type: 'trial', id, config: { ...config, threads: 1 } })) as TrialOutcome;
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  };

  private idleLane(): Promise<Lane> {
    if (this.failure) return Promise.reject(this.failure);
    const lane = this.lanes.find((l) => !l.busy);
    if (lane) {
      lane.busy = true;
      return Promise.resolve(lane);
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.idleLane());
  }

  /** A trial or a preparation on `lane`'s thread, answered by its reply. */
  private send(lane: Lane, request: Extract<TrialRequest, { id: number }>): Promise<TrialOutcome | PreparedFirstPool | null> {
    let answer = (): void => undefined;
    const answered = new Promise<void>((resolve) => {
      answer = resolve;
    });
    lane.current = { id: request.id, answered, answer };
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      lane.worker.postMessage(request);
    });
  }

  private release(lane: Lane): void {
    lane.busy = false;
    this.waiting.shift()?.();
  }

  private onReply(lane: Lane, m: TrialReply): void {
    if (m.type === 'started') return;
    if (lane.current?.id === m.id) {
      lane.current.answer();
      lane.current = null;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    this.release(lane);
    if (m.type === 'done') p.resolve(m.outcome);
    else if (m.type === 'prepared') p.resolve(m.prepared);
    else p.reject(m.usage ? new UsageError(m.message) : m.cancelled ? new CancelledError(m.message) : new Error(m.message));
  }

  /** Every trial in flight and every later one fails with `e`; the threads are stopped. */
  private fail(e: Error): void {
    if (this.failure || this.closed) return;
    this.failure = e;
    this.onFailure(e);
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    for (const w of this.waiting.splice(0)) w();
    void this.close();
  }

  /**
   * Ends the threads once every one has loaded its modules and none is working: a thread ended inside
   * ONNX Runtime's asynchronous work (mining, a teacher's scores) takes the whole process down
   * ("terminate called after throwing an instance of 'Napi::Error'", apt-files' default job when its
   * lone trial closed the pool), and one ended while it loads ONNX Runtime's native module is spared
   * the same way (not seen to fail; the wait is under a second). A busy thread's trial is stopped at
   * its next batch; after CLOSE_WAIT_MS, or once a thread has failed, they are ended anyway.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.stopPoll);
    const busy = this.lanes.flatMap((l) => (l.current ? [l.current.answered] : []));
    for (const lane of this.lanes) if (lane.current) Atomics.store(lane.stop, 0, lane.current.id);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    await Promise.race([Promise.all([this.started, ...busy]), this.failed.catch(() => undefined), timeout]);
    clearTimeout(timer);
    await Promise.all(this.lanes.map((l) => l.worker.terminate()));
  }
}
