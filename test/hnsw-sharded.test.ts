import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { mergeShardTopK, ShardedLabelIndex, ShardWorkerError } from '../src/ann/sharded-index.js';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { synthesize } from '../src/core/data/synth.js';
import { mineFromCentroids } from '../src/pipeline/mine.js';

const DIM = 24;
const COUNT = 3001; // odd: the two shards differ in size
const QUERIES = 300;

/** Unit vectors around 40 random centres: [n, DIM]. */
function clustered(rng: Rng, centres: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const c = rng.int(40) * DIM;
    let ss = 0;
    for (let d = 0; d < DIM; d++) {
      const v = centres[c + d] + (0.6 * rng.normal()) / Math.sqrt(DIM);
      out[i * DIM + d] = v;
      ss += v * v;
    }
    for (let d = 0; d < DIM; d++) out[i * DIM + d] /= Math.sqrt(ss);
  }
  return out;
}

/** Up to `perRow` distinct sorted labels per row. */
function randomRows(rng: Rng, rows: number, cols: number, perRow: number): Csr {
  const b = new CsrBuilder(false);
  for (let r = 0; r < rows; r++) {
    const set = new Set<number>();
    for (let j = rng.int(perRow + 1); j > 0; j--) set.add(rng.int(cols));
    for (const c of [...set].sort((x, y) => x - y)) b.push(c, 1);
    b.endRow();
  }
  return b.build(cols);
}

function recall(exact: Int32Array, approx: Int32Array, n: number, k: number): number {
  let hits = 0;
  for (let q = 0; q < n; q++) {
    const want = new Set(exact.subarray(q * k, q * k + k));
    for (let j = 0; j < k; j++) if (want.has(approx[q * k + j])) hits++;
  }
  return hits / (n * k);
}

const rng = new Rng(77);
const centres = new Float32Array(40 * DIM).map(() => rng.normal());
const vectors = clustered(rng, centres, COUNT);
const queries = clustered(rng, centres, QUERIES);
const excluded = randomRows(rng, QUERIES, COUNT, 6);
let sharded: ShardedLabelIndex;

beforeAll(async () => {
  sharded = await ShardedLabelIndex.build(vectors, COUNT, DIM, { shards: 2, efConstruction: 64, seed: 5 });
});

afterAll(async () => {
  await sharded?.close();
});

describe('mergeShardTopK', () => {
  it('equals sorting the union by score (ties to the lower label), for random lists with ties and padding', () => {
    const r = new Rng(3);
    for (let trial = 0; trial < 30; trial++) {
      const S = 1 + r.int(3);
      const n = 1 + r.int(4);
      const k = 1 + r.int(6);
      const labels: Int32Array[] = [];
      const scores: Float32Array[] = [];
      const union: { label: number; score: number }[][] = Array.from({ length: n }, () => []);
      for (let s = 0; s < S; s++) {
        const l = new Int32Array(n * k).fill(-1);
        const sc = new Float32Array(n * k).fill(-Infinity);
        for (let q = 0; q < n; q++) {
          const found = r.int(k + 1);
          // coarse scores so ties across shards happen; labels of shard s are ≡ s (mod S)
          const row = Array.from({ length: found }, (_, j) => ({ label: (q * 100 + j * 7 + r.int(5)) * S + s, score: r.int(4) / 4 }));
          row.sort((a, b) => b.score - a.score);
          row.forEach((e, j) => {
            l[q * k + j] = e.label;
            sc[q * k + j] = e.score;
          });
          union[q].push(...row);
        }
        labels.push(l);
        scores.push(sc);
      }
      const out = { labels: new Int32Array(n * k), scores: new Float32Array(n * k) };
      mergeShardTopK(labels, scores, n, k, out);
      for (let q = 0; q < n; q++) {
        const want = union[q].sort((a, b) => b.score - a.score || a.label - b.label).slice(0, k);
        const got = Array.from({ length: k }, (_, j) => ({ label: out.labels[q * k + j], score: out.scores[q * k + j] }));
        const padded = [...want, ...Array.from({ length: k - want.length }, () => ({ label: -1, score: -Infinity }))];
        expect(got).toEqual(padded);
      }
    }
  });
});

