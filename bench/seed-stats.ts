/**
 * Statistics over a student setting's runs with several seeds (bench/quality.ts --seeds): one seed's
 * P@1 moves with its draws (initialisation, order, negatives) by as much as the targets' margins on
 * the small sets, and the best of a grid's rows, each one seed, is biased up by that spread.
 */
import type { MetricReport } from '../src/core/model/metrics.js';

/** The mean of each metric over the runs, for the keys every run has. */
export function meanMetrics(runs: readonly MetricReport[]): MetricReport {
  const out: MetricReport = {};
  if (!runs.length) return out;
  for (const k of Object.keys(runs[0]) as (keyof MetricReport)[]) {
    if (runs.some((m) => typeof m[k] !== 'number')) continue;
    out[k] = runs.reduce((s, m) => s + (m[k] as number), 0) / runs.length;
  }
  return out;
}

/**
 * The mean of the paired differences a[i] − b[i] (the same seed on both sides) and its standard
 * error, null with a single pair.
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): { mean: number; standardError: number | null; n: number } {
  if (a.length !== b.length || !a.length) throw new Error(`paired differences need equal, non-empty lists (got ${a.length} and ${b.length})`);
  const d = a.map((x, i) => x - b[i]);
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { mean, standardError: null, n };
  const variance = d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
  return { mean, standardError: Math.sqrt(variance / n), n };
}
