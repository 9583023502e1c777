import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { IndexIntegrityError, sidecarPath } from '../src/ann/index-file.js';
import { EMPTY_LABEL_NORM, projectedLabelCentroids } from '../src/ann/label-centroids.js';
import { RandomProjection } from '../src/ann/random-projection.js';
import type { Csr } from '../src/core/data/csr.js';
import { CsrBuilder } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';

const DIM = 32;
const COUNT = 5000;
const CLUSTERS = 50;
const QUERIES = 500;
const K = 10;

/** Unit vectors around `CLUSTERS` random unit centres: [n, DIM]. */
function clustered(rng: Rng, centres: Float32Array, n: number, spread: number): Float32Array {
  const out = new Float32Array(n * DIM);
  for (let i = 0; i < n; i++) {
    const c = rng.int(CLUSTERS) * DIM;
    let ss = 0;
    for (let d = 0; d < DIM; d++) {
      const v = centres[c + d] + (spread * rng.normal()) / Math.sqrt(DIM);
      out[i * DIM + d] = v;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let d = 0; d < DIM; d++) out[i * DIM + d] *= inv;
  }
  return out;
}

function randomCsr(rng: Rng, rows: number, cols: number, perRow: number, withValues: boolean): Csr {
  const b = new CsrBuilder(withValues);
  for (let r = 0; r < rows; r++) {
    const len = rng.int(perRow + 1);
    const set = new Set<number>();
    for (let j = 0; j < len; j++) set.add(rng.int(cols));
    for (const c of [...set].sort((x, y) => x - y)) b.push(c, withValues ? rng.normal() : 1);
    b.endRow();
  }
  return b.build(cols);
}

function rowOf(m: Csr, r: number): number[] {
  return Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1]));
}

const rng = new Rng(2024);
const centres = clustered(rng, new Float32Array(CLUSTERS * DIM).map(() => rng.normal()), CLUSTERS, 0);
const vectors = clustered(rng, centres, COUNT, 0.6);
const queries = clustered(rng, centres, QUERIES, 0.6);
let index: LabelIndex;
let dir: string;

