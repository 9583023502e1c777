/**
 * The randomized SVD's tall dense products on ONNX Runtime's double Gemm against plain loops:
 * equal to rounding, in both layouts, with empty sides, and the same on every call.
 */
import { describe, expect, it } from 'vitest';
import { times64, transposeTimes64 } from '../src/core/model/dense-f64.js';
import { Rng } from '../src/core/util/rng.js';

function random(rng: Rng, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal());
}

/** Aᵀ·B, A [rows, m], B [rows, n], written plainly. */
function transposeTimesLoop(A: Float64Array, B: Float64Array, rows: number, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) for (let r = 0; r < rows; r++) out[i * n + j] += A[r * m + i] * B[r * n + j];
  return out;
}

/** A·B, A [rows, k], B [k, n], written plainly. */
function timesLoop(A: Float64Array, B: Float64Array, rows: number, k: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) for (let t = 0; t < k; t++) out[r * n + j] += A[r * k + t] * B[t * n + j];
  return out;
}

function expectClose(got: Float64Array, want: Float64Array): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want[i])) * 100);
}

describe('double products on ONNX Runtime', () => {
  const rng = new Rng(17);

  it('Aᵀ·B and A·B equal the plain loops on odd shapes', async () => {
    for (const [rows, m, n] of [[1, 1, 1], [37, 5, 9], [513, 31, 17], [1000, 64, 3]]) {
      const A = random(rng, rows * m);
      const B = random(rng, rows * n);
      expectClose(await transposeTimes64(A, B, rows, m, n), transposeTimesLoop(A, B, rows, m, n));
      const C = random(rng, m * n);
      expectClose(await times64(A, C, rows, m, n), timesLoop(A, C, rows, m, n));
    }
  });

  it('an empty side gives zeros of the right shape, and a repeated call the same bits', async () => {
    expect(Array.from(await transposeTimes64(new Float64Array(0), new Float64Array(0), 0, 3, 2))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(await times64(new Float64Array(0), new Float64Array(0), 4, 0, 2))).toEqual(new Array(8).fill(0));
    const A = random(rng, 200 * 40);
    const first = await transposeTimes64(A, A, 200, 40, 40);
    const again = await transposeTimes64(A, A, 200, 40, 40);
    expect(Buffer.compare(Buffer.from(first.buffer), Buffer.from(again.buffer))).toBe(0);
  });
});
