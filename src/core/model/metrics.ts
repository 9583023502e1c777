/**
 * Ranking metrics for extreme multi-label classification (P@k, nDCG@k, PSP@k, R@k), teacher
 * calibration (ECE, reliability table) and an allocation-free top-k selector.
 *
 * Conventions, as in pyxclib / the Extreme Classification Repository:
 * - predictions: [n, kMax] row-major label ids, best first; -1 = no prediction (never a hit).
 * - points with an empty label set count 0 in P@k, nDCG@k and PSP@k (they stay in the average);
 *   R@k averages over points with a non-empty label set only.
 * Pure: imports only from csr.ts.
 */
import { labelCounts, type Csr } from '../data/csr.js';

/** Keys of {@link evaluateRankings}' report, in print order. */
export const METRIC_KEYS = [
  'p@1',
  'p@3',
  'p@5',
  'ndcg@1',
  'ndcg@3',
  'ndcg@5',
  'psp@1',
  'psp@3',
  'psp@5',
  'r@1',
  'r@3',
  'r@5',
  'r@10',
  'r@100',
] as const;

export type MetricReport = Record<string, number>;

const PK = [1, 3, 5]; // cut-offs of P, nDCG, PSP
const RK = [1, 3, 5, 10, 100]; // cut-offs of R

/**
 * Label propensities p_l = 1 / (1 + C·(N_l + B)^−A), C = (ln N − 1)·(B + 1)^A (Jain et al. 2016),
 * N = training points, N_l = number of training points carrying label l (labels ≥ trainLabels.cols,
 * up to numLabels, get N_l = 0). Returns p (not 1/p); length numLabels.
 */
export function computePropensities(
  trainLabels: Csr,
  numLabels: number = trainLabels.cols,
  A = 0.55,
  B = 1.5,
): Float64Array {
  if (numLabels < trainLabels.cols) {
    throw new RangeError(`numLabels ${numLabels} < trainLabels.cols ${trainLabels.cols}`);
  }
  return propensitiesFromCounts(labelCounts(trainLabels, numLabels), trainLabels.rows, numLabels, A, B);
}

/** Same as computePropensities, from per-label training counts and N (what a model keeps). */
export function propensitiesFromCounts(counts: ArrayLike<number>, N: number, numLabels = counts.length, A = 0.55, B = 1.5): Float64Array {
  const C = (Math.log(N) - 1) * Math.pow(B + 1, A);
  const out = new Float64Array(numLabels);
  for (let l = 0; l < numLabels; l++) out[l] = 1 / (1 + C * Math.exp(-A * Math.log((l < counts.length ? counts[l] : 0) + B)));
  return out;
}

/**
 * P@{1,3,5}, nDCG@{1,3,5}, PSP@{1,3,5}, R@{1,3,5,10,100} of `predicted` ([truth.rows, kMax], best
 * first, -1 = none) against `truth`. PSP@k = Σ_points Σ_{i≤k} 1[r_i∈Y]/p_{r_i} divided by
 * Σ_points (sum of the min(k,|Y|) largest 1/p over Y), so it lies in [0, 1] (0 if no point has
 * labels). R@k with k > kMax uses the kMax predictions available (so R@100 with kMax = 50 is R@50).
 * Requires kMax ≥ 5 and propensities.length ≥ truth.cols. Duplicate predictions in a row are the
 * caller's bug (each would count as a hit).
 */
