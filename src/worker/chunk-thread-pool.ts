/**
 * The threads that score a worker's chunks, kept between chunks: a thread keeps the last job's
 * training features and ONNX model loaded, so a job's next chunk on this worker starts at once
 * (spawning a thread, loading the features and the model took about a second per chunk, as long
 * as a chunk's scoring on a mid-sized teacher). One thread per chunk running at once; a thread
 * left idle for `idleMs` goes, with what it held.
 */
import type { Worker } from 'node:worker_threads';
import { spawnModuleWorker } from '../core/util/module-worker.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';

/** What a chunk thread loads for a job's chunks: its training features and a model (plain data: it crosses postMessage). */
export interface ChunkSource {
  trainPath: string;
  featurizer?: FeaturizerOptions;
  cacheDir: string | false;
  /** The teacher's ONNX file, or its text bundle's folder (with `text`). */
  modelPath: string;
  /** modelPath is a text teacher's bundle: the thread reads the training texts, not their features. */
  text?: boolean;
  teacherThreads?: number;
}

/** What a chunk thread gets per chunk. */
export interface ChunkThreadInput extends ChunkSource {
  inPath: string;
  outPath: string;
}

/** A chunk thread's messages in: a chunk, a warm-up (load a source, score nothing), or forget what it holds. */
export type ChunkThreadRequest = ChunkThreadInput | { type: 'warm'; source: ChunkSource } | { type: 'forget' };

/** done.warm: the thread held (or was loading) the chunk's features and model when it came. */
export type ChunkThreadMessage = { type: 'done'; pairs: number; warm: boolean } | { type: 'error'; name: string; message: string; permanent: boolean };

interface PoolThread {
  worker: Worker;
  /** Kept while idle (the first thread, started with the pool); what it holds is still dropped. */
  warm: boolean;
  busy: boolean;
  idleTimer: NodeJS.Timeout | null;
  /** Settles the chunk it scores now. */
  settle: ((m: ChunkThreadMessage | Error) => void) | null;
}

export class ChunkThreadPool {
  private readonly threads = new Set<PoolThread>();

  /**
   * @param opts.warm start one thread now, kept while idle: loading the code and ONNX Runtime into
   *   a thread takes seconds under tsx, which the first chunk of a job would otherwise wait for
   */
  constructor(private readonly opts: { heapLimitMb?: number; idleMs?: number; warm?: boolean } = {}) {
    if (opts.warm) this.spawn().warm = true;
  }

  /** Scores one chunk on an idle thread (a new one when none is); an abort terminates its thread. */
  run(input: ChunkThreadInput, signal?: AbortSignal): Promise<ChunkThreadMessage> {
    // the warm thread first: it has loaded the code already
    const idle = [...this.threads].filter((x) => !x.busy);
    const t = idle.find((x) => x.warm) ?? idle[0] ?? this.spawn();
    t.busy = true;
    if (t.idleTimer) clearTimeout(t.idleTimer);
    t.idleTimer = null;
    return new Promise<ChunkThreadMessage>((resolve, reject) => {
      const onAbort = (): void => {
        t.settle?.(new Error(`score chunk stopped: ${String(signal?.reason ?? 'aborted')}`));
        this.drop(t);
      };
      t.settle = (m) => {
        t.settle = null;
        signal?.removeEventListener('abort', onAbort);
        t.busy = false;
        this.idleLater(t);
        if (m instanceof Error) reject(m);
        else resolve(m);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort);
      t.worker.postMessage(input satisfies ChunkThreadRequest);
    });
  }

  /**
   * Loads `source` into an idle thread (the warm one first) so the job's first chunk here starts
   * at once; with every thread busy, nothing (the chunk loads it then). Forgotten after idleMs.
   */
  warm(source: ChunkSource): void {
    const idle = [...this.threads].filter((x) => !x.busy);
    const t = idle.find((x) => x.warm) ?? idle[0];
    if (!t) return;
    t.worker.postMessage({ type: 'warm', source } satisfies ChunkThreadRequest);
    this.idleLater(t);
  }

  /** Terminates every thread (a chunk still running fails). */
  async close(): Promise<void> {
    await Promise.all([...this.threads].map((t) => this.drop(t)));
  }

  /** After idleMs without a chunk, `t` forgets what it holds (the warm thread) or goes. */
  private idleLater(t: PoolThread): void {
    if (t.idleTimer) clearTimeout(t.idleTimer);
    t.idleTimer = null;
    if (!this.threads.has(t)) return;
    t.idleTimer = setTimeout(() => (t.warm ? t.worker.postMessage({ type: 'forget' } satisfies ChunkThreadRequest) : this.drop(t)), this.opts.idleMs ?? 30_000);
    t.idleTimer.unref();
  }

  private spawn(): PoolThread {
    const worker = spawnModuleWorker(import.meta.url, 'score-chunk-thread', {}, this.opts.heapLimitMb ? { maxOldGenerationSizeMb: this.opts.heapLimitMb } : undefined);
    const t: PoolThread = { worker, warm: false, busy: false, idleTimer: null, settle: null };
    worker.on('message', (m: ChunkThreadMessage) => t.settle?.(m));
    worker.on('error', (e) => {
      t.settle?.(e);
      void this.drop(t);
    });
    worker.on('exit', (code) => {
      t.settle?.(new Error(`score chunk thread exited with code ${code}`));
      this.threads.delete(t);
    });
    worker.unref();
    this.threads.add(t);
    return t;
  }

  private async drop(t: PoolThread): Promise<void> {
    this.threads.delete(t);
    if (t.idleTimer) clearTimeout(t.idleTimer);
    await t.worker.terminate();
  }
}