beforeAll(async () => {
  index = LabelIndex.build(vectors, COUNT, DIM);
  dir = await mkdtemp(join(tmpdir(), 'distilxr-hnsw-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('exactTopK', () => {
  it('matches a naive double loop, with exclusions, across block boundaries', () => {
    const r = new Rng(5);
    const count = 1300; // > one 512-label block
    const dim = 7;
    const n = 37; // > one 16-query block
    const k = 12;
    const vec = new Float32Array(count * dim).map(() => r.normal());
    const qs = new Float32Array(n * dim).map(() => r.normal());
    const excluded = randomCsr(r, n, count + 5, 30, false); // may name labels ≥ count: ignored
    for (const ex of [undefined, excluded]) {
      const got = exactTopK(vec, count, dim, qs, n, k, ex);
      for (let q = 0; q < n; q++) {
        const skip = new Set(ex ? rowOf(ex, q) : []);
        const all: { l: number; s: number }[] = [];
        for (let l = 0; l < count; l++) {
          if (skip.has(l)) continue;
          let s = 0;
          for (let d = 0; d < dim; d++) s += qs[q * dim + d] * vec[l * dim + d];
          all.push({ l, s: Math.fround(s) });
        }
        all.sort((a, b) => b.s - a.s || a.l - b.l);
        expect(Array.from(got.labels.subarray(q * k, q * k + k))).toEqual(all.slice(0, k).map((e) => e.l));
        expect(Array.from(got.scores.subarray(q * k, q * k + k))).toEqual(all.slice(0, k).map((e) => e.s));
      }
    }
  });

  it('pads with -1 / -Infinity when k exceeds the labels left', () => {
    const vec = Float32Array.from([1, 0, 0, 1, 1, 1]); // 3 labels, dim 2
    const excluded: Csr = { rows: 1, cols: 3, indptr: Int32Array.from([0, 1]), indices: Int32Array.from([2]), values: null };
    const got = exactTopK(vec, 3, 2, Float32Array.from([1, 0.5]), 1, 4, excluded);
    expect(Array.from(got.labels)).toEqual([0, 1, -1, -1]);
    expect(Array.from(got.scores)).toEqual([1, 0.5, -Infinity, -Infinity]);
  });
});

describe('LabelIndex', () => {
  it('recall@10 >= 0.95 against exact search on clustered data', () => {
    const exact = exactTopK(vectors, COUNT, DIM, queries, QUERIES, K);
    const approx = index.searchBatch(queries, QUERIES, K, { ef: 100 });
    let hit = 0;
    for (let q = 0; q < QUERIES; q++) {
      const truth = new Set(exact.labels.subarray(q * K, q * K + K));
      for (let j = 0; j < K; j++) if (truth.has(approx.labels[q * K + j])) hit++;
    }
    const recall = hit / (QUERIES * K);
    expect(recall).toBeGreaterThanOrEqual(0.95);
    // scores are inner products, best first
    for (let q = 0; q < 20; q++) {
      for (let j = 0; j < K; j++) {
        const l = approx.labels[q * K + j];
        let s = 0;
        for (let d = 0; d < DIM; d++) s += queries[q * DIM + d] * vectors[l * DIM + d];
        expect(approx.scores[q * K + j]).toBeCloseTo(s, 5);
        if (j > 0) expect(approx.scores[q * K + j]).toBeLessThanOrEqual(approx.scores[q * K + j - 1]);
      }
    }
  });

  it('searchInto writes at an offset and pads beyond count', () => {
    const small = LabelIndex.build(vectors, 6, DIM);
    const labels = new Int32Array(12).fill(7);
    const scores = new Float32Array(12);
    const found = small.searchInto(queries, DIM, 8, labels, scores, 2);
    expect(found).toBe(6);
    expect(labels[0]).toBe(7);
    expect(Array.from(labels.subarray(2, 8)).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(labels.subarray(8, 10))).toEqual([-1, -1]);
    expect(scores[9]).toBe(-Infinity);
  });

  it('searchBatchExcluding never returns an excluded label and returns k results', () => {
    const n = 200;
    const k = 20;
    const exact = exactTopK(vectors, COUNT, DIM, queries, n, 15);
    // exclude each query's exact top 15 (the labels HNSW would otherwise return first) plus random ones
    const r = new Rng(9);
    const b = new CsrBuilder(false);
    for (let q = 0; q < n; q++) {
      const set = new Set<number>(exact.labels.subarray(q * 15, q * 15 + 15));
      for (let j = 0; j < 10; j++) set.add(r.int(COUNT));
      for (const l of [...set].sort((x, y) => x - y)) b.push(l);
      b.endRow();
    }
    const excluded = b.build(COUNT);
    const viaOverfetch = index.searchBatchExcluding(queries, n, k, excluded, { ef: 100 });
    const viaFilter = index.searchBatch(queries, n, k, {
      ef: 100,
      exclude: (q, l) => rowOf(excluded, q).includes(l),
    });
    const exactEx = exactTopK(vectors, COUNT, DIM, queries, n, k, excluded);
    let hit = 0;
    for (let q = 0; q < n; q++) {
      const skip = new Set(rowOf(excluded, q));
      const got = Array.from(viaOverfetch.labels.subarray(q * k, q * k + k));
      expect(new Set(got).size).toBe(k);
      for (const l of got) {
        expect(l).toBeGreaterThanOrEqual(0);
        expect(skip.has(l)).toBe(false);
      }
      for (const l of viaFilter.labels.subarray(q * k, q * k + k)) expect(skip.has(l)).toBe(false);
      const truth = new Set(exactEx.labels.subarray(q * k, q * k + k));
      for (const l of got) if (truth.has(l)) hit++;
    }
    expect(hit / (n * k)).toBeGreaterThanOrEqual(0.9);
  });

  it('save/load round trip gives identical results; a tampered file is refused', async () => {
    const path = join(dir, 'labels.hnsw');
    const meta = await index.save(path);
    expect(meta).toMatchObject({ dim: DIM, count: COUNT, M: 16, efConstruction: 200, space: 'ip' });
    expect(JSON.parse(await readFile(sidecarPath(path), 'utf8'))).toEqual(meta);
    const loaded = await LabelIndex.load(path, DIM, COUNT);
    index.setEf(64);
    loaded.setEf(64);
    const a = index.searchBatch(queries, 100, K);
    const b = loaded.searchBatch(queries, 100, K);
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
    expect(Array.from(b.scores)).toEqual(Array.from(a.scores));

    await expect(LabelIndex.load(path, DIM + 1)).rejects.toThrow(IndexIntegrityError);
    await expect(LabelIndex.load(path, DIM, COUNT + 1)).rejects.toThrow(/labels, expected/);

    const bytes = await readFile(path);
    bytes[bytes.length >> 1] ^= 0x40;
    await writeFile(path, bytes);
    await expect(LabelIndex.load(path, DIM, COUNT)).rejects.toThrow(/sha256/);
    await rm(sidecarPath(path));
    await expect(LabelIndex.load(path, DIM)).rejects.toThrow(IndexIntegrityError);
  });
});

describe('random projection and label centroids', () => {
  const r = new Rng(3);
  const features = randomCsr(r, 60, 30, 8, true);
  const labels = randomCsr(r, 60, 12, 3, false); // numLabels 14 below: labels 12, 13 never seen
  const outDim = 8;

  /** x·R with the dense matrix, float64. */
  function naiveProject(p: RandomProjection, row: number): number[] {
    const out = new Array<number>(outDim).fill(0);
    for (let q = features.indptr[row]; q < features.indptr[row + 1]; q++) {
      const f = features.indices[q];
      for (let j = 0; j < outDim; j++) out[j] += features.values![q] * p.matrix[f * outDim + j];
    }
    return out;
  }

  it('projectCsr equals the dense product; seeded; normalize option gives unit rows', () => {
    const p = new RandomProjection(30, outDim, 17);
    expect(new RandomProjection(30, outDim, 17).matrix).toEqual(p.matrix);
    const got = p.projectCsr(features);
    for (let row = 0; row < features.rows; row++) {
      const want = naiveProject(p, row);
      for (let j = 0; j < outDim; j++) expect(got[row * outDim + j]).toBeCloseTo(want[j], 5);
    }
    const pn = new RandomProjection(30, outDim, 17, { normalize: true });
    const gn = pn.projectCsr(features);
    for (let row = 0; row < features.rows; row++) {
      let ss = 0;
      for (let j = 0; j < outDim; j++) ss += gn[row * outDim + j] ** 2;
      if (features.indptr[row + 1] > features.indptr[row]) expect(ss).toBeCloseTo(1, 5);
    }
    // entries ~ N(0, 1/outDim): mean square ≈ 1/8 over 240 draws
    let ms = 0;
    for (let i = 0; i < p.matrix.length; i++) ms += p.matrix[i] ** 2;
    expect(ms / p.matrix.length).toBeGreaterThan(0.08);
    expect(ms / p.matrix.length).toBeLessThan(0.17);
  });

  for (const normalize of [false, true]) {
    it(`projectedLabelCentroids matches a naive computation (normalize=${normalize})`, () => {
      const p = new RandomProjection(30, outDim, 99, { normalize });
      const numLabels = 14;
      const got = projectedLabelCentroids(features, labels, numLabels, p);
      expect(got.length).toBe(numLabels * outDim);
      const sums = Array.from({ length: numLabels }, () => new Array<number>(outDim).fill(0));
      for (let row = 0; row < features.rows; row++) {
        let x = naiveProject(p, row);
        if (normalize) {
          const norm = Math.hypot(...x);
          x = x.map((v) => (norm > 0 ? v / norm : 0));
        }
        for (const l of rowOf(labels, row)) for (let j = 0; j < outDim; j++) sums[l][j] += x[j];
      }
      for (let l = 0; l < numLabels; l++) {
        const norm = Math.hypot(...sums[l]);
        const row = Array.from(got.subarray(l * outDim, (l + 1) * outDim));
        if (norm > 1e-9) {
          for (let j = 0; j < outDim; j++) expect(row[j]).toBeCloseTo(sums[l][j] / norm, 5);
        } else {
          expect(Math.hypot(...row)).toBeCloseTo(EMPTY_LABEL_NORM, 8); // no points: tiny random vector
        }
      }
    });
  }
});
