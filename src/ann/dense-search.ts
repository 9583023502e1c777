/**
 * Exact maximum inner product search on ONNX Runtime: one Gemm (queries × labelsᵀ, MLAS's
 * vectorised kernels) and one TopK per block of queries. The same answers as exactTopK (the plain
 * reference in exact-search.ts) up to float rounding of the sums, 40–90× faster on this machine
 * (bench/dense-search.ts): exact search stops being the slow part of evaluating and mining.
 */
import * as ort from 'onnxruntime-node';
import type { Csr } from '../core/data/csr.js';
import { DataType, encodeModel, intAttr, node, tensorValueInfo } from '../core/util/onnx-proto.js';

const UINT8 = 2;
const INT8 = 3;

/** Scores held at once per block (queries × labels floats): 128 MiB. */
const BLOCK_SCORES = 1 << 25;

function mipsModel(precision: Precision): Uint8Array {
  const topK = node('TopK', ['scores', 'k'], ['top_scores', 'top_labels'], [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)]);
  const k = tensorValueInfo('k', DataType.INT64, [1]);
  const labelsOut = tensorValueInfo('top_labels', DataType.INT64, ['n', 'k_out']);
  const graph =
    precision === 'float32'
      ? {
          name: 'dense_top_k',
          node: [node('Gemm', ['queries', 'vectors'], ['scores'], [intAttr('transB', 1)]), topK],
          input: [tensorValueInfo('queries', DataType.FLOAT, ['n', 'dim']), tensorValueInfo('vectors', DataType.FLOAT, ['count', 'dim']), k],
          output: [tensorValueInfo('top_scores', DataType.FLOAT, ['n', 'k_out']), labelsOut],
        }
      : {
          // MatMulInteger has no transB: the labels come as [dim, count]. Integer sums: exact, so the
          // same on any thread count; TopK ranks the int32 sums directly.
          name: 'dense_top_k_int8',
          node: [node('MatMulInteger', ['queries', 'vectors', 'query_zero'], ['scores']), topK],
          input: [tensorValueInfo('queries', UINT8, ['n', 'dim']), tensorValueInfo('vectors', INT8, ['dim', 'count']), tensorValueInfo('query_zero', UINT8, []), k],
          output: [tensorValueInfo('top_scores', DataType.INT32, ['n', 'k_out']), labelsOut],
        };
  return encodeModel({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph });
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

/**
 * One session per thread count, created on first use and kept (a few hundred bytes of graph). Its
 * threads do not spin once a run ends: the job's training threads need the cores next.
 */
