/**
 * Exact maximum inner product search on ONNX Runtime: one Gemm (queries × labelsᵀ, MLAS's
 * vectorised kernels) and one TopK per block of queries. The same answers as exactTopK (the plain
 * reference in exact-search.ts) up to float rounding of the sums, 40–90× faster on this machine
 * (bench/dense-search.ts): exact search stops being the slow part of evaluating and mining.
 */
import * as ort from 'onnxruntime-node';
import type { Csr } from '../core/data/csr.js';
import { DataType, encodeModel, intAttr, node, tensorValueInfo } from '../core/util/onnx-proto.js';

/** Scores held at once per block (queries × labels floats): 128 MiB. */
const BLOCK_SCORES = 1 << 25;

function mipsModel(): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'dense_top_k',
      node: [node('Gemm', ['queries', 'vectors'], ['scores'], [intAttr('transB', 1)]), node('TopK', ['scores', 'k'], ['top_scores', 'top_labels'], [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)])],
      input: [tensorValueInfo('queries', DataType.FLOAT, ['n', 'dim']), tensorValueInfo('vectors', DataType.FLOAT, ['count', 'dim']), tensorValueInfo('k', DataType.INT64, [1])],
      output: [tensorValueInfo('top_scores', DataType.FLOAT, ['n', 'k_out']), tensorValueInfo('top_labels', DataType.INT64, ['n', 'k_out'])],
    },
  });
}

const sessions = new Map<number, Promise<ort.InferenceSession>>();

/**
 * One session per thread count, created on first use and kept (a few hundred bytes of graph). Its
 * threads do not spin once a run ends: the job's training threads need the cores next.
 */
function sessionFor(threads: number): Promise<ort.InferenceSession> {
  let s = sessions.get(threads);
  if (!s) {
    s = ort.InferenceSession.create(mipsModel(), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } });
    sessions.set(threads, s);
  }
  return s;
}

export interface DenseSearchOptions {
  /** ONNX Runtime's intra-op threads. @defaultValue 1 */
  threads?: number;
  /** Row q lists labels never returned for query q (sorted or not). */
  excluded?: Csr;
  /** Scores held at once (queries per block × count). @defaultValue BLOCK_SCORES */
  blockScores?: number;
}

/**
 * Top-k labels by inner product for each query, best first, ties to the lower label (TopK's
 * order); slots beyond the labels available hold −1 / −Infinity. vectors: [count, dim],
 * queries: [n, dim] → labels/scores: [n, k].
 */
export async function denseTopK(vectors: Float32Array, count: number, dim: number, queries: Float32Array, n: number, k: number, opts: DenseSearchOptions = {}): Promise<{ labels: Int32Array; scores: Float32Array }> {
  if (vectors.length < count * dim) throw new RangeError(`vectors hold ${vectors.length} < ${count}×${dim} values`);
  if (queries.length < n * dim) throw new RangeError(`queries hold ${queries.length} < ${n}×${dim} values`);
  const { excluded } = opts;
  if (excluded && excluded.rows < n) throw new RangeError(`excluded has ${excluded.rows} rows, need ${n}`);
  const labels = new Int32Array(n * k).fill(-1);
  const scores = new Float32Array(n * k).fill(-Infinity);
  if (k <= 0 || n === 0 || count === 0) return { labels, scores };
  const session = await sessionFor(opts.threads ?? 1);
  const vectorTensor = new ort.Tensor('float32', unshared(vectors.subarray(0, count * dim)), [count, dim]);
  const block = Math.max(1, Math.min(n, Math.floor((opts.blockScores ?? BLOCK_SCORES) / count)));
  for (let q0 = 0; q0 < n; q0 += block) {
    const q1 = Math.min(n, q0 + block);
    // ask for as many more as the block's largest excluded row, then drop the excluded ones
    let extra = 0;
    if (excluded) for (let q = q0; q < q1; q++) extra = Math.max(extra, excluded.indptr[q + 1] - excluded.indptr[q]);
    const want = Math.min(count, k + extra);
    const out = await session.run({
      queries: new ort.Tensor('float32', unshared(queries.subarray(q0 * dim, q1 * dim)), [q1 - q0, dim]),
      vectors: vectorTensor,
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(want)), [1]),
    });
    const topLabels = out.top_labels.data as BigInt64Array;
    const topScores = out.top_scores.data as Float32Array;
    for (let q = q0; q < q1; q++) {
      const from = (q - q0) * want;
      let filled = 0;
      for (let j = 0; j < want && filled < k; j++) {
        const label = Number(topLabels[from + j]);
        if (excluded && isExcluded(excluded, q, label)) continue;
        labels[q * k + filled] = label;
        scores[q * k + filled] = topScores[from + j];
        filled++;
      }
    }
  }
  return { labels, scores };
}

function isExcluded(excluded: Csr, row: number, label: number): boolean {
  for (let p = excluded.indptr[row]; p < excluded.indptr[row + 1]; p++) if (excluded.indices[p] === label) return true;
  return false;
}

/** ONNX Runtime's Node binding refuses views of a SharedArrayBuffer (a Hogwild student's weights): those are copied. */
function unshared(a: Float32Array): Float32Array {
  return a.buffer instanceof SharedArrayBuffer ? a.slice() : a;
}