export function evaluateRankings(
  predicted: Int32Array,
  kMax: number,
  truth: Csr,
  propensities: Float64Array,
): MetricReport {
  if (!(kMax >= 5)) throw new RangeError(`evaluateRankings needs kMax >= 5, got ${kMax}`);
  const n = truth.rows;
  if (predicted.length !== n * kMax) {
    throw new RangeError(`predicted has ${predicted.length} entries, expected ${n} × ${kMax}`);
  }
  const numLabels = truth.cols;
  if (propensities.length < numLabels) {
    throw new RangeError(`propensities cover ${propensities.length} labels, truth has ${numLabels}`);
  }
  const invP = new Float64Array(numLabels);
  for (let l = 0; l < numLabels; l++) invP[l] = 1 / propensities[l];
  // mark[l] === stamp ⇔ l ∈ Y of the current point; no clearing between points
  const mark = new Int32Array(numLabels);
  const bestInv = new Float64Array(5); // top-5 inverse propensities of Y, descending
  const disc = new Float64Array(kMax); // 1 / log2(i + 2)
  for (let i = 0; i < kMax; i++) disc[i] = 1 / Math.log2(i + 2);
  const rCut = new Int32Array(RK.length);
  for (let c = 0; c < RK.length; c++) rCut[c] = Math.min(RK[c], kMax);

  const pSum = new Float64Array(3);
  const ndcgSum = new Float64Array(3);
  const pspNum = new Float64Array(3);
  const pspDen = new Float64Array(3);
  const rSum = new Float64Array(RK.length);
  let withLabels = 0;

  const { indptr, indices } = truth;
  for (let q = 0; q < n; q++) {
    const y0 = indptr[q];
    const y1 = indptr[q + 1];
    const ny = y1 - y0;
    if (ny === 0) continue; // contributes 0 everywhere; R@k skips it
    withLabels++;
    const stamp = q + 1;
    let nb = 0; // filled entries of bestInv
    for (let p = y0; p < y1; p++) {
      const l = indices[p];
      mark[l] = stamp;
      const w = invP[l];
      if (nb < 5 || w > bestInv[4]) {
        let j = nb < 5 ? nb++ : 4;
        while (j > 0 && bestInv[j - 1] < w) {
          bestInv[j] = bestInv[j - 1];
          j--;
        }
        bestInv[j] = w;
      }
    }
    // best achievable PSP numerators and IDCG for k = 1, 3, 5
    let idealPsp = 0;
    let idcg = 0;
    let hits = 0;
    let dcg = 0;
    let psp = 0;
    let pc = 0; // next P cut-off index
    let rc = 0; // next R cut-off index
    const base = q * kMax;
    for (let i = 0; i < kMax; i++) {
      if (i < ny) idcg += disc[i];
      if (i < nb) idealPsp += bestInv[i];
      const l = predicted[base + i];
      if (l >= 0 && l < numLabels && mark[l] === stamp) {
        hits++;
        dcg += disc[i];
        psp += invP[l];
      }
      const k = i + 1;
      if (pc < 3 && k === PK[pc]) {
        pSum[pc] += hits / k;
        ndcgSum[pc] += dcg / idcg;
        pspNum[pc] += psp;
        pspDen[pc] += idealPsp;
        pc++;
      }
      while (rc < RK.length && k === rCut[rc]) {
        rSum[rc] += hits / ny;
        rc++;
      }
    }
  }

  const report: MetricReport = {};
  for (let c = 0; c < 3; c++) {
    const k = PK[c];
    report[`p@${k}`] = n ? pSum[c] / n : 0;
  }
  for (let c = 0; c < 3; c++) report[`ndcg@${PK[c]}`] = n ? ndcgSum[c] / n : 0;
  for (let c = 0; c < 3; c++) report[`psp@${PK[c]}`] = pspDen[c] > 0 ? pspNum[c] / pspDen[c] : 0;
  for (let c = 0; c < RK.length; c++) report[`r@${RK[c]}`] = withLabels ? rSum[c] / withLabels : 0;
  return report;
}

/** One row of {@link reliabilityTable}: bin [lower, upper); accuracy/confidence are 0 when empty. */
export interface ReliabilityBin {
  lower: number;
  upper: number;
  count: number;
  accuracy: number;
  confidence: number;
}

/**
 * Equal-width bins over [0, 1]: bin b = min(bins − 1, floor(conf · bins)) (confidence 1 falls in
 * the last bin; values outside [0, 1] are clamped into the end bins). NaN confidence throws.
 */