describe('ShardedLabelIndex', () => {
  it('finds the exact neighbours from both shards, never an excluded label, k per query', async () => {
    const k = 20;
    expect(sharded.shards).toBe(2);
    const got = await sharded.searchBatchExcluding(queries, QUERIES, k, excluded, { ef: 100 });
    const exact = exactTopK(vectors, COUNT, DIM, queries, QUERIES, k, excluded);
    expect(recall(exact.labels, got.labels, QUERIES, k)).toBeGreaterThan(0.97);
    let odd = 0;
    for (let q = 0; q < QUERIES; q++) {
      const ex = new Set(excluded.indices.subarray(excluded.indptr[q], excluded.indptr[q + 1]));
      const row = got.labels.subarray(q * k, q * k + k);
      expect(new Set(row).size).toBe(k);
      for (let j = 0; j < k; j++) {
        expect(row[j]).toBeGreaterThanOrEqual(0);
        expect(row[j]).toBeLessThan(COUNT);
        expect(ex.has(row[j])).toBe(false);
        if (row[j] % 2) odd++;
        if (j) expect(got.scores[q * k + j]).toBeLessThanOrEqual(got.scores[q * k + j - 1]);
        // scores are the true inner products of the returned labels
        let dot = 0;
        for (let d = 0; d < DIM; d++) dot += queries[q * DIM + d] * vectors[row[j] * DIM + d];
        expect(got.scores[q * k + j]).toBeCloseTo(dot, 4);
      }
    }
    expect(odd).toBeGreaterThan(0.3 * QUERIES * k);
    expect(odd).toBeLessThan(0.7 * QUERIES * k);
  });

  it('is deterministic: a second build with the same seed gives the same results bit for bit', async () => {
    const again = await ShardedLabelIndex.build(vectors, COUNT, DIM, { shards: 2, efConstruction: 64, seed: 5 });
    try {
      const a = await sharded.searchBatchExcluding(queries, QUERIES, 30, excluded, { ef: 60 });
      const b = await again.searchBatchExcluding(queries, QUERIES, 30, excluded, { ef: 60 });
      expect(Buffer.from(b.labels.buffer).equals(Buffer.from(a.labels.buffer))).toBe(true);
      expect(Buffer.from(b.scores.buffer).equals(Buffer.from(a.scores.buffer))).toBe(true);
    } finally {
      await again.close();
    }
  });

  it('pads with −1 when a query has fewer labels left than k; a closed index refuses to search', async () => {
    const few = await ShardedLabelIndex.build(vectors, 5, DIM, { shards: 2 });
    const ex: Csr = { rows: 1, cols: 5, indptr: Int32Array.from([0, 2]), indices: Int32Array.from([1, 4]), values: null };
    const got = await few.searchBatchExcluding(queries, 1, 4, ex);
    expect([...got.labels].slice(0, 3).sort()).toEqual([0, 2, 3]);
    expect(got.labels[3]).toBe(-1);
    expect(got.scores[3]).toBe(-Infinity);
    await few.close();
    await expect(few.searchBatchExcluding(queries, 1, 4, ex)).rejects.toBeInstanceOf(ShardWorkerError);
  });

  it('refuses bad arguments with a message naming them', async () => {
    await expect(ShardedLabelIndex.build(vectors, COUNT, DIM, { shards: 0 })).rejects.toThrow(/shards must be a positive integer, got 0/);
    await expect(ShardedLabelIndex.build(vectors, COUNT + 1, DIM, { shards: 2 })).rejects.toThrow(/vectors hold/);
    await expect(sharded.searchBatchExcluding(queries, QUERIES + 1, 5, excluded)).rejects.toThrow(/excluded has 300 rows, need 301/);
  });
});

/**
 * Mines in a worker thread whose modules are loaded through tsx's tsImport, as the job's pipeline
 * thread loads them (their import.meta.url then carries a query): the shard workers must still start.
 */
