/**
 * The label-frequency profile of a dataset: how many training points carry the label of each
 * rank, most frequent first, at up to `maxPoints` log-spaced ranks (1, 2, 3, ..., L). Small enough
 * to store with the dataset's stats and plot on log-log axes, where XC data shows its long tail.
 */
import { labelCounts, type Csr } from './csr.js';

export interface LabelFrequencyPoint {
  /** 1 = the most frequent label. */
  rank: number;
  /** Training points carrying the label of that rank. */
  count: number;
}

export function labelFrequencyProfile(labels: Csr, maxPoints = 64): LabelFrequencyPoint[] {
  const counts = labelCounts(labels).sort().reverse();
  const n = counts.length;
  if (n === 0) return [];
  const ranks = new Set<number>();
  const steps = Math.max(1, maxPoints - 1);
  for (let i = 0; i <= steps; i++) ranks.add(Math.round(Math.exp((Math.log(n) * i) / steps)));
  return [...ranks].sort((a, b) => a - b).map((rank) => ({ rank, count: counts[rank - 1] }));
}
