/**
 * Compressed sparse rows. Row i spans indptr[i] .. indptr[i+1] of `indices`/`values`.
 * Indices within a row are strictly increasing. `values === null` means every stored entry is 1
 * (label matrices).
 */
export interface Csr {
  rows: number;
  cols: number;
  indptr: Int32Array; // [rows + 1]
  indices: Int32Array; // [nnz]
  values: Float32Array | null; // [nnz] or null
}

export function nnz(m: Csr): number {
  return m.indptr[m.rows];
}

/** Entries per column (for a label matrix: training points per label); ids >= numLabels are skipped. */
export function labelCounts(labels: Csr, numLabels: number = labels.cols): Float64Array {
  const counts = new Float64Array(numLabels);
  const end = labels.indptr[labels.rows];
  const idx = labels.indices;
  for (let p = 0; p < end; p++) if (idx[p] < numLabels) counts[idx[p]]++;
  return counts;
}

/** Growable CSR builder: append rows one at a time; amortised doubling, no per-row allocation. */
export class CsrBuilder {
  private indptr: Int32Array;
  private indices: Int32Array;
  private values: Float32Array | null;
  private rowCount = 0;
  private size = 0;

  constructor(
    withValues: boolean,
    expectedRows = 1024,
    expectedNnz = 16384,
  ) {
    this.indptr = new Int32Array(Math.max(2, expectedRows + 1));
    this.indices = new Int32Array(Math.max(1, expectedNnz));
    this.values = withValues ? new Float32Array(Math.max(1, expectedNnz)) : null;
  }

  get rows(): number {
    return this.rowCount;
  }

  /** Appends one entry to the current (open) row. Caller keeps indices increasing. */
  push(index: number, value = 1): void {
    if (this.size === this.indices.length) this.growEntries();
    this.indices[this.size] = index;
    if (this.values) this.values[this.size] = value;
    this.size++;
  }

  /** Closes the current row. */
  endRow(): void {
    if (this.rowCount + 2 > this.indptr.length) {
      const next = new Int32Array(this.indptr.length * 2);
      next.set(this.indptr);
      this.indptr = next;
    }
    this.rowCount++;
    this.indptr[this.rowCount] = this.size;
  }

  build(cols: number): Csr {
    return {
      rows: this.rowCount,
      cols,
      indptr: this.indptr.slice(0, this.rowCount + 1),
      indices: this.indices.slice(0, this.size),
      values: this.values ? this.values.slice(0, this.size) : null,
    };
  }

  private growEntries(): void {
    const cap = this.indices.length * 2;
    const indices = new Int32Array(cap);
    indices.set(this.indices);
    this.indices = indices;
    if (this.values) {
      const values = new Float32Array(cap);
      values.set(this.values);
      this.values = values;
    }
  }
}

/** The longest row of m over rows r0..r1 (every row by default): entries of its fullest row. */
export function maxRowLength(m: Csr, r0 = 0, r1 = m.rows): number {
  let max = 0;
  for (let r = r0; r < r1; r++) max = Math.max(max, m.indptr[r + 1] - m.indptr[r]);
  return max;
}

/** Label → the rows that carry it (the label matrix transposed), for labels below numLabels. */
export function labelPositives(labels: Csr, numLabels: number = labels.cols): Csr {
  const indptr = new Int32Array(numLabels + 1);
  const n = labels.indptr[labels.rows];
  for (let p = 0; p < n; p++) if (labels.indices[p] < numLabels) indptr[labels.indices[p] + 1]++;
  for (let y = 0; y < numLabels; y++) indptr[y + 1] += indptr[y];
  const fill = indptr.slice(0, numLabels);
  const indices = new Int32Array(indptr[numLabels]);
  for (let i = 0; i < labels.rows; i++) {
    for (let p = labels.indptr[i]; p < labels.indptr[i + 1]; p++) {
      const y = labels.indices[p];
      if (y < numLabels) indices[fill[y]++] = i;
    }
  }
  return { rows: numLabels, cols: labels.rows, indptr, indices, values: null };
}

/** Rows `ids` of m, in that order. */
export function selectRows(m: Csr, ids: ArrayLike<number>): Csr {
  const b = new CsrBuilder(m.values !== null, ids.length, 16);
  for (let i = 0; i < ids.length; i++) {
    const r = ids[i];
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) b.push(m.indices[p], m.values ? m.values[p] : 1);
    b.endRow();
  }
  return b.build(m.cols);
}

/**
 * out[outOffset..+dim) = sparse row (indices/values over [start, end); values null = all ones)
 * times the dense row-major matrix [*, dim]; returns the L2 norm of the result.
 */
export function sparseRowTimesDenseInto(
  indices: Int32Array,
  values: Float32Array | null,
  start: number,
  end: number,
  matrix: Float32Array,
  dim: number,
  out: Float32Array,
  outOffset: number,
): number {
  for (let j = 0; j < dim; j++) out[outOffset + j] = 0;
  // Four matrix rows per pass over out: each out element is loaded and stored a quarter as often,
  // which is what the plain loop spent its time on (BENCHMARKS.md 2: the training kernels).
  let p = start;
  for (; p + 3 < end; p += 4) {
    const x0 = values ? values[p] : 1;
    const x1 = values ? values[p + 1] : 1;
    const x2 = values ? values[p + 2] : 1;
    const x3 = values ? values[p + 3] : 1;
    const b0 = indices[p] * dim;
    const b1 = indices[p + 1] * dim;
    const b2 = indices[p + 2] * dim;
    const b3 = indices[p + 3] * dim;
    for (let j = 0; j < dim; j++) out[outOffset + j] += x0 * matrix[b0 + j] + x1 * matrix[b1 + j] + x2 * matrix[b2 + j] + x3 * matrix[b3 + j];
  }
  for (; p < end; p++) {
    const x = values ? values[p] : 1;
    const base = indices[p] * dim;
    for (let j = 0; j < dim; j++) out[outOffset + j] += x * matrix[base + j];
  }
  let ss = 0;
  for (let j = 0; j < dim; j++) ss += out[outOffset + j] * out[outOffset + j];
  return Math.sqrt(ss);
}

/** Scales out[offset..+dim) by 1/norm (a zero vector stays zero). */
export function scaleToUnitInto(out: Float32Array, offset: number, dim: number, norm: number): void {
  if (norm <= 0) return;
  const inv = 1 / norm;
  for (let j = 0; j < dim; j++) out[offset + j] *= inv;
}
