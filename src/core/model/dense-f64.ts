/**
 * Dense float64 matrix products on ONNX Runtime's Gemm (MLAS's double kernels, every core): the
 * O(rows · w²) steps of the randomized SVD in low-rank.ts. On apt-files' teacher (57,764 labels,
 * a 265-column sketch) one Aᵀ·A took 16.6 s in a plain JavaScript loop and 0.23 s here. The sums
 * run in another order than a loop's, so results agree to rounding (about 1e-14 relative), not bit
 * for bit; they do not depend on the thread count (MLAS splits the output, not the sums).
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { DataType, encodeModel, intAttr, node, tensorValueInfo } from '../util/onnx-proto.js';

/** One Gemm graph per transA, created on first use and kept for the process (a few hundred bytes). */
const sessions = new Map<number, Promise<ort.InferenceSession>>();

function gemmSession(transA: 0 | 1): Promise<ort.InferenceSession> {
  let s = sessions.get(transA);
  if (!s) {
    const model = encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: transA ? 'transpose_times' : 'times',
        node: [node('Gemm', ['a', 'b'], ['c'], [intAttr('transA', transA)])],
        input: [tensorValueInfo('a', DataType.DOUBLE, transA ? ['k', 'm'] : ['m', 'k']), tensorValueInfo('b', DataType.DOUBLE, ['k', 'n'])],
        output: [tensorValueInfo('c', DataType.DOUBLE, ['m', 'n'])],
      },
    });
    // the cores are free while a job prepares; no spinning once the product is done
    s = ort.InferenceSession.create(model, { intraOpNumThreads: availableParallelism(), interOpNumThreads: 1, executionMode: 'sequential', logSeverityLevel: 3, extra: { session: { intra_op: { allow_spinning: '0' } } } });
    sessions.set(transA, s);
  }
  return s;
}

async function gemm(transA: 0 | 1, a: Float64Array, aDims: [number, number], b: Float64Array, bDims: [number, number], m: number, n: number): Promise<Float64Array> {
  if (m === 0 || n === 0 || aDims[0] * aDims[1] === 0) return new Float64Array(m * n);
  const s = await gemmSession(transA);
  const out = await s.run({ a: new ort.Tensor('float64', a, aDims), b: new ort.Tensor('float64', b, bDims) });
  return out.c.data as Float64Array;
}

/** Aᵀ·B for row-major A [rows, m] and B [rows, n]: [m, n] row-major. */
export function transposeTimes64(A: Float64Array, B: Float64Array, rows: number, m: number, n: number): Promise<Float64Array> {
  return gemm(1, A, [rows, m], B, [rows, n], m, n);
}

/** A·B for row-major A [rows, k] and B [k, n]: [rows, n] row-major. */
export function times64(A: Float64Array, B: Float64Array, rows: number, k: number, n: number): Promise<Float64Array> {
  return gemm(0, A, [rows, k], B, [k, n], rows, n);
}
