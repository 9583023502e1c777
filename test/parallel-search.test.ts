import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { searchBatchInThreads } from '../src/ann/parallel-search.js';
import { Rng } from '../src/core/util/rng.js';

describe('label-index searches on two threads', () => {
  const dim = 16;
  const count = 3000;
  const n = 501; // odd: the halves differ in size
  const rng = new Rng(9);
  const vectors = Float32Array.from({ length: count * dim }, () => rng.normal());
  const queries = Float32Array.from({ length: n * dim }, () => rng.normal());
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-parallel-search-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('give the labels and scores of one thread, bit for bit, at the index ef', async () => {
    const index = LabelIndex.build(vectors, count, dim, { M: 8, efConstruction: 60, seed: 3 });
    await index.save(join(dir, 'labels.hnsw'));
    expect(index.file).toBe(join(dir, 'labels.hnsw'));
    index.setEf(30);
    const one = index.searchBatch(queries, n, 20);
    const two = await searchBatchInThreads(index, queries, n, 20, 2, 0);
    expect(two.labels.buffer).toBeInstanceOf(SharedArrayBuffer); // the two-thread path ran (one thread returns ordinary arrays): the equality below covers the worker's half
    expect(Array.from(two.labels)).toEqual(Array.from(one.labels));
    expect(Array.from(two.scores)).toEqual(Array.from(one.scores));
    index.setEf(200); // a different ef gives other results here: the worker must use the index's
    const wide = index.searchBatch(queries, n, 20);
    expect(Array.from(wide.labels)).not.toEqual(Array.from(one.labels));
    expect(Array.from((await searchBatchInThreads(index, queries, n, 20, 2, 0)).labels)).toEqual(Array.from(wide.labels));
  });

  it('stay on this thread without a file, and report a file that no longer matches', async () => {
    const fresh = LabelIndex.build(vectors, count, dim, { M: 8, efConstruction: 60, seed: 3 });
    expect(fresh.file).toBeNull();
    const here = await searchBatchInThreads(fresh, queries, n, 5, 2, 0);
    expect(here.labels.buffer).toBeInstanceOf(ArrayBuffer);
    const path = join(dir, 'changed.hnsw');
    await fresh.save(path);
    await appendFile(path, Buffer.from([0]));
    await expect(searchBatchInThreads(fresh, queries, n, 5, 2, 0)).rejects.toThrow(/label search worker: .*does not match/);
  });
});
