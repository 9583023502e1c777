/**
 * One shard of a ShardedLabelIndex, in its own worker thread: builds a single-threaded LabelIndex
 * over the labels l ≡ shard (mod shards), in increasing label order (so the graph depends only on
 * the data and the seed), then answers search requests with global label ids.
 * Shard-local id j is global label j·shards + shard.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Csr } from '../core/data/csr.js';
import { LabelIndex } from './hnsw-index.js';
import type { ShardInit, ShardReply, ShardSearch } from './shard-protocol.js';

const init = workerData as ShardInit;
const port = parentPort!;

function reply(m: ShardReply): void {
  port.postMessage(m);
}

function fail(e: unknown): void {
  const err = e instanceof Error ? e : new Error(String(e));
  reply({ type: 'error', message: err.message, stack: err.stack });
}

function buildShard(): LabelIndex {
  const { count, dim, shard, shards } = init;
  const all = new Float32Array(init.vectors, 0, count * dim);
  const size = Math.ceil((count - shard) / shards);
  const own = new Float32Array(size * dim); // this shard's rows, contiguous
  for (let j = 0; j < size; j++) own.set(all.subarray((j * shards + shard) * dim, (j * shards + shard + 1) * dim), j * dim);
  return LabelIndex.build(own, size, dim, { M: init.M, efConstruction: init.efConstruction, seed: init.seed });
}

/** Row q of the global excluded CSR, restricted to this shard, as local ids (order kept: sorted stays sorted). */
function localExcluded(indptr: Int32Array, indices: Int32Array, n: number): Csr {
  const { shard, shards } = init;
  const lp = new Int32Array(n + 1);
  let m = 0;
  for (let p = 0; p < indptr[n]; p++) if (indices[p] % shards === shard) m++;
  const li = new Int32Array(m);
  let w = 0;
  for (let q = 0; q < n; q++) {
    for (let p = indptr[q]; p < indptr[q + 1]; p++) {
      const l = indices[p];
      if (l % shards === shard) li[w++] = (l - shard) / shards;
    }
    lp[q + 1] = w;
  }
  return { rows: n, cols: Math.ceil((init.count - shard) / shards), indptr: lp, indices: li, values: null };
}

function search(index: LabelIndex, req: ShardSearch): void {
  const { n, k } = req;
  const queries = new Float32Array(req.queries, 0, n * init.dim);
  const indptr = new Int32Array(req.excludedIndptr, 0, n + 1);
  const excluded = localExcluded(indptr, new Int32Array(req.excludedIndices, 0, indptr[n]), n);
  const labels = new Int32Array(req.labels, 0, n * k);
  const scores = new Float32Array(req.scores, 0, n * k);
  index.searchBatchExcluding(queries, n, k, excluded, { ef: req.ef, out: { labels, scores } });
  const { shard, shards } = init;
  for (let i = 0; i < n * k; i++) if (labels[i] >= 0) labels[i] = labels[i] * shards + shard;
}

try {
  const t0 = performance.now();
  const index = buildShard();
  reply({ type: 'built', seconds: (performance.now() - t0) / 1000 });
  port.on('message', (req: ShardSearch) => {
    try {
      search(index, req);
      reply({ type: 'searched' });
    } catch (e) {
      fail(e);
    }
  });
} catch (e) {
  fail(e);
}
