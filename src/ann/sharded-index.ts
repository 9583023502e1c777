/**
 * A transient maximum-inner-product label index split into shards, each built and searched by its
 * own worker thread (hnswlib-node has no multi-threaded add): label l lives in shard l % shards.
 * Deterministic whatever the machine: the shard count is the caller's, each shard is built
 * single-threaded in label order, and per-query results are merged by score with ties to the lower
 * label. Not saved: the published index stays one hnswlib file (LabelIndex).
 */
import type { Worker } from 'node:worker_threads';
import type { Csr } from '../core/data/csr.js';
import { DistilxrError, threadFailureKind, type ErrorKind } from '../core/util/errors.js';
import { spawnModuleWorker } from '../core/util/module-worker.js';
import { DEFAULT_EF, type SearchResults } from './hnsw-index.js';
import type { ShardInit, ShardReply, ShardSearch } from './shard-protocol.js';

export interface ShardedBuildOptions {
  /** Number of shards (= worker threads); fixed by the caller so results never depend on the machine. */
  shards: number;
  /** Graph degree. @defaultValue 16 */
  M?: number;
  /** Candidate list size while building. @defaultValue 200 */
  efConstruction?: number;
  /** hnswlib's level generator seed, the same for every shard. @defaultValue 100 */
  seed?: number;
}

/**
 * A shard worker refused a request (permanent: the same request fails again) or failed, exited or
 * was closed (retriable: a new index on new threads may succeed).
 */
export class ShardWorkerError extends DistilxrError {
  constructor(message: string, kind: ErrorKind) {
    super(message, 'SHARD_WORKER', kind);
  }
}

/** One worker and its single outstanding request. */
class ShardThread {
  private pending: { resolve: (m: ShardReply) => void; reject: (e: Error) => void } | null = null;
  private dead: Error | null = null;
  readonly built: Promise<ShardReply>;

  constructor(
    private readonly worker: Worker,
    readonly shard: number,
  ) {
    this.built = this.next();
    worker.on('message', (m: ShardReply) => {
      const p = this.pending;
      this.pending = null;
      if (!p) return;
      if (m.type === 'error') p.reject(new ShardWorkerError(`shard ${shard}: ${m.message}`, 'permanent'));
      else p.resolve(m);
    });
    worker.on('error', (e) => this.die(new ShardWorkerError(`shard ${shard} worker failed: ${e.message}`, threadFailureKind(e))));
    worker.on('exit', (code) => this.die(new ShardWorkerError(`shard ${shard} worker exited with code ${code}`, 'retriable')));
  }

  request(m: ShardSearch): Promise<ShardReply> {
    const reply = this.next();
    this.worker.postMessage(m);
    return reply;
  }

  terminate(): Promise<number> {
    this.dead ??= new ShardWorkerError(`shard ${this.shard} closed`, 'retriable');
    return this.worker.terminate();
  }

  private next(): Promise<ShardReply> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
    });
  }

  private die(e: Error): void {
    this.dead ??= e;
    const p = this.pending;
    this.pending = null;
    p?.reject(this.dead);
  }
}

function sharedCopy<T extends Float32Array | Int32Array>(src: T, length: number): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(Math.max(1, length) * 4);
  const view = src instanceof Float32Array ? new Float32Array(sab, 0, length) : new Int32Array(sab, 0, length);
  view.set(src.subarray(0, length));
  return sab;
}

export class ShardedLabelIndex {
  private constructor(
    private readonly threads: ShardThread[],
    readonly dim: number,
    readonly count: number,
    /** Seconds each shard's build took inside its worker. */
    readonly buildSeconds: number[],
  ) {}

