/** Numerically stable in-place log-softmax helpers over a slice; nothing allocated. */

/** Writes softmax(x[0..n) * invT) into out[0..n) and returns log-sum-exp of the scaled inputs. */
export function softmaxInto(x: Float32Array, n: number, invT: number, out: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = x[i] * invT;
    if (v > max) max = v;
  }
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[i] * invT - max);
    out[i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < n; i++) out[i] *= inv;
  return max + Math.log(sum);
}
