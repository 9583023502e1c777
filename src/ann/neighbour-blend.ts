/**
 * The nearest-neighbour component: a query's K nearest training points (by the student's own
 * query embeddings) vote for their labels, and the vote is blended with the student's softmax
 * over its shortlist: score(y) = (1 − β)·softmax(s)(y) + β·Σ_j w_j [y ∈ Y_j] / Σ_j w_j, with
 * w_j = exp(cos(q, q_j) / κ). Labels with one or two training rows are where a dual encoder's
 * label vector is weakest and a neighbour's labels are most telling (apt-files: the vote alone
 * beats the d=256 student alone by 2.9 P@1, bench/results/neighbour-blend-apt-files.md).
 */
import type { Csr } from '../core/data/csr.js';
import type { Student, StudentShape } from '../core/model/student.js';
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
  return asPoints(student.encodeAll(features), student.shape);
}

/** Query encodings [rows, dim] made points in place (encodePoints): with a label bias, its slot zeroed. */
export function asPoints(encoded: Float32Array, { dim, labelBias }: Pick<StudentShape, 'dim' | 'labelBias'>): Float32Array {
  if (labelBias) for (let i = dim - 1; i < encoded.length; i += dim) encoded[i] = 0;
  return encoded;
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
  return blendGrid(student, queries, n, shortlist, neighbours, pointLabels, [settings], k)[0];
}

/**
 * blendWithNeighbours for several (β, κ) at once, each result the same bit for bit: the labels
 * met, their student scores and softmax are computed once per query and the vote once per κ,
 * where the blend's grid (blend-tuning.ts) would otherwise redo them for each of its nine points.
 */
export function blendGrid(
  student: Student,
  queries: Float32Array,
  n: number,
  shortlist: TopK,
  neighbours: TopK,
  pointLabels: Csr,
  grid: readonly NeighbourBlendSettings[],
  k: number,
): TopK[] {
  const { dim, tau } = student.shape;
  const V = student.V;
  const kappas = [...new Set(grid.map((g) => g.voteTemperature))];
  const invKappa = kappas.map((t) => 1 / t);
  const kappaOf = grid.map((g) => kappas.indexOf(g.voteTemperature));
  const out = grid.map(() => ({ labels: new Int32Array(n * k).fill(-1), scores: new Float32Array(n * k).fill(-Infinity), k }));
  const fills = new Int32Array(grid.length);
  const voteTotal = new Float64Array(kappas.length);
  const w = new Float64Array(kappas.length);
  // per query, the labels met (shortlist first, then the neighbours' new ones) with their student
  // score and votes, in arrays indexed by label rather than Maps (BENCHMARKS.md 4: the blend without Maps)
  const { studentScore, softmax, votes, seen, met } = blendScratch(Math.max(student.shape.numLabels, pointLabels.cols), kappas.length);
  for (let i = 0; i < n; i++) {
    let count = 0;
    for (let j = i * shortlist.k; j < (i + 1) * shortlist.k; j++) {
      const y = shortlist.labels[j];
      if (y < 0) continue;
      if (!seen[y]) {
        seen[y] = 1;
        met[count++] = y;
      }
      studentScore[y] = shortlist.scores[j] / tau;
    }
    voteTotal.fill(0);
    const top = neighbours.scores[i * neighbours.k]; // best first: subtracting it keeps exp finite
    for (let j = i * neighbours.k; j < (i + 1) * neighbours.k; j++) {
      const p = neighbours.labels[j];
      if (p < 0) continue;
      for (let g = 0; g < kappas.length; g++) {
        w[g] = Math.exp((neighbours.scores[j] - top) * invKappa[g]);
        voteTotal[g] += w[g];
      }
      for (let a = pointLabels.indptr[p]; a < pointLabels.indptr[p + 1]; a++) {
        const y = pointLabels.indices[a];
        for (let g = 0; g < kappas.length; g++) votes[g][y] += w[g];
        if (!seen[y]) {
          seen[y] = 1;
          met[count++] = y;
          studentScore[y] = dot(queries, i * dim, V, y * dim, dim) / tau;
        }
      }
    }
    let max = -Infinity;
    for (let c = 0; c < count; c++) if (studentScore[met[c]] > max) max = studentScore[met[c]];
    let z = 0;
    for (let c = 0; c < count; c++) {
      const e = Math.exp(studentScore[met[c]] - max); // once per label: its softmax numerator
      softmax[met[c]] = e;
      z += e;
    }
    for (let c = 0; c < count; c++) softmax[met[c]] /= z;
    const row = i * k;
    fills.fill(0);
    for (let c = 0; c < count; c++) {
      const y = met[c];
      for (let s = 0; s < grid.length; s++) {
        const beta = grid[s].weight;
        const g = kappaOf[s];
        const blended = (1 - beta) * softmax[y] + (voteTotal[g] > 0 ? (beta * votes[g][y]) / voteTotal[g] : 0);
        fills[s] = insertTop(out[s].labels, out[s].scores, row, k, fills[s], y, blended);
      }
      seen[y] = 0; // cleared for the next query
      for (let g = 0; g < kappas.length; g++) votes[g][y] = 0;
    }
  }
  return out;
}

interface BlendScratch {
  studentScore: Float64Array; // [L] s_y / τ of the labels met
  softmax: Float64Array; // [L] the student's softmax over the labels met
  votes: Float64Array[]; // [κ][L] summed vote weights, 0 for labels not met
  seen: Uint8Array; // [L]
  met: Int32Array; // [L] the labels met, in the order met
}

let scratch: BlendScratch | null = null;

/** Scratch for L labels and `kappas` vote temperatures, kept between calls (seen and votes are all 0 between queries). */
function blendScratch(L: number, kappas: number): BlendScratch {
  if (!scratch || scratch.seen.length < L) scratch = { studentScore: new Float64Array(L), softmax: new Float64Array(L), votes: [], seen: new Uint8Array(L), met: new Int32Array(L) };
  while (scratch.votes.length < kappas) scratch.votes.push(new Float64Array(scratch.seen.length));
  return scratch;
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
