/**
 * Chooses the neighbour component's β and κ on held-out rows: the shortlist and the neighbours are
 * searched once, then every grid point only re-blends them (milliseconds per point on 2000 rows).
 */
import type { LabelIndex } from '../ann/hnsw-index.js';
import type { NeighbourBlendSettings } from '../ann/neighbour-blend.js';
import type { Dataset } from '../core/data/dataset.js';
import { evaluateRankings } from '../core/model/metrics.js';
import type { Student } from '../core/model/student.js';
import { EVAL_K, padTo } from './evaluate.js';
import { rankParts, searchParts, type NeighbourComponent } from './retrieve.js';

/** β = 0 first: on a tie the student alone is kept. Measured grid: bench/neighbour-blend-probe.ts. */
export const BLEND_WEIGHTS = [0, 0.25, 0.5, 0.75] as const;
export const VOTE_TEMPERATURES = [0.02, 0.05, 0.1] as const;

export interface BlendTrial {
  settings: NeighbourBlendSettings;
  p1: number;
}

export interface BlendChoice {
  chosen: NeighbourBlendSettings;
  p1: number;
  tried: BlendTrial[];
}

export function tuneBlend(student: Student, heldOut: Dataset, propensities: Float64Array, index: LabelIndex, neighbours: NeighbourComponent): BlendChoice {
  const n = heldOut.features.rows;
  const k = Math.min(EVAL_K, student.shape.numLabels);
  const queries = student.encodeAll(heldOut.features);
  const K = neighbours.settings.neighbours;
  const parts = searchParts(student, queries, n, k, { labels: index, neighbours }, K);
  const tried: BlendTrial[] = [];
  for (const weight of BLEND_WEIGHTS) {
    for (const voteTemperature of weight === 0 ? [neighbours.settings.voteTemperature] : VOTE_TEMPERATURES) {
      const settings = { neighbours: K, weight, voteTemperature };
      const top = rankParts(student, queries, n, k, parts, neighbours.pointLabels, settings);
      tried.push({ settings, p1: evaluateRankings(padTo(top.labels, k, EVAL_K), EVAL_K, heldOut.labels, propensities)['p@1'] });
    }
  }
  let best = tried[0];
  for (const t of tried) if (t.p1 > best.p1) best = t;
  return { chosen: best.settings, p1: best.p1, tried };
}
