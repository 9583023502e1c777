/**
 * One shard of a teacher scoring call, as files on the artifact store's volume: the input (the
 * rows' examples and candidate labels) and the output (their scores, stamped with the input's
 * sha256). Any worker that sees the volume can score a chunk; a chunk written twice (a retried
 * child) is written whole by rename both times, with the same bytes.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Csr } from '../core/data/csr.js';
import { DistilxrError } from '../core/util/errors.js';
import { writeFileAtomically } from '../core/util/atomic-write.js';
import type { CandidateScorer } from '../teacher/onnx-teacher.js';

const IN_MAGIC = 0x49435844; // 'DXCI'
const OUT_MAGIC = 0x4f435844; // 'DXCO'
const VERSION = 1;
const IN_HEADER = 16; // magic, version, rows, batchSize (u32 each)
const OUT_HEADER = 16 + 32; // magic, version, pairs, reserved, sha256 of the input

/** The rows of one chunk: examples[i] is scored against candidates row i. */
export interface ChunkInput {
  examples: Int32Array;
  candidates: Csr;
  /** Examples per ONNX Runtime call, as the in-process call would use. */
  batchSize: number;
}

/** Input bytes of rows [start, end) of a call: the chunk's candidate rows rebased to 0. */
export function encodeChunkInput(examples: Int32Array, candidates: Csr, start: number, end: number, batchSize: number): Uint8Array {
  const rows = end - start;
  const cp = candidates.indptr;
  const pairs = cp[end] - cp[start];
  const buf = new Uint8Array(IN_HEADER + 4 * (rows + rows + 1 + pairs) + 4);
  const view = new DataView(buf.buffer);
  view.setUint32(0, IN_MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, rows, true);
  view.setUint32(12, batchSize, true);
  const body = new Int32Array(buf.buffer, IN_HEADER);
  body.set(examples.subarray(start, end), 0);
  for (let i = 0; i <= rows; i++) body[rows + i] = cp[start + i] - cp[start];
  body.set(candidates.indices.subarray(cp[start], cp[end]), 2 * rows + 1);
  body[2 * rows + 1 + pairs] = candidates.cols;
  return buf;
}

export function decodeChunkInput(bytes: Uint8Array): ChunkInput {
  const bad = (why: string): DistilxrError => new DistilxrError(`corrupt score chunk input: ${why}`, 'SCORE_CHUNK_CORRUPT');
  if (bytes.length < IN_HEADER + 8 || bytes.length % 4 !== 0) throw bad(`${bytes.length} bytes`);
  const copy = new Uint8Array(bytes); // an aligned copy of its own (a Buffer's slice() is a view)
  const view = new DataView(copy.buffer);
  if (view.getUint32(0, true) !== IN_MAGIC || view.getUint32(4, true) !== VERSION) throw bad('bad magic or version');
  const rows = view.getUint32(8, true);
  const batchSize = view.getUint32(12, true);
  const body = new Int32Array(copy.buffer, IN_HEADER);
  const pairs = body.length - (2 * rows + 2);
  if (pairs < 0 || body[2 * rows] !== pairs) throw bad(`${rows} rows do not match ${body.length} words`);
  return {
    examples: body.subarray(0, rows),
    candidates: { rows, cols: body[body.length - 1], indptr: body.subarray(rows, 2 * rows + 1), indices: body.subarray(2 * rows + 1, 2 * rows + 1 + pairs), values: null },
    batchSize,
  };
}

export const sha256Of = (bytes: Uint8Array): Buffer => createHash('sha256').update(bytes).digest();

export function encodeChunkOutput(inputSha: Uint8Array, scores: Float32Array): Uint8Array {
  const buf = new Uint8Array(OUT_HEADER + 4 * scores.length);
  const view = new DataView(buf.buffer);
  view.setUint32(0, OUT_MAGIC, true);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, scores.length, true);
  buf.set(inputSha, 16);
  buf.set(new Uint8Array(scores.buffer, scores.byteOffset, scores.byteLength), OUT_HEADER);
  return buf;
}

/**
 * The scores of a chunk output, or null when the file was made from another input (a stale file,
 * which is then scored again) or is not a whole output.
 */
export function decodeChunkOutput(bytes: Uint8Array, inputSha: Uint8Array): Float32Array | null {
  if (bytes.length < OUT_HEADER) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== OUT_MAGIC || view.getUint32(4, true) !== VERSION) return null;
  const pairs = view.getUint32(8, true);
  if (bytes.length !== OUT_HEADER + 4 * pairs) return null;
  if (!Buffer.from(bytes.subarray(16, OUT_HEADER)).equals(Buffer.from(inputSha))) return null;
  return new Float32Array(new Uint8Array(bytes.subarray(OUT_HEADER)).buffer); // copied: aligned, its own buffer
}

/** Reads a file, or null when it is not there. */
export async function readIfPresent(path: string): Promise<Buffer | null> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Scores the chunk at `inPath` into `outPath` unless a valid output is there already (a retried
 * child whose first run got that far). Returns the pairs scored now (0 when skipped).
 */
export async function scoreChunkFile(scorer: CandidateScorer, features: Csr, inPath: string, outPath: string): Promise<number> {
  const bytes = await readFile(inPath);
  const sha = sha256Of(bytes);
  const done = await readIfPresent(outPath);
  if (done && decodeChunkOutput(done, sha)) return 0;
  const chunk = decodeChunkInput(bytes);
  const scores = await scorer.scoreCandidates(features, chunk.examples, chunk.candidates, { batchSize: chunk.batchSize });
  await writeFileAtomically(outPath, encodeChunkOutput(sha, scores));
  return scores.length;
}
