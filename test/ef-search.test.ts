/**
 * The published index's ef: the smallest candidate whose recall@10 against exact search reaches
 * the target, on a label table whose norms spread over an order of magnitude (what makes a fixed
 * ef miss: BENCHMARKS.md section 0).
 */
import { describe, expect, it } from 'vitest';
import { chooseEfSearch, EF_CANDIDATES } from '../src/ann/ef-search.js';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { Rng } from '../src/core/util/rng.js';

const DIM = 24;
const COUNT = 6000;
const QUERIES = 300;

function table(rng: Rng): { vectors: Float32Array; queries: Float32Array } {
  const vectors = new Float32Array(COUNT * DIM);
  for (let i = 0; i < COUNT; i++) {
    const norm = Math.exp(2.5 * rng.next()); // 1 … 12
    let ss = 0;
    for (let d = 0; d < DIM; d++) ss += (vectors[i * DIM + d] = rng.normal()) ** 2;
    for (let d = 0; d < DIM; d++) vectors[i * DIM + d] *= norm / Math.sqrt(ss);
  }
  const queries = new Float32Array(QUERIES * DIM);
  for (let i = 0; i < queries.length; i++) queries[i] = rng.normal();
  return { vectors, queries };
}

/** recall@10 of the index as it is set now, recomputed here from scratch. */
function recall(index: LabelIndex, vectors: Float32Array, queries: Float32Array): number {
  const exact = exactTopK(vectors, COUNT, DIM, queries, QUERIES, 10).labels;
  const got = index.searchBatch(queries, QUERIES, 10).labels;
  let hit = 0;
  for (let q = 0; q < QUERIES; q++) {
    const truth = new Set(exact.subarray(q * 10, q * 10 + 10));
    for (let j = 0; j < 10; j++) if (truth.has(got[q * 10 + j])) hit++;
  }
  return hit / (QUERIES * 10);
}

describe('chooseEfSearch', () => {
  const { vectors, queries } = table(new Rng(4));
  const index = LabelIndex.build(vectors, COUNT, DIM, { M: 8, efConstruction: 40, seed: 1 });

  it('stops at the first ef that reaches the target and leaves the index set to it', async () => {
    const low = await chooseEfSearch(index, vectors, queries, QUERIES, 0.5);
    expect(low.tried.length).toBeGreaterThanOrEqual(1);
    expect(low.tried[low.tried.length - 1].recall).toBeGreaterThanOrEqual(0.5);
    for (const t of low.tried.slice(0, -1)) expect(t.recall).toBeLessThan(0.5);
    const strict = await chooseEfSearch(index, vectors, queries, QUERIES, 0.995);
    expect(strict.tried.map((t) => t.ef)).toEqual(EF_CANDIDATES.slice(0, strict.tried.length));
    expect(strict.tried[0].recall).toBeLessThan(0.995); // this table needs more than the first ef
    expect(strict.ef).toBeGreaterThan(EF_CANDIDATES[0]);
    // the reported recall is the index's, at the ef it was left with
    expect(recall(index, vectors, queries)).toBeCloseTo(strict.tried[strict.tried.length - 1].recall, 10);
    expect(strict.tried[strict.tried.length - 1].recall).toBeGreaterThan(strict.tried[0].recall);
  });

  it('target 0 keeps the first ef untested', async () => {
    expect(await chooseEfSearch(index, vectors, queries, QUERIES, 0)).toEqual({ ef: EF_CANDIDATES[0], tried: [] });
  });
});