export function reliabilityTable(
  confidence: Float32Array | Float64Array,
  correct: Uint8Array,
  bins = 15,
): ReliabilityBin[] {
  const n = confidence.length;
  if (correct.length !== n) throw new RangeError(`confidence has ${n} entries, correct ${correct.length}`);
  if (!(bins >= 1)) throw new RangeError(`bins must be >= 1, got ${bins}`);
  const count = new Float64Array(bins);
  const acc = new Float64Array(bins);
  const conf = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const c = confidence[i];
    if (Number.isNaN(c)) throw new RangeError(`confidence[${i}] is NaN`);
    let b = Math.floor(c * bins);
    if (b >= bins) b = bins - 1;
    else if (b < 0) b = 0;
    count[b]++;
    conf[b] += c;
    if (correct[i]) acc[b]++;
  }
  const table: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const m = count[b];
    table.push({
      lower: b / bins,
      upper: (b + 1) / bins,
      count: m,
      accuracy: m ? acc[b] / m : 0,
      confidence: m ? conf[b] / m : 0,
    });
  }
  return table;
}

/** ECE = Σ_b (|b|/n)·|acc_b − conf_b| over {@link reliabilityTable}'s bins; 0 for n = 0. */
export function expectedCalibrationError(
  confidence: Float32Array | Float64Array,
  correct: Uint8Array,
  bins = 15,
): number {
  const n = confidence.length;
  if (n === 0) return 0;
  const table = reliabilityTable(confidence, correct, bins);
  let ece = 0;
  for (let b = 0; b < table.length; b++) {
    const t = table[b];
    ece += (t.count / n) * Math.abs(t.accuracy - t.confidence);
  }
  return ece;
}

/**
 * Selects the top k of scores[offset .. offset+length) into outLabels/outScores[outOffset ..
 * outOffset+k), best first; labels are positions within the row (0 .. length-1). Ties go to the
 * lower label. Scores that are −Infinity or NaN are never selected. Unfilled slots get −1 /
 * −Infinity. Returns the number selected. Allocates nothing.
 */
export function topKInto(
  scores: Float32Array,
  offset: number,
  length: number,
  k: number,
  outLabels: Int32Array,
  outScores: Float32Array,
  outOffset: number,
): number {
  const found = topKMergeInto(scores, offset, length, 0, k, outLabels, outScores, outOffset, 0);
  for (let j = found; j < k; j++) {
    outLabels[outOffset + j] = -1;
    outScores[outOffset + j] = -Infinity;
  }
  return found;
}

/**
 * Merges scores[offset .. offset+length) (labels labelBase .. labelBase+length-1) into a top-k
 * buffer at outOffset that already holds `filled` entries sorted best first. For lower-label-first
 * tie breaking, call with increasing labelBase (blocks in label order). Returns the new fill count
 * (slots beyond it are left untouched). −Infinity / NaN scores are skipped. Allocates nothing.
 */
export function topKMergeInto(
  scores: Float32Array,
  offset: number,
  length: number,
  labelBase: number,
  k: number,
  outLabels: Int32Array,
  outScores: Float32Array,
  outOffset: number,
  filled: number,
): number {
  if (k <= 0) return 0;
  let cnt = filled;
  const last = outOffset + k - 1;
  let worst = cnt === k ? outScores[last] : -Infinity;
  for (let i = 0; i < length; i++) {
    const s = scores[offset + i];
    // full: must beat the worst strictly (equal score, higher label loses); not full: any finite
    if (cnt === k ? !(s > worst) : !(s > -Infinity)) continue;
    let j: number;
    if (cnt < k) j = outOffset + cnt++;
    else j = last;
    // shift down entries with a strictly lower score (equal stays above: lower label)
    if (j - outOffset > 24) {
      // binary search: first position in [outOffset, j) whose score < s
      let lo = outOffset;
      let hi = j;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (outScores[mid] < s) hi = mid;
        else lo = mid + 1;
      }
      if (lo < j) {
        outScores.copyWithin(lo + 1, lo, j);
        outLabels.copyWithin(lo + 1, lo, j);
      }
      j = lo;
    } else {
      while (j > outOffset && outScores[j - 1] < s) {
        outScores[j] = outScores[j - 1];
        outLabels[j] = outLabels[j - 1];
        j--;
      }
    }
    outScores[j] = s;
    outLabels[j] = labelBase + i;
    if (cnt === k) worst = outScores[last];
  }
  return cnt;
}
