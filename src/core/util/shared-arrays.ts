/**
 * Typed arrays in shared memory: posted to a worker thread they are shared, not copied, so
 * threads read the same data (and, for Hogwild training, write the same parameters).
 */

export function sharedInts(a: ArrayLike<number>): Int32Array {
  const out = new Int32Array(new SharedArrayBuffer(Math.max(1, a.length) * 4), 0, a.length);
  out.set(a);
  return out;
}

/** A copy of `a` in shared memory; a number: that many zeros. */
export function sharedFloats(a: ArrayLike<number> | number): Float32Array {
  const n = typeof a === 'number' ? a : a.length;
  const out = new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4), 0, n);
  if (typeof a !== 'number') out.set(a);
  return out;
}

/** `a` itself when already in shared memory, else a copy there (same type). */
export function asShared<T extends Int32Array | Float32Array | Float64Array>(a: T): T {
  if (isShared(a)) return a;
  const Typed = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Typed(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

/** True when the array's memory is a SharedArrayBuffer (already visible to other threads). */
export function isShared(a: ArrayBufferView): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}
