/**
 * The HNSW search list size a model is published with: the smallest of EF_CANDIDATES whose
 * recall@10 against exact search reaches a target on a sample of training queries. A fixed ef
 * suits some label tables and not others: on apt-files a distilled d=64 student lost 47.69 → 26.58
 * P@1 through its index at ef 100, and an α=0 d=256 one needs ef 200 for recall@10 0.955
 * (0.937 at 100; BENCHMARKS.md section 0).
 */
import { denseTopK } from './dense-search.js';
import type { LabelIndex } from './hnsw-index.js';

export const EF_CANDIDATES = [100, 200, 400, 800];
const K = 10;

export interface EfChoice {
  ef: number;
  /** recall@10 of each ef tried, in order. */
  tried: { ef: number; recall: number }[];
}

/** recall@10 of the index at `ef` against exact top-10, averaged over the n queries. */
function recallAt(index: LabelIndex, ef: number, queries: Float32Array, n: number, exact: Int32Array): number {
  const got = index.searchBatch(queries, n, K, { ef }).labels;
  let hit = 0;
  let want = 0;
  for (let q = 0; q < n; q++) {
    const truth = new Set<number>();
    for (let j = 0; j < K; j++) if (exact[q * K + j] >= 0) truth.add(exact[q * K + j]);
    want += truth.size;
    for (let j = 0; j < K; j++) if (truth.has(got[q * K + j])) hit++;
  }
  return want ? hit / want : 1;
}

/**
 * Tries EF_CANDIDATES in order until recall@10 ≥ target; the largest when none does. Leaves the
 * index set to the chosen ef. target 0: the first candidate, untested.
 */
export async function chooseEfSearch(index: LabelIndex, vectors: Float32Array, queries: Float32Array, n: number, target: number, threads = 1): Promise<EfChoice> {
  if (target <= 0 || n === 0) {
    index.setEf(EF_CANDIDATES[0]);
    return { ef: EF_CANDIDATES[0], tried: [] };
  }
  const exact = (await denseTopK(vectors, index.count, index.dim, queries, n, K, { threads })).labels;
  const tried: EfChoice['tried'] = [];
  for (const ef of EF_CANDIDATES) {
    const recall = recallAt(index, ef, queries, n, exact);
    tried.push({ ef, recall });
    if (recall >= target) break;
  }
  const ef = tried[tried.length - 1].ef;
  index.setEf(ef);
  return { ef, tried };
}
