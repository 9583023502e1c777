/** Sorts keys[lo, hi) ascending, moving vals along (when given). In place, no allocation. */
export function sortPairs(keys: Int32Array, vals: Float32Array | null, lo: number, hi: number): void {
  while (hi - lo > 16) {
    // median of three as pivot guards against the already-sorted/reversed worst case
    const mid = (lo + hi) >>> 1;
    const a = keys[lo];
    const b = keys[mid];
    const c = keys[hi - 1];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi - 1;
    while (i <= j) {
      while (keys[i] < pivot) i++;
      while (keys[j] > pivot) j--;
      if (i <= j) {
        const tk = keys[i];
        keys[i] = keys[j];
        keys[j] = tk;
        if (vals) {
          const tv = vals[i];
          vals[i] = vals[j];
          vals[j] = tv;
        }
        i++;
        j--;
      }
    }
    // recurse into the smaller half, loop on the larger: stack depth stays O(log n)
    if (j - lo < hi - i) {
      sortPairs(keys, vals, lo, j + 1);
      lo = i;
    } else {
      sortPairs(keys, vals, i, hi);
      hi = j + 1;
    }
  }
  for (let i = lo + 1; i < hi; i++) {
    const k = keys[i];
    const v = vals ? vals[i] : 0;
    let j = i - 1;
    while (j >= lo && keys[j] > k) {
      keys[j + 1] = keys[j];
      if (vals) vals[j + 1] = vals[j];
      j--;
    }
    keys[j + 1] = k;
    if (vals) vals[j + 1] = v;
  }
}
