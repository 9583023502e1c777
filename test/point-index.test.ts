import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { IndexIntegrityError } from '../src/ann/index-file.js';
import { PointIndex, type PointIndexOptions, type PointScalar } from '../src/ann/point-index.js';
import { Rng } from '../src/core/util/rng.js';
import { recallAt } from '../bench/lib.js';

/** count unit vectors of dim around 40 centres, as training points' embeddings cluster by label. */
function unitVectors(count: number, dim: number, rng: Rng): Float32Array {
  const centres = Float32Array.from({ length: 40 * dim }, () => rng.normal());
  const out = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const c = (i % 40) * dim;
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const x = centres[c + j] + 0.7 * rng.normal();
      out[i * dim + j] = x;
      norm += x * x;
    }
    for (let j = 0; j < dim; j++) out[i * dim + j] /= Math.sqrt(norm);
  }
  return out;
}

describe('PointIndex (USearch)', () => {
  const dim = 32;
  const count = 3000;
  const nq = 200;
  const rng = new Rng(5);
  const points = unitVectors(count, dim, rng);
  const queries = unitVectors(nq, dim, rng);
  const exact = exactTopK(points, count, dim, queries, nq, 10);
  const opts = (scalar: PointScalar): PointIndexOptions => ({ M: 16, efConstruction: 100, efSearch: 100, scalar });
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-point-index-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('finds the exact nearest points, with their inner products (f32) or within a half float of them (f16)', () => {
    for (const [scalar, tol] of [['f32', 1e-5], ['f16', 3e-3]] as const) {
      const index = PointIndex.build(points, count, dim, opts(scalar), 2);
      const found = index.searchBatch(queries, nq, 10, 2);
      expect(recallAt(exact.labels, 10, found.labels, 10, 10, nq)).toBeGreaterThan(0.95);
      for (let i = 0; i < found.labels.length; i++) {
        const p = found.labels[i];
        let ip = 0;
        for (let j = 0; j < dim; j++) ip += points[p * dim + j] * queries[Math.floor(i / 10) * dim + j];
        expect(Math.abs(found.scores[i] - ip)).toBeLessThan(tol);
      }
    }
  });

  it('in 8 bits finds nearly the same points, scored as their inner products with a query of any norm', () => {
    const index = PointIndex.build(points, count, dim, opts('i8'), 2);
    // queries as the student encodes them: the bias slot at 1 (its point vectors have 0 there), so not unit
    const scaled = queries.map((x, i) => (i % dim === dim - 1 ? 1 : x));
    const truth = exactTopK(points, count, dim, scaled, nq, 10);
    const found = index.searchBatch(scaled, nq, 10, 2);
    expect(recallAt(truth.labels, 10, found.labels, 10, 10, nq)).toBeGreaterThan(0.9);
    let worst = 0;
    for (let i = 0; i < found.labels.length; i++) {
      const p = found.labels[i];
      let ip = 0;
      for (let j = 0; j < dim; j++) ip += points[p * dim + j] * scaled[Math.floor(i / 10) * dim + j];
      worst = Math.max(worst, Math.abs(found.scores[i] - ip));
    }
    // USearch's raw 8-bit inner products would be ~127² times too large
    expect(worst).toBeLessThan(0.03);
  });

  it('on one thread builds the same file twice; saved and loaded, it answers the same', async () => {
    const a = PointIndex.build(points, count, dim, opts('f16'), 1);
    const b = PointIndex.build(points, count, dim, opts('f16'), 1);
    const metaA = await a.save(join(dir, 'a.usearch'));
    const metaB = await b.save(join(dir, 'b.usearch'));
    expect(metaA.sha256).toBe(metaB.sha256);
    expect(metaA).toMatchObject({ library: 'usearch', dim, count, scalar: 'f16', efSearch: 100 });
    const loaded = await PointIndex.load(join(dir, 'a.usearch'), dim, count);
    expect(loaded.options).toEqual(opts('f16'));
    const before = a.searchBatch(queries, nq, 10);
    const after = loaded.searchBatch(queries, nq, 10);
    expect(Array.from(after.labels)).toEqual(Array.from(before.labels));
    expect(Array.from(after.scores)).toEqual(Array.from(before.scores));
    // in 8 bits, by cosine: the sidecar says so, and the loaded index answers the same
    const built8 = PointIndex.build(points, count, dim, opts('i8'), 1);
    expect(await built8.save(join(dir, 'i8.usearch'))).toMatchObject({ scalar: 'i8', space: 'cos' });
    const loaded8 = await PointIndex.load(join(dir, 'i8.usearch'), dim, count);
    expect(loaded8.options).toEqual(opts('i8'));
    const [b8, a8] = [built8, loaded8].map((ix) => ix.searchBatch(queries, nq, 10));
    expect(Array.from(a8.labels)).toEqual(Array.from(b8.labels));
    expect(Array.from(a8.scores)).toEqual(Array.from(b8.scores));
  });

  it('answers one query, and fills what it cannot find with -1 / -Infinity', () => {
    const few = PointIndex.build(points, 5, dim, opts('f32'), 1);
    const one = few.searchBatch(queries, 1, 8);
    expect(Array.from(one.labels.subarray(0, 5)).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(one.labels.subarray(5))).toEqual([-1, -1, -1]);
    expect(Array.from(one.scores.subarray(5))).toEqual([-Infinity, -Infinity, -Infinity]);
    const many = few.searchBatch(queries, 3, 8);
    expect(Array.from(many.labels.subarray(0, 8))).toEqual(Array.from(one.labels));
    // in 8 bits (scores rescaled by the query's norm) too, a query of norm 0 included: its empty slots are not NaN
    const few8 = PointIndex.build(points, 5, dim, opts('i8'), 1);
    const zero = new Float32Array(2 * dim);
    zero.set(queries.subarray(0, dim));
    const both = few8.searchBatch(zero, 2, 8);
    for (const row of [0, 1]) {
      expect(Array.from(both.labels.subarray(row * 8 + 5, row * 8 + 8))).toEqual([-1, -1, -1]);
      expect(Array.from(both.scores.subarray(row * 8 + 5, row * 8 + 8))).toEqual([-Infinity, -Infinity, -Infinity]);
    }
    expect(Array.from(both.scores.subarray(8, 13))).toEqual([0, 0, 0, 0, 0]);
  });

  it('refuses a file that does not match its sidecar or the caller, and a label index', async () => {
    const path = join(dir, 'c.usearch');
    await PointIndex.build(points, count, dim, opts('f16'), 1).save(path);
    await expect(PointIndex.load(path, dim + 1, count)).rejects.toThrow(/has dim 32, expected 33/);
    await expect(PointIndex.load(path, dim, count - 1)).rejects.toThrow(/has 3000 points, expected 2999/);
    await appendFile(path, Buffer.from([1]));
    await expect(PointIndex.load(path, dim, count)).rejects.toThrow(IndexIntegrityError);
    await expect(PointIndex.load(path, dim, count)).rejects.toThrow(/does not match/);
    const labels = join(dir, 'labels.hnsw');
    await LabelIndex.build(points, 100, dim).save(labels);
    await expect(PointIndex.load(labels, dim, 100)).rejects.toThrow(/not a points index sidecar/);
    await writeFile(`${path}.json`, (await readFile(`${path}.json`, 'utf8')).slice(0, 10));
    await expect(PointIndex.load(path, dim, count)).rejects.toThrow(/cannot read index sidecar/);
  });
});