function mineInThread(): Promise<Int32Array> {
  const script = `
const { parentPort, workerData: w } = require('node:worker_threads');
import(w.tsxApi).then(async (api) => {
  const { synthesize } = await api.tsImport(w.synthUrl, w.parentUrl);
  const { mineFromCentroids } = await api.tsImport(w.mineUrl, w.parentUrl);
  const { train } = synthesize(w.synth);
  const pool = await mineFromCentroids(train, w.synth.labels, w.opts);
  parentPort.postMessage(pool.labels);
}).catch((e) => process.nextTick(() => { throw e; }));`;
  const workerData = {
    tsxApi: import.meta.resolve('tsx/esm/api'),
    synthUrl: new URL('../src/core/data/synth.ts', import.meta.url).href,
    mineUrl: new URL('../src/pipeline/mine.ts', import.meta.url).href,
    parentUrl: import.meta.url,
    synth: SYNTH,
    opts: { poolSize: 16, seed: 4, shards: 2 },
  };
  const worker = new Worker(script, { eval: true, workerData });
  return new Promise<Int32Array>((resolve, reject) => {
    worker.once('message', (labels: Int32Array) => resolve(labels));
    worker.once('error', reject);
  }).finally(() => worker.terminate());
}

const SYNTH = { points: 600, testPoints: 10, features: 300, labels: 400, seed: 11 };

describe('mining with a sharded index', () => {
  const { train } = synthesize(SYNTH);

  it('gives the same pools bit for bit on every run, close to the single index, without positives', async () => {
    const opts = { poolSize: 16, seed: 4 };
    const a = await mineFromCentroids(train, 400, { ...opts, shards: 2 });
    const b = await mineFromCentroids(train, 400, { ...opts, shards: 2 });
    expect(Buffer.from(b.labels.buffer).equals(Buffer.from(a.labels.buffer))).toBe(true);
    const single = await mineFromCentroids(train, 400, { ...opts, shards: 1 });
    expect(single.labels.length).toBe(a.labels.length);
    // 400 labels searched with ef 100: both are (nearly) exact, so the pools (nearly) agree
    expect(recall(single.labels, a.labels, train.features.rows, 16)).toBeGreaterThan(0.95);
    for (let r = 0; r < train.features.rows; r++) {
      const pos = new Set(train.labels.indices.subarray(train.labels.indptr[r], train.labels.indptr[r + 1]));
      for (let j = 0; j < 16; j++) expect(pos.has(a.labels[r * 16 + j])).toBe(false);
    }
    // from inside a worker thread (the job's pipeline thread): shard workers start, same pools
    const inThread = await mineInThread();
    expect(Buffer.from(inThread.buffer, inThread.byteOffset, inThread.byteLength).equals(Buffer.from(a.labels.buffer))).toBe(true);
  });
});

describe('LabelIndex.searchBatchExcluding into given arrays', () => {
  it('writes the same results into `out` as into fresh arrays, and refuses a short `out`', () => {
    const index = LabelIndex.build(vectors, 500, DIM, { efConstruction: 64 });
    const ex = { ...excluded, cols: 500, indices: excluded.indices.map((l) => l % 500) };
    // keep rows sorted after the modulo
    for (let q = 0; q < QUERIES; q++) ex.indices.subarray(ex.indptr[q], ex.indptr[q + 1]).sort();
    const fresh = index.searchBatchExcluding(queries, 50, 10, ex);
    const out = { labels: new Int32Array(50 * 10 + 3).fill(7), scores: new Float32Array(50 * 10 + 3) };
    const got = index.searchBatchExcluding(queries, 50, 10, ex, { out });
    expect(got.labels).toBe(out.labels);
    expect(out.labels.subarray(0, 500)).toEqual(fresh.labels);
    expect(out.scores.subarray(0, 500)).toEqual(fresh.scores);
    expect(out.labels[500]).toBe(7); // nothing past n·k touched
    expect(() => index.searchBatchExcluding(queries, 50, 10, ex, { out: { labels: new Int32Array(10), scores: new Float32Array(500) } })).toThrow(/out holds 10 < 50×10/);
  });
});
