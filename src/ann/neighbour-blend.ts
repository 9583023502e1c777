/**
 * The nearest-neighbour component: a query's K nearest training points (by the student's own
 * query embeddings) vote for their labels, and the vote is blended with the student's softmax
 * over its shortlist: score(y) = (1 − β)·softmax(s)(y) + β·Σ_j w_j [y ∈ Y_j] / Σ_j w_j, with
 * w_j = exp(cos(q, q_j) / κ). Labels with one or two training rows are where a dual encoder's
 * label vector is weakest and a neighbour's labels are most telling (apt-files: the vote alone
 * beats the d=256 student alone by 2.9 P@1, bench/results/neighbour-blend-apt-files.md).
 */
import type { Csr } from '../core/data/csr.js';
import type { Student } from '../core/model/student.js';
import { dot } from '../core/util/vectors.js';

export interface NeighbourBlendSettings {
  /** Training points that vote (K). */
  neighbours: number;
  /** β: weight of the vote; 0 = the student alone. */
  weight: number;
  /** κ: temperature of the vote's weights over cosine similarities. */
  voteTemperature: number;
}

/**
 * The student's query embeddings of `features` as unit vectors for a cosine index: the label-bias
 * slot (the constant 1 of q) is zeroed, so ⟨q, q_j⟩ of two such rows is their cosine and a query
 * encoded with the slot at 1 meets 0 there.
 */
export function encodePoints(student: Student, features: Csr): Float32Array {
  const out = student.encodeAll(features);
  if (student.shape.labelBias) {
    const d = student.shape.dim;
    for (let i = d - 1; i < out.length; i += d) out[i] = 0;
  }
  return out;
}

/** Top-k lists, [n, k] row-major, −1 / −Infinity where empty (the layout of every search here). */
export interface TopK {
  labels: Int32Array;
  scores: Float32Array;
  k: number;
}

/**
 * Blends, per query, the student's shortlist (inner products q·v_y) with the vote of its nearest
 * training points (inner products = cosines) and returns the top k of the union. Labels the
 * neighbours bring that the shortlist lacks are scored by the student exactly (q·v_y), so the
 * softmax runs over the same candidates for every label.
 */
export function blendWithNeighbours(
  student: Student,
  queries: Float32Array,
  n: number,
  shortlist: TopK,
  neighbours: TopK,
  pointLabels: Csr,
  settings: NeighbourBlendSettings,
  k: number,
): TopK {
  const { dim, tau } = student.shape;
  const V = student.V;
  const beta = settings.weight;
  const invKappa = 1 / settings.voteTemperature;
  const labels = new Int32Array(n * k).fill(-1);
  const scores = new Float32Array(n * k).fill(-Infinity);
  const studentScore = new Map<number, number>();
  const vote = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    studentScore.clear();
    vote.clear();
    for (let j = i * shortlist.k; j < (i + 1) * shortlist.k; j++) {
      if (shortlist.labels[j] >= 0) studentScore.set(shortlist.labels[j], shortlist.scores[j] / tau);
    }
    let voteTotal = 0;
    const top = neighbours.scores[i * neighbours.k]; // best first: subtracting it keeps exp finite
    for (let j = i * neighbours.k; j < (i + 1) * neighbours.k; j++) {
      const p = neighbours.labels[j];
      if (p < 0) continue;
      const w = Math.exp((neighbours.scores[j] - top) * invKappa);
      voteTotal += w;
      for (let a = pointLabels.indptr[p]; a < pointLabels.indptr[p + 1]; a++) {
        const y = pointLabels.indices[a];
        vote.set(y, (vote.get(y) ?? 0) + w);
        if (!studentScore.has(y)) studentScore.set(y, dot(queries, i * dim, V, y * dim, dim) / tau);
      }
    }
    let max = -Infinity;
    for (const s of studentScore.values()) if (s > max) max = s;
    let z = 0;
    for (const s of studentScore.values()) z += Math.exp(s - max);
    const row = i * k;
    let filled = 0;
    for (const [y, s] of studentScore) {
      const blended = (1 - beta) * (Math.exp(s - max) / z) + (voteTotal > 0 ? (beta * (vote.get(y) ?? 0)) / voteTotal : 0);
      filled = insertTop(labels, scores, row, k, filled, y, blended);
    }
  }
  return { labels, scores, k };
}

/** Inserts (y, s) into the row's descending top list (ties to the lower label); returns its new fill. */
function insertTop(labels: Int32Array, scores: Float32Array, row: number, k: number, filled: number, y: number, s: number): number {
  let pos = filled < k ? filled : k;
  while (pos > 0 && (scores[row + pos - 1] < s || (scores[row + pos - 1] === s && labels[row + pos - 1] > y))) pos--;
  if (pos >= k) return filled;
  const end = Math.min(filled, k - 1);
  for (let t = end; t > pos; t--) {
    labels[row + t] = labels[row + t - 1];
    scores[row + t] = scores[row + t - 1];
  }
  labels[row + pos] = y;
  scores[row + pos] = s;
  return Math.min(filled + 1, k);
}
