/**
 * Messages between ShardedLabelIndex (sharded-index.ts) and its shard workers (shard-worker.ts).
 * Every array travels as a SharedArrayBuffer: nothing is copied or serialized per message.
 */

/** workerData of a shard worker. Shard s holds the labels l with l % shards === s. */
export interface ShardInit {
  /** [count, dim] float32, every label's vector (each worker reads only its own rows). */
  vectors: SharedArrayBuffer;
  count: number;
  dim: number;
  shard: number;
  shards: number;
  M: number;
  efConstruction: number;
  seed: number;
}

/**
 * Top-k of queries [n, dim] over the shard, never returning a label of row q of the excluded CSR
 * (global label ids) for query q. The worker writes global label ids and inner products, [n, k]
 * each, into `labels` / `scores`.
 */
export interface ShardSearch {
  type: 'search';
  queries: SharedArrayBuffer;
  n: number;
  k: number;
  ef: number;
  excludedIndptr: SharedArrayBuffer;
  excludedIndices: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  scores: SharedArrayBuffer;
}

/** built: the shard's build time inside its worker (ShardedLabelIndex.buildSeconds). */
export type ShardReply = { type: 'built'; seconds: number } | { type: 'searched' } | { type: 'error'; message: string; stack?: string };
