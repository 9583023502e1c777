/**
 * Tokeniser threads for a text teacher: they encode pieces of a call's sequences while the calling
 * thread encodes others. (They cannot hide tokenisation behind ONNX Runtime's runs: batches by
 * length need every sequence's length before the first run; and onnxruntime-node 1.30's
 * `session.run` holds the JavaScript thread anyway, the native run only deferred by a setImmediate.)
 * Threads start on the first request and live until close(); an idle thread does not keep the
 * process alive.
 */
import type { Worker } from 'node:worker_threads';
import { ContractError, DistilxrError, threadFailureKind, type ErrorKind } from '../../core/util/errors.js';
import { spawnModuleWorker } from '../../core/util/module-worker.js';
import type { EncodeRequest, PackedSequences } from './encoded-sequences.js';
import type { TokenizerSource } from './text-tokenizer.js';
import type { TokenizerInit, TokenizerJob, TokenizerReply } from './tokenizer-protocol.js';

/** A tokeniser thread failed or died (retriable, as for SolverWorkerError), or the pool was closed under a request. */
export class TokenizerThreadError extends DistilxrError {
  constructor(message: string, kind: ErrorKind) {
    super(message, 'TOKENIZER_THREAD', kind);
  }
}

interface Pending {
  resolve: (p: PackedSequences) => void;
  reject: (e: Error) => void;
}

/** One thread and the requests it has not answered yet. */
class TokenizerThread {
  readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private dead = false;

  constructor(
    private readonly worker: Worker,
    readonly index: number,
    private readonly onDeath: (t: TokenizerThread) => void,
  ) {
    worker.unref();
    worker.on('message', (m: TokenizerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.type === 'done') p.resolve(m.packed);
      else p.reject(rebuildError(m.name, m.message));
    });
    worker.on('error', (e: Error & { code?: string }) => this.die(new TokenizerThreadError(`tokeniser thread ${index} failed: ${e.message}`, threadFailureKind(e))));
    worker.on('exit', (code) => this.die(new TokenizerThreadError(`tokeniser thread ${index} exited with code ${code}`, 'retriable')));
  }

  encode(req: EncodeRequest): Promise<PackedSequences> {
    const id = this.nextId++;
    return new Promise<PackedSequences>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref(); // a request in flight keeps the process alive until it is answered
      this.worker.postMessage({ id, req } satisfies TokenizerJob);
    });
  }

  terminate(): Promise<number> {
    this.die(new TokenizerThreadError('the tokeniser threads were closed', 'retriable'));
    return this.worker.terminate();
  }

  private die(e: Error): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.onDeath(this);
  }
}

/** An error a tokeniser thread caught, as this thread would have thrown it. */
function rebuildError(name: string, message: string): Error {
  if (name === 'ContractError') return new ContractError(message);
  if (name === 'RangeError') return new RangeError(message);
  return Object.assign(new Error(message), { name });
}

export class TokenizerPool {
  private threads: TokenizerThread[] = [];
  private closed = false;
  private spawned = 0;

  /** `size` threads at most, each with its own copy of the tokenizer read from `source`. */
  constructor(
    private readonly source: TokenizerSource,
    readonly size: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`a tokeniser pool needs at least one thread, got ${size}`);
  }

  /** Threads running now (they start on the first requests). */
  get running(): number {
    return this.threads.length;
  }

  /** Encodes on the least busy thread, starting one while fewer than `size` run and all are busy. */
  encode(req: EncodeRequest): Promise<PackedSequences> {
    if (this.closed) return Promise.reject(new TokenizerThreadError('the tokeniser threads were closed', 'retriable'));
    let t = this.threads.reduce<TokenizerThread | null>((best, x) => (best === null || x.pending.size < best.pending.size ? x : best), null);
    if (t === null || (t.pending.size > 0 && this.threads.length < this.size)) t = this.spawn();
    return t.encode(req);
  }

  /** Terminates every thread; requests not answered yet are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads;
    this.threads = [];
    await Promise.all(threads.map((t) => t.terminate()));
  }

  private spawn(): TokenizerThread {
    const worker = spawnModuleWorker(import.meta.url, 'tokenizer-worker', { ...this.source } satisfies TokenizerInit);
    const t = new TokenizerThread(worker, this.spawned++, (dead) => {
      this.threads = this.threads.filter((x) => x !== dead);
    });
    this.threads.push(t);
    return t;
  }
}
