/**
 * Student.encodeAll in the WebAssembly kernels (kernels.wat `encodeRows`): the same floats as the plain loops of
 * sparseRowTimesDenseInto and scaleToUnitInto, bit for bit (the same double arithmetic in the same order, two
 * coordinates a pass), 1.6–2.8× faster on the shared sets' rows, W1's copy included (npm run bench:encode). W1 is
 * copied into a kernel memory of its own and the rows go through it in chunks. The same floats keep the published
 * query path (one row at a time in JavaScript) and every job's evaluation, mining and neighbour points in step.
 */
import { maxRowLength, type Csr } from '../data/csr.js';
import { KernelMemory } from '../simd/kernel-memory.js';

/** Output floats of a chunk: 1 MiB. */
const CHUNK_FLOATS = 1 << 18;
/** Nonzeros of a chunk (a longer row makes a chunk of its own, as long as it is). */
const CHUNK_NNZ = 1 << 18;

/** [rows, d] unit encodings of `features`' rows by the W1 of a student of `shape`; null when its memory cannot be had (above 4 GiB). */
export function encodeRowsWithKernels(W1: Float32Array, shape: { dim: number; labelBias?: boolean }, features: Csr): Float32Array | null {
  const d = shape.dim;
  const { rows, indptr, indices, values } = features;
  const out = new Float32Array(rows * d);
  if (rows === 0) return out;
  const chunkRows = Math.max(1, Math.min(rows, Math.floor(CHUNK_FLOATS / d)));
  const nnzCap = Math.max(CHUNK_NNZ, maxRowLength(features));
  const km = KernelMemory.create(W1.length + chunkRows * d + chunkRows + 1 + 2 * nnzCap + 16);
  if (!km) return null;
  const w = km.copyOf(W1);
  const buf = km.memory.buffer;
  const q = km.floats(chunkRows * d);
  const ptr = new Int32Array(buf, km.floats(chunkRows + 1).byteOffset, chunkRows + 1);
  const feats = new Int32Array(buf, km.floats(nnzCap).byteOffset, nnzCap);
  const vals = km.floats(nnzCap);
  for (let r0 = 0; r0 < rows; ) {
    // as many rows as fit both the chunk's outputs and its nonzeros, at least one
    const p0 = indptr[r0];
    let r1 = r0 + 1;
    while (r1 < rows && r1 - r0 < chunkRows && indptr[r1 + 1] - p0 <= nnzCap) r1++;
    const nnz = indptr[r1] - p0;
    for (let r = r0; r <= r1; r++) ptr[r - r0] = indptr[r] - p0;
    feats.set(indices.subarray(p0, p0 + nnz));
    if (values) vals.set(values.subarray(p0, p0 + nnz));
    else vals.fill(1, 0, nnz);
    km.kernels.encodeRows(q.byteOffset, w.byteOffset, ptr.byteOffset, feats.byteOffset, vals.byteOffset, r1 - r0, d, shape.labelBias ? 1 : 0);
    out.set(q.subarray(0, (r1 - r0) * d), r0 * d);
    r0 = r1;
  }
  return out;
}
