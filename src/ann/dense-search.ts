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
export const BLOCK_SCORES = 1 << 25;

const topK = () => node('TopK', ['scores', 'k'], ['top_scores', 'top_labels'], [intAttr('axis', 1), intAttr('largest', 1), intAttr('sorted', 1)]);
const kInput = () => tensorValueInfo('k', DataType.INT64, [1]);
const labelsOutput = () => tensorValueInfo('top_labels', DataType.INT64, ['n', 'k_out']);

/**
 * Float: the labels are an input, so one cached session serves every call. (As an initializer they
 * would be packed once, not per run: ~3 % of a run at apt-files' shape, for ~0.3 s of session creation.)
 */
function floatModel(): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'dense_top_k',
      node: [node('Gemm', ['queries', 'vectors'], ['scores'], [intAttr('transB', 1)]), topK()],
      input: [tensorValueInfo('queries', DataType.FLOAT, ['n', 'dim']), tensorValueInfo('vectors', DataType.FLOAT, ['count', 'dim']), kInput()],
      output: [tensorValueInfo('top_scores', DataType.FLOAT, ['n', 'k_out']), labelsOutput()],
    },
  });
}

/**
 * int8: the quantised labels [dim, count] (MatMulInteger has no transB) are an initializer, so ONNX
 * Runtime packs them once when the session is made instead of on every block's run (a block of 580
 * queries × 57,764 labels × 257: 36 ms instead of 43). Integer sums are exact, so the same on any
 * thread count; TopK ranks the int32 sums directly.
 */
function int8Model(labels: Int8Array, count: number, dim: number): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'dense_top_k_int8',
      node: [node('MatMulInteger', ['queries', 'vectors', 'query_zero'], ['scores']), topK()],
      initializer: [{ name: 'vectors', dims: [dim, count], dataType: DataType.INT8, rawData: new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength) }],
      input: [tensorValueInfo('queries', DataType.UINT8, ['n', 'dim']), tensorValueInfo('query_zero', DataType.UINT8, []), kInput()],
      output: [tensorValueInfo('top_scores', DataType.INT32, ['n', 'k_out']), labelsOutput()],
    },
  });
}

/** Its threads do not spin once a run ends: the job's training threads need the cores next. */
function createSession(model: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } });
}

const floatSessions = new Map<number, Promise<ort.InferenceSession>>();

/** One float session per thread count, created on first use and kept (a few hundred bytes of graph). */
function floatSession(threads: number): Promise<ort.InferenceSession> {
  let s = floatSessions.get(threads);
  if (!s) {
    s = createSession(floatModel(), threads);
    floatSessions.set(threads, s);
  }
  return s;
}

/**
 * float32: exact. int8: the labels' values in 7 bits (a scale per dimension, folded into the
 * queries), each query in 8 bits (its own scale), summed exactly in int32 by MLAS's u8×s8 kernel:
 * a mining pass 1.7–2.4× faster than float here (AVX2; ≈ 0.2 s fixed per call to quantise the labels
 * and make their session, so not for a few queries), at a small loss of ranking precision (near-ties
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
  const threads = opts.threads ?? 1;
  const int8 = opts.precision === 'int8' ? quantizeLabels(vectors, count, dim) : null;
  const session = int8 ? await createSession(int8Model(int8.values, count, dim), threads) : await floatSession(threads);
  const vectorTensor = int8 ? null : new ort.Tensor('float32', unshared(vectors.subarray(0, count * dim)), [count, dim]);
  /** Rows q0..q1's inputs; unscale[i] turns row i's integer sums back into scores (int8). */
  const inputs = (q0: number, q1: number): { feeds: Record<string, ort.Tensor>; unscale?: Float32Array } => {
    if (!int8) return { feeds: { queries: new ort.Tensor('float32', unshared(queries.subarray(q0 * dim, q1 * dim)), [q1 - q0, dim]), vectors: vectorTensor! } };
    const quantized = quantizeQueries(queries, q0, q1, dim, int8.dimScales);
    return { feeds: { queries: new ort.Tensor('uint8', quantized.values, [q1 - q0, dim]), query_zero: QUERY_ZERO }, unscale: quantized.unscale };
  };
  const block = Math.max(1, Math.min(n, Math.floor((opts.blockScores ?? BLOCK_SCORES) / count)));
  const prepare = (q0: number) => {
    const q1 = Math.min(n, q0 + block);
    // ask for as many more as the block's largest excluded row, then drop the excluded ones
    let extra = 0;
    if (excluded) for (let q = q0; q < q1; q++) extra = Math.max(extra, excluded.indptr[q + 1] - excluded.indptr[q]);
    const want = Math.min(count, k + extra);
    const { feeds, unscale } = inputs(q0, q1);
    return { q0, q1, want, unscale, feeds: { ...feeds, k: new ort.Tensor('int64', BigInt64Array.of(BigInt(want)), [1]) } };
  };
  try {
    // While ONNX Runtime's threads search one block, this thread prepares the next one's queries and
    // then filters the block before; one run at a time, so one block of scores in memory.
    let current = prepare(0);
    let running = session.run(current.feeds);
    for (;;) {
      const { q0, q1, want, unscale } = current;
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
      current = next;
    }
  } finally {
    if (int8) await session.release(); // its own session: the labels are in it
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
  const inverse = new Float32Array(dim);
  for (let d = 0; d < dim; d++) {
    inverse[d] = dimScales[d] > 0 ? 63 / dimScales[d] : 0;
    dimScales[d] /= 63;
  }
  const values = new Int8Array(dim * count);
  for (let l = 0; l < count; l++) for (let d = 0; d < dim; d++) values[d * count + l] = Math.round(vectors[l * dim + d] * inverse[d]);
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