function sessionFor(threads: number, precision: Precision): Promise<ort.InferenceSession> {
  const key = `${precision}:${threads}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(mipsModel(precision), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } });
    sessions.set(key, s);
  }
  return s;
}

/**
 * float32: exact. int8: the labels' values in 7 bits (a scale per dimension, folded into the
 * queries), each query in 8 bits (its own scale), summed exactly in int32 by MLAS's u8×s8 kernel:
 * 2–3× the float product's speed here (AVX2), at a small loss of ranking precision (near-ties
 * swap). 7 bits, not 8: AVX2's u8×s8 instruction adds pairs of products in int16 with saturation,
 * and 2 × 255 × 64 stays below 32,767. For mining (pools are sets, bench/mining.ts measures their
 * recall), not for evaluation.
 */
export type Precision = 'float32' | 'int8';

export interface DenseSearchOptions {
  /** ONNX Runtime's intra-op threads. @defaultValue 1 */
  threads?: number;
  /** Row q lists labels never returned for query q (sorted or not). */
  excluded?: Csr;
  /** Scores held at once (queries per block × count). @defaultValue BLOCK_SCORES */
  blockScores?: number;
  /** @defaultValue 'float32' */
  precision?: Precision;
}

/**
 * Top-k labels by inner product for each query, best first, ties to the lower label (TopK's
 * order; int8: by the quantised sums, scores approximate); slots beyond the labels available hold −1 / −Infinity. vectors: [count, dim],
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
  const precision = opts.precision ?? 'float32';
  const session = await sessionFor(opts.threads ?? 1, precision);
  const int8 = precision === 'int8' ? quantizeLabels(vectors, count, dim) : null;
  const vectorTensor = int8 ? new ort.Tensor('int8', int8.values, [dim, count]) : new ort.Tensor('float32', unshared(vectors.subarray(0, count * dim)), [count, dim]);
  const block = Math.max(1, Math.min(n, Math.floor((opts.blockScores ?? BLOCK_SCORES) / count)));
  const prepare = (q0: number) => {
    const q1 = Math.min(n, q0 + block);
    // ask for as many more as the block's largest excluded row, then drop the excluded ones
    let extra = 0;
    if (excluded) for (let q = q0; q < q1; q++) extra = Math.max(extra, excluded.indptr[q + 1] - excluded.indptr[q]);
    const want = Math.min(count, k + extra);
    const kTensor = new ort.Tensor('int64', BigInt64Array.of(BigInt(want)), [1]);
    const quantized = int8 ? quantizeQueries(queries, q0, q1, dim, int8.dimScales) : null;
    const feeds: Record<string, ort.Tensor> = quantized
      ? { queries: new ort.Tensor('uint8', quantized.values, [q1 - q0, dim]), vectors: vectorTensor, query_zero: QUERY_ZERO, k: kTensor }
      : { queries: new ort.Tensor('float32', unshared(queries.subarray(q0 * dim, q1 * dim)), [q1 - q0, dim]), vectors: vectorTensor, k: kTensor };
    return { q0, q1, want, unscale: quantized?.unscale, feeds };
  };
  // While ONNX Runtime's threads search one block, this thread prepares the next one's queries and
  // then filters the block before; one run at a time, so one block of scores in memory.
  let block0 = prepare(0);
  let running = session.run(block0.feeds);
  for (;;) {
    const { q0, q1, want, unscale } = block0;
    const next = q1 < n ? prepare(q1) : null;
    const result = await running;
    if (next) running = session.run(next.feeds);
    const topLabels = result.top_labels.data as BigInt64Array;
    const topScores = result.top_scores.data as Float32Array | Int32Array;
    for (let q = q0; q < q1; q++) {
      const from = (q - q0) * want;
      let filled = 0;
      for (let j = 0; j < want && filled < k; j++) {
        const label = Number(topLabels[from + j]);
        if (excluded && isExcluded(excluded, q, label)) continue;
        labels[q * k + filled] = label;
        scores[q * k + filled] = unscale ? topScores[from + j] * unscale[q - q0] : topScores[from + j];
        filled++;
      }
    }
    if (!next) break;
    block0 = next;
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

const QUERY_ZERO = new ort.Tensor('uint8', Uint8Array.of(128), []);

/** Labels as int8 in [−63, 63], transposed to [dim, count]; dimension d's values scaled by 63 / its largest |value|. */
function quantizeLabels(vectors: Float32Array, count: number, dim: number): { values: Int8Array; dimScales: Float32Array } {
  const dimScales = new Float32Array(dim);
  for (let l = 0; l < count; l++) for (let d = 0; d < dim; d++) dimScales[d] = Math.max(dimScales[d], Math.abs(vectors[l * dim + d]));
  // label value v ≈ int × max/63, so the query's dimension d carries max/63 (0 for an all-zero dimension)
  for (let d = 0; d < dim; d++) dimScales[d] /= 63;
  const values = new Int8Array(dim * count);
  for (let l = 0; l < count; l++) {
    for (let d = 0; d < dim; d++) {
      const scale = dimScales[d];
      values[d * count + l] = scale > 0 ? Math.round(vectors[l * dim + d] / scale) : 0;
    }
  }
  return { values, dimScales };
}

/**
 * Rows q0..q1 of the queries, each times the labels' dimension scales, as uint8 around QUERY_ZERO
 * (128 ± 127, each row its own scale: the ranking of one query's labels does not depend on it);
 * unscale[i] turns row i's integer sums back into approximate scores.
 */
function quantizeQueries(queries: Float32Array, q0: number, q1: number, dim: number, dimScales: Float32Array): { values: Uint8Array; unscale: Float32Array } {
  const values = new Uint8Array((q1 - q0) * dim).fill(128);
  const unscale = new Float32Array(q1 - q0);
  const row = new Float32Array(dim);
  for (let q = q0; q < q1; q++) {
    let max = 0;
    for (let d = 0; d < dim; d++) {
      row[d] = queries[q * dim + d] * dimScales[d];
      max = Math.max(max, Math.abs(row[d]));
    }
    if (max === 0) continue;
    const scale = 127 / max;
    unscale[q - q0] = max / 127;
    const base = (q - q0) * dim;
    for (let d = 0; d < dim; d++) values[base + d] = 128 + Math.round(row[d] * scale);
  }
  return { values, unscale };
}