  /** vectors: [count, dim]; label i = row i. Resolves once every shard is built. */
  static async build(vectors: Float32Array, count: number, dim: number, opts: ShardedBuildOptions): Promise<ShardedLabelIndex> {
    if (!(count >= 1 && dim >= 1)) throw new RangeError(`ShardedLabelIndex.build needs count, dim >= 1, got ${count}, ${dim}`);
    if (vectors.length < count * dim) throw new RangeError(`vectors hold ${vectors.length} < ${count}×${dim} values`);
    if (!(Number.isInteger(opts.shards) && opts.shards >= 1)) throw new RangeError(`shards must be a positive integer, got ${opts.shards}`);
    const shards = Math.min(opts.shards, count); // every shard holds at least one label
    const shared = sharedCopy(vectors, count * dim);
    const threads: ShardThread[] = [];
    for (let s = 0; s < shards; s++) {
      const init: ShardInit = { vectors: shared, count, dim, shard: s, shards, M: opts.M ?? 16, efConstruction: opts.efConstruction ?? 200, seed: opts.seed ?? 100 };
      threads.push(new ShardThread(spawnModuleWorker(import.meta.url, 'shard-worker', init), s));
    }
    try {
      const replies = await Promise.all(threads.map((t) => t.built));
      return new ShardedLabelIndex(threads, dim, count, replies.map((r) => (r.type === 'built' ? r.seconds : NaN)));
    } catch (e) {
      await Promise.all(threads.map((t) => t.terminate()));
      throw e;
    }
  }

  get shards(): number {
    return this.threads.length;
  }

  /**
   * queries: [n, dim] → [n, k], best first; labels in row q of `excluded` are never returned for
   * query q. Every shard answers the whole batch in parallel; see mergeShardTopK. opts.ef: search
   * list size per shard (hnswlib uses max(ef, k)), DEFAULT_EF when not given.
   */
  async searchBatchExcluding(queries: Float32Array, n: number, k: number, excluded: Csr, opts: { ef?: number } = {}): Promise<SearchResults> {
    if (excluded.rows < n) throw new RangeError(`excluded has ${excluded.rows} rows, need ${n}`);
    if (queries.length < n * this.dim) throw new RangeError(`queries hold ${queries.length} < ${n}×${this.dim} values`);
    const base = {
      type: 'search' as const,
      queries: sharedCopy(queries, n * this.dim),
      n,
      k,
      ef: opts.ef ?? DEFAULT_EF,
      excludedIndptr: sharedCopy(excluded.indptr, n + 1),
      excludedIndices: sharedCopy(excluded.indices, excluded.indptr[n]),
    };
    const outs = this.threads.map(() => ({ labels: new SharedArrayBuffer(Math.max(1, n * k) * 4), scores: new SharedArrayBuffer(Math.max(1, n * k) * 4) }));
    await Promise.all(this.threads.map((t, s) => t.request({ ...base, ...outs[s] })));
    const out: SearchResults = { labels: new Int32Array(n * k), scores: new Float32Array(n * k) };
    mergeShardTopK(
      outs.map((o) => new Int32Array(o.labels, 0, n * k)),
      outs.map((o) => new Float32Array(o.scores, 0, n * k)),
      n,
      k,
      out,
    );
    return out;
  }

  /** Ends the workers (the index is gone). */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.terminate()));
  }
}

/**
 * Merges per-shard top-k lists ([n, k] each, best first, −1 / −Infinity padding at the end) into
 * out [n, k]: highest score first, ties to the lower label, so the result depends only on the
 * shards' lists. Empty slots get −1 / −Infinity.
 */
export function mergeShardTopK(labels: Int32Array[], scores: Float32Array[], n: number, k: number, out: SearchResults): void {
  const S = labels.length;
  const head = new Int32Array(S);
  for (let q = 0; q < n; q++) {
    const o = q * k;
    head.fill(0);
    for (let j = 0; j < k; j++) {
      let best = -1;
      let bestLabel = -1;
      let bestScore = -Infinity;
      for (let s = 0; s < S; s++) {
        if (head[s] >= k) continue;
        const label = labels[s][o + head[s]];
        if (label < 0) continue;
        const score = scores[s][o + head[s]];
        if (best < 0 || score > bestScore || (score === bestScore && label < bestLabel)) {
          best = s;
          bestLabel = label;
          bestScore = score;
        }
      }
      if (best < 0) {
        out.labels.fill(-1, o + j, o + k);
        out.scores.fill(-Infinity, o + j, o + k);
        break;
      }
      out.labels[o + j] = bestLabel;
      out.scores[o + j] = bestScore;
      head[best]++;
    }
  }
}
