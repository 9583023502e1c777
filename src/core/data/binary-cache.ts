/**
 * Binary cache of parsed XC files, so the second load of a large file costs one read instead of a
 * parse. Layout (little-endian):
 *   magic "DXRXCBIN" | u32 version | u32 rows, featureCols, labelCols, featureNnz, labelNnz |
 *   features.indptr i32[rows+1] | features.indices i32[fnnz] | features.values f32[fnnz] |
 *   labels.indptr i32[rows+1] | labels.indices i32[lnnz] | sha1 of everything before (20 bytes)
 * A file that fails any check (size, magic, version, checksum, structure) is ignored and rewritten.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { endianness, homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Csr } from './csr.js';
import type { Dataset } from './dataset.js';
import { readXcFile } from './xc-format.js';

const MAGIC = Buffer.from('DXRXCBIN', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 8 + 4 * 6;
const DIGEST_BYTES = 20;

/** `$DISTILXR_CACHE_DIR`, else `~/.cache/distilxr`. */
export function defaultCacheDir(): string {
  return process.env.DISTILXR_CACHE_DIR || join(homedir(), '.cache', 'distilxr');
}

/** Cache file for `path` in its current state: the key changes when the file is replaced or edited. */
export async function cachePathFor(path: string, cacheDir: string = defaultCacheDir()): Promise<string> {
  const abs = resolve(path);
  const st = await stat(abs);
  const key = createHash('sha1').update(`${abs}\0${st.size}\0${st.mtimeMs}`).digest('hex');
  return join(cacheDir, `${key}.xcbin`);
}

/** Reads an XC file through the cache: a valid cache entry is used, anything else re-parses. */
export async function readXcCached(path: string, cacheDir: string = defaultCacheDir()): Promise<Dataset> {
  // typed arrays are host-endian; the format is little-endian, so big-endian hosts just parse
  if (endianness() !== 'LE') return readXcFile(path);
  const file = await cachePathFor(path, cacheDir);
  const cached = await loadCacheFile(file, path);
  if (cached) return cached;
  const d = await readXcFile(path);
  // a file edited while we parsed gets a new key; caching the parse under the old one would lie
  if ((await cachePathFor(path, cacheDir)) === file) {
    try {
      await mkdir(cacheDir, { recursive: true });
      await saveCacheFile(file, d);
    } catch {
      // the cache only saves time; an unwritable cache directory must not fail the load
    }
  }
  return d;
}

/** Writes `d` atomically: a temp file in the same directory, then rename over the target. */
export async function saveCacheFile(file: string, d: Dataset): Promise<void> {
  const f = d.features;
  const l = d.labels;
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(f.rows, 12);
  header.writeUInt32LE(f.cols, 16);
  header.writeUInt32LE(l.cols, 20);
  header.writeUInt32LE(f.indptr[f.rows], 24);
  header.writeUInt32LE(l.indptr[l.rows], 28);
  const values = f.values ?? new Float32Array(f.indices.length).fill(1);
  const parts = [header, bytes(f.indptr), bytes(f.indices), bytes(values), bytes(l.indptr), bytes(l.indices)];
  const hash = createHash('sha1');
  for (const p of parts) hash.update(p);
  parts.push(hash.digest());

  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    for (const p of parts) await fh.write(p);
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** The cached dataset, or null when the file is missing or fails any check. */
export async function loadCacheFile(file: string, source: string): Promise<Dataset | null> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return null;
  }
  if (buf.length < HEADER_BYTES + DIGEST_BYTES || !buf.subarray(0, 8).equals(MAGIC)) return null;
  if (buf.readUInt32LE(8) !== VERSION) return null;
  const rows = buf.readUInt32LE(12);
  const fcols = buf.readUInt32LE(16);
  const lcols = buf.readUInt32LE(20);
  const fnnz = buf.readUInt32LE(24);
  const lnnz = buf.readUInt32LE(28);
  const bodyBytes = HEADER_BYTES + 4 * (2 * (rows + 1) + 2 * fnnz + lnnz);
  if (buf.length !== bodyBytes + DIGEST_BYTES) return null;
  const digest = createHash('sha1').update(buf.subarray(0, bodyBytes)).digest();
  if (!digest.equals(buf.subarray(bodyBytes))) return null;

  // views over the read buffer avoid a second copy of a large file; a small file may come from
  // Buffer's shared pool at an unaligned offset, and is copied then
  if (buf.byteOffset % 4 !== 0) buf = Buffer.from(new Uint8Array(buf).buffer);
  let off = buf.byteOffset + HEADER_BYTES;
  const i32 = (n: number): Int32Array => {
    const a = new Int32Array(buf.buffer, off, n);
    off += 4 * n;
    return a;
  };
  const features: Csr = { rows, cols: fcols, indptr: i32(rows + 1), indices: i32(fnnz), values: null };
  features.values = new Float32Array(buf.buffer, off, fnnz);
  off += 4 * fnnz;
  const labels: Csr = { rows, cols: lcols, indptr: i32(rows + 1), indices: i32(lnnz), values: null };
  if (!validCsr(features) || !validCsr(labels)) return null;
  return { features, labels, source };
}

/** Structure check, so even a cache written by a buggy version cannot index out of bounds later. */
function validCsr(m: Csr): boolean {
  const { indptr, indices } = m;
  if (indptr[0] !== 0 || indptr[m.rows] !== indices.length) return false;
  for (let r = 0; r < m.rows; r++) {
    const a = indptr[r];
    const b = indptr[r + 1];
    if (b < a) return false;
    let prev = -1;
    for (let p = a; p < b; p++) {
      const c = indices[p];
      if (c <= prev || c >= m.cols) return false;
      prev = c;
    }
  }
  if (m.values) {
    for (let p = 0; p < m.values.length; p++) if (!Number.isFinite(m.values[p])) return false;
  }
  return true;
}

function bytes(a: Int32Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
