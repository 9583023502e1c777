/**
 * An upper bound on the share of a weight matrix's energy its best rank-r factors can hold, without
 * factoring it. By Cauchy–Schwarz over the top r singular values,
 *   Σ_{i≤r} σ_i² ≤ √r · √(Σ_{i≤r} σ_i⁴) ≤ √r · ‖W Wᵀ‖_F,
 * so share ≤ √r · ‖W Wᵀ‖_F / ‖W‖_F². ‖W Wᵀ‖_F² = E‖W Wᵀ g‖² over random ±1 vectors g (Hutchinson's
 * estimator): two sparse products per probe. Where labels' weights barely overlap, the bound is
 * about √(r / labels): apt-files' fold-0 teacher (57,764 labels, rank 255) gives 0.24–0.31 over 20
 * seeds in 0.5 s each, where its factors (17–19 s) hold 9.9 % (npm run bench:energy-bound). It tells a
 * teacher start is out of reach; it cannot tell one is in reach (the small sets' bounds exceed 1).
 */
import type { Csr } from '../data/csr.js';
import { Rng } from '../util/rng.js';

/** Random probes of the estimate: with 32, apt-files' bound varies by 8 % (one standard deviation) from seed to seed. */
const PROBES = 32;

/** √rank · (an estimate of ‖W Wᵀ‖_F) / ‖W‖_F² for W = `weights` ([labels, features], CSR); Infinity for a zero matrix. */
export function energyShareBound(weights: Csr, rank: number, seed: number): number {
  const { rows: L, cols: D, indptr, indices } = weights;
  const values = weights.values!;
  let frobenius2 = 0;
  for (let p = 0; p < indptr[L]; p++) frobenius2 += values[p] * values[p];
  if (frobenius2 === 0) return Number.POSITIVE_INFINITY;
  const rng = new Rng(seed ^ 0x5eed);
  const g = new Float64Array(L);
  const u = new Float64Array(D);
  let sum = 0;
  for (let probe = 0; probe < PROBES; probe++) {
    for (let y = 0; y < L; y++) g[y] = rng.next() < 0.5 ? -1 : 1;
    u.fill(0); // u = Wᵀ g
    for (let y = 0; y < L; y++) for (let p = indptr[y]; p < indptr[y + 1]; p++) u[indices[p]] += values[p] * g[y];
    for (let y = 0; y < L; y++) {
      let v = 0; // (W u)_y
      for (let p = indptr[y]; p < indptr[y + 1]; p++) v += values[p] * u[indices[p]];
      sum += v * v;
    }
  }
  return (Math.sqrt(rank) * Math.sqrt(sum / PROBES)) / frobenius2;
}
