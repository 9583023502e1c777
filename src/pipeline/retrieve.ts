/**
 * The retriever's one search path (evaluation, `distilxr query`, the API): the student's top
 * labels from the HNSW index (or exactly), blended with the vote of the query's nearest training
 * points when the model has the neighbour component (src/ann/neighbour-blend.ts).
 */
import { exactTopK } from '../ann/exact-search.js';
import type { LabelIndex } from '../ann/hnsw-index.js';
import type { PointIndex } from '../ann/point-index.js';
import { blendWithNeighbours, type NeighbourBlendSettings, type TopK } from '../ann/neighbour-blend.js';
import type { Csr } from '../core/data/csr.js';
import type { Student } from '../core/model/student.js';

/** Labels of the student's shortlist the blend re-ranks (k when k is larger). */
export const BLEND_SHORTLIST = 100;
/** HNSW search list size over the training points (fixed in the PointIndex when it is built or loaded). */
export const POINT_EF = 200;

export interface NeighbourComponent {
  /** Cosine index over the training points' embeddings (encodePoints); point i = row i. */
  index: PointIndex;
  /** Row i: the labels of training point i. */
  pointLabels: Csr;
  settings: NeighbourBlendSettings;
}

export interface RetrieveOptions {
  /** The label index; absent = exact search over every label. */
  labels?: LabelIndex;
  neighbours?: NeighbourComponent | null;
  /** The shortlist already searched (shortlistSize labels per query), exactly or in the label index, e.g. on threads. */
  shortlist?: { labels: Int32Array; scores: Float32Array };
  /** The neighbours already searched (searchNeighbours), e.g. for a second retrieval of the same queries. */
  near?: TopK;
}

/** The parts a blend is computed from: searched once, blended for any settings. */
export interface RetrievalParts {
  shortlist: TopK;
  neighbours: TopK | null;
}

export function blends(n: NeighbourComponent | null | undefined): n is NeighbourComponent {
  return !!n && votes(n.settings);
}

/** Settings under which the neighbours' vote changes the ranking. */
function votes(s: NeighbourBlendSettings | null): s is NeighbourBlendSettings {
  return !!s && s.neighbours > 0 && s.weight > 0;
}

/** Labels searched per query: k, or the blend's shortlist when the neighbours vote. */
export function shortlistSize(numLabels: number, k: number, withVote: boolean): number {
  return Math.min(numLabels, withVote ? Math.max(k, BLEND_SHORTLIST) : k);
}

/** The student's shortlist and, for a blending model, the K nearest training points of each query. */
export function searchParts(student: Student, queries: Float32Array, n: number, k: number, opts: RetrieveOptions, K = opts.neighbours?.settings.neighbours ?? 0): RetrievalParts {
  const { dim, numLabels } = student.shape;
  const nb = opts.neighbours;
  const withVote = !!nb && K > 0;
  const shortK = shortlistSize(numLabels, k, withVote);
  const found = opts.shortlist ?? (opts.labels ? opts.labels.searchBatch(queries, n, shortK) : exactTopK(student.V, numLabels, dim, queries, n, shortK));
  const shortlist: TopK = { ...found, k: shortK };
  if (!withVote) return { shortlist, neighbours: null };
  return { shortlist, neighbours: opts.near ?? searchNeighbours(nb, queries, n, K) };
}

/** The K nearest training points of each query in the points' index, searched on `threads`. */
export function searchNeighbours(nb: NeighbourComponent, queries: Float32Array, n: number, K = nb.settings.neighbours, threads = 1): TopK {
  const KK = Math.min(K, nb.index.count);
  return { ...nb.index.searchBatch(queries, n, KK, threads), k: KK };
}

/** Top k per query from searched parts: the student's scores s = q·v/τ, or the blend. */
export function rankParts(student: Student, queries: Float32Array, n: number, k: number, parts: RetrievalParts, pointLabels: Csr | null, settings: NeighbourBlendSettings | null): TopK {
  const kk = Math.min(k, student.shape.numLabels);
  const near = neighboursUpTo(parts, n, settings?.neighbours ?? 0);
  if (near && pointLabels && votes(settings)) return blendWithNeighbours(student, queries, n, parts.shortlist, near, pointLabels, settings, kk);
  const top = parts.shortlist.k === kk ? parts.shortlist : firstColumns(parts.shortlist, n, kk);
  const invTau = 1 / student.shape.tau;
  const scores = Float32Array.from(top.scores, (s) => s * invTau);
  return { labels: top.labels, scores, k: kk };
}

/** Top k labels per query (queries: [n, dim], encoded by the student). */
export function retrieve(student: Student, queries: Float32Array, n: number, k: number, opts: RetrieveOptions): TopK {
  const nb = blends(opts.neighbours) ? opts.neighbours : null;
  const parts = searchParts(student, queries, n, k, { ...opts, neighbours: nb });
  return rankParts(student, queries, n, k, parts, nb?.pointLabels ?? null, nb?.settings ?? null);
}

/** The searched neighbours cut to the first K of each query (all when K is more); null when none were searched or K is 0. */
export function neighboursUpTo(parts: RetrievalParts, n: number, K: number): TopK | null {
  if (!parts.neighbours || K <= 0) return null;
  return K < parts.neighbours.k ? firstColumns(parts.neighbours, n, K) : parts.neighbours;
}

/** The first `k` columns of each row of a top list. */
export function firstColumns(t: TopK, n: number, k: number): TopK {
  const labels = new Int32Array(n * k);
  const scores = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    labels.set(t.labels.subarray(i * t.k, i * t.k + k), i * k);
    scores.set(t.scores.subarray(i * t.k, i * t.k + k), i * k);
  }
  return { labels, scores, k };
}
