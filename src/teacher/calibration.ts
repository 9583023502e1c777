/**
 * Temperature scaling of a teacher (Guo et al. 2017): one scalar T, fitted on held-out rows, so
 * that softmax(scores / T) is calibrated. Distillation matches the teacher's distribution, so an
 * over- or under-confident teacher biases the student (DESIGN.md, "Calibration"); T is the
 * cheapest correction and keeps the ranking unchanged.
 *
 * Rows are candidate sets in CSR form: row r spans scores[indptr[r] .. indptr[r+1]) and
 * positive[p] = 1 marks a true label. Pure numerics; no allocation per row.
 */
import type { Csr } from '../core/data/csr.js';
import { NumericError } from '../core/util/errors.js';
import { expectedCalibrationError } from '../core/model/metrics.js';

/** Default search range for T: outside it a fit says more about the data than about calibration. */
export const MIN_TEMPERATURE = 0.01;
export const MAX_TEMPERATURE = 100;

export interface FitTemperatureOptions {
  /** @defaultValue MIN_TEMPERATURE (0.01) */
  minTemperature?: number;
  /** @defaultValue MAX_TEMPERATURE (100) */
  maxTemperature?: number;
  /** Passes over the rows at most (each computes the objective and its derivatives). @defaultValue 100 */
  maxEvaluations?: number;
  /** Stop when a step changes 1/T by less than this share of it. @defaultValue 1e-10 */
  tolerance?: number;
}

export interface TemperatureFit {
  /** The minimiser, clamped to [minTemperature, maxTemperature]. */
  temperature: number;
  /** Mean cross-entropy at T = 1 (the raw scores). */
  nllBefore: number;
  /** Mean cross-entropy at `temperature`. */
  nllAfter: number;
  /** Rows with at least one positive: the rows the mean runs over. */
  rows: number;
  /** The unconstrained minimiser lies outside the range; `temperature` is the nearer bound. */
  clamped: boolean;
  /** Passes over the rows the fit took (typically 4 to 8). */
  evaluations: number;
}

/**
 * Fits T > 0 minimising the mean, over rows with ≥ 1 positive, of the cross-entropy between the
 * uniform distribution on the row's positives and softmax(row / T):
 *   ℓ_r(β) = logsumexp(β·s_r) − β·mean_{positives}(s_r),  β = 1/T.
 * ℓ is convex in β (ℓ' = E_p[s] − mean_pos(s), ℓ'' = Var_p[s] ≥ 0), so a Newton iteration on β,
 * safeguarded by a bracket that shrinks with the sign of ℓ', finds the global minimum. T is
 * clamped to [minTemperature, maxTemperature] (default [0.01, 100]); `clamped` says when. Rows
 * whose scores are all equal carry no information; if every row is so, T = 1.
 * Throws RangeError on mismatched arrays or when no row has a positive, NumericError on a
 * non-finite score.
 */
export function fitTemperature(scores: Float32Array, indptr: Int32Array, positive: Uint8Array, opts: FitTemperatureOptions = {}): TemperatureFit {
  checkRows(scores, indptr, positive);
  const minT = opts.minTemperature ?? MIN_TEMPERATURE;
  const maxT = opts.maxTemperature ?? MAX_TEMPERATURE;
  const maxEvaluations = opts.maxEvaluations ?? 100;
  const tolerance = opts.tolerance ?? 1e-10;
  if (!(minT > 0 && minT < maxT && Number.isFinite(maxT))) throw new RangeError(`need 0 < minTemperature < maxTemperature < Infinity, got [${minT}, ${maxT}]`);
  const betaMin = 1 / maxT;
  const betaMax = 1 / minT;

  const d = new Float64Array(3); // objective, first and second derivative in β at `beta`
  let evaluations = 0;
  const evaluate = (at: number, out: Float64Array): number => {
    evaluations++;
    return objectiveAt(scores, indptr, positive, at, out);
  };
  const rows = evaluate(1, d);
  if (rows === 0) throw new RangeError('no row has a positive candidate: nothing to fit a temperature on');
  const nllBefore = d[0];
  if (d[2] === 0) return { temperature: 1, nllBefore, nllAfter: nllBefore, rows, clamped: false, evaluations };

  let beta = Math.min(betaMax, Math.max(betaMin, 1));
  if (beta !== 1) evaluate(beta, d);
  // The bracket [lo, hi] holds the minimiser. The range bound downhill is checked first: the
  // minimiser may lie beyond it (separable rows), where Newton would only creep towards it.
  if (d[1] !== 0) {
    const bound = d[1] < 0 ? betaMax : betaMin;
    const at = bound === beta ? d : new Float64Array(3);
    if (at !== d) evaluate(bound, at);
    if (at[1] === 0 || Math.sign(at[1]) === Math.sign(d[1])) {
      return { temperature: bound === betaMax ? minT : maxT, nllBefore, nllAfter: at[0], rows, clamped: at[1] !== 0, evaluations };
    }
  }
  let lo = betaMin;
  let hi = betaMax;
  while (evaluations < maxEvaluations && d[1] !== 0) {
    if (d[1] > 0) hi = beta;
    else lo = beta;
    const newton = d[2] > 0 ? beta - d[1] / d[2] : NaN;
    if (Math.abs(newton - beta) <= tolerance * beta || hi - lo <= tolerance * beta) break;
    // Newton outside the bracket: halve the bracket instead (geometrically: β spans decades)
    beta = newton > lo && newton < hi ? newton : Math.sqrt(lo * hi);
    evaluate(beta, d);
  }
  return { temperature: 1 / beta, nllBefore, nllAfter: d[0], rows, clamped: false, evaluations };
}

/** The objective fitTemperature minimises, at `temperature` (mean over rows with a positive). */
export function temperatureObjective(scores: Float32Array, indptr: Int32Array, positive: Uint8Array, temperature: number): number {
  checkRows(scores, indptr, positive);
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new RangeError(`temperature must be a finite positive number, got ${temperature}`);
  const d = new Float64Array(3);
  return objectiveAt(scores, indptr, positive, 1 / temperature, d) ? d[0] : NaN;
}

/**
 * Mean of ℓ_r(β), ℓ_r'(β), ℓ_r''(β) over rows with a positive, into out[0..3); returns their
 * count. Per row: max first, so every exp is of a number ≤ 0.
 */
function objectiveAt(scores: Float32Array, indptr: Int32Array, positive: Uint8Array, beta: number, out: Float64Array): number {
  let f = 0;
  let g = 0;
  let h = 0;
  let rows = 0;
  for (let r = 0; r + 1 < indptr.length; r++) {
    const start = indptr[r];
    const end = indptr[r + 1];
    let npos = 0;
    let sumPos = 0;
    let max = -Infinity;
    for (let p = start; p < end; p++) {
      const s = scores[p];
      if (s > max) max = s;
      if (positive[p]) {
        npos++;
        sumPos += s;
      }
    }
    if (npos === 0) continue;
    // With d = s − max: Z = Σ e^{βd}, E_p[d] = A/Z, E_p[d²] = B/Z.
    let Z = 0;
    let A = 0;
    let B = 0;
    for (let p = start; p < end; p++) {
      const dv = scores[p] - max;
      const e = Math.exp(beta * dv);
      Z += e;
      A += e * dv;
      B += e * dv * dv;
    }
    const meanD = A / Z;
    const gapPos = sumPos / npos - max; // mean positive score, relative to the max (≤ 0)
    f += Math.log(Z) - beta * gapPos;
    g += meanD - gapPos;
    h += Math.max(0, B / Z - meanD * meanD);
    rows++;
  }
  out[0] = rows ? f / rows : 0;
  out[1] = rows ? g / rows : 0;
  out[2] = rows ? h / rows : 0;
  return rows;
}

function checkRows(scores: Float32Array, indptr: Int32Array, positive: Uint8Array): void {
  if (indptr.length < 1) throw new RangeError('indptr must have rows + 1 entries, got an empty array');
  if (indptr[0] !== 0) throw new RangeError(`indptr[0] must be 0, got ${indptr[0]}`);
  const n = indptr.length - 1;
  for (let r = 0; r < n; r++) {
    if (indptr[r + 1] < indptr[r]) throw new RangeError(`indptr must not decrease: indptr[${r + 1}] = ${indptr[r + 1]} < indptr[${r}] = ${indptr[r]}`);
  }
  if (indptr[n] !== scores.length) throw new RangeError(`indptr ends at ${indptr[n]} but there are ${scores.length} scores`);
  if (positive.length !== scores.length) throw new RangeError(`positive has ${positive.length} entries for ${scores.length} scores`);
  for (let r = 0; r < n; r++) {
    for (let p = indptr[r]; p < indptr[r + 1]; p++) {
      const s = scores[p];
      if (s - s !== 0) throw new NumericError(`score ${s} in row ${r} (entry ${p}): scores must be finite`);
    }
  }
}

/** Probability that softmax(scores[start..end) / T) gives the row's top score. end > start. */
export function top1Probability(scores: ArrayLike<number>, start: number, end: number, temperature = 1): number {
  if (!(end > start)) throw new RangeError(`empty row [${start}, ${end})`);
  let max = -Infinity;
  for (let p = start; p < end; p++) if (scores[p] > max) max = scores[p];
  const beta = 1 / temperature;
  let Z = 0;
  for (let p = start; p < end; p++) Z += Math.exp(beta * (scores[p] - max));
  return 1 / Z;
}

export interface Top1Calibration {
  /** Top-1 probability of softmax(row / T), per row with ≥ 1 candidate. */
  confidence: Float64Array;
  /** 1 when the row's top candidate (first of equal tops) is a positive. */
  correct: Uint8Array;
}

/** Top-1 confidence and correctness per non-empty row: the input of a reliability table or ECE. */
export function top1Calibration(scores: Float32Array, indptr: Int32Array, positive: Uint8Array, temperature = 1): Top1Calibration {
  checkRows(scores, indptr, positive);
  let nonEmpty = 0;
  for (let r = 0; r + 1 < indptr.length; r++) if (indptr[r + 1] > indptr[r]) nonEmpty++;
  const confidence = new Float64Array(nonEmpty);
  const correct = new Uint8Array(nonEmpty);
  for (let r = 0, i = 0; r + 1 < indptr.length; r++) {
    const start = indptr[r];
    const end = indptr[r + 1];
    if (end === start) continue;
    let top = start;
    for (let p = start + 1; p < end; p++) if (scores[p] > scores[top]) top = p;
    confidence[i] = top1Probability(scores, start, end, temperature);
    correct[i] = positive[top] ? 1 : 0;
    i++;
  }
  return { confidence, correct };
}

/** Expected calibration error of softmax(scores / T)'s top-1 (metrics.ts' equal-width bins). */
export function top1CalibrationError(scores: Float32Array, indptr: Int32Array, positive: Uint8Array, temperature = 1, bins = 15): number {
  const { confidence, correct } = top1Calibration(scores, indptr, positive, temperature);
  return expectedCalibrationError(confidence, correct, bins);
}

/**
 * The `positive` mask for candidate rows: candidates row i belongs to example examples[i], and an
 * entry is positive when that label is in labels row examples[i] (rows sorted, as Csr promises).
 * Aligned with candidates.indices from candidates.indptr[0].
 */
export function positiveMask(examples: Int32Array, candidates: Csr, labels: Csr): Uint8Array {
  if (candidates.rows !== examples.length) throw new RangeError(`candidates has ${candidates.rows} rows for ${examples.length} examples`);
  const cp = candidates.indptr;
  const base = cp[0];
  const mask = new Uint8Array(cp[candidates.rows] - base);
  for (let i = 0; i < examples.length; i++) {
    const e = examples[i];
    if (!(e >= 0 && e < labels.rows)) throw new RangeError(`example ${e} out of range [0, ${labels.rows})`);
    const lo = labels.indptr[e];
    const hi = labels.indptr[e + 1];
    for (let p = cp[i]; p < cp[i + 1]; p++) if (containsSorted(labels.indices, lo, hi, candidates.indices[p])) mask[p - base] = 1;
  }
  return mask;
}

/** Whether a[lo..hi), strictly increasing, contains key (binary search). */
function containsSorted(a: Int32Array, lo: number, hi: number, key: number): boolean {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid];
    if (v === key) return true;
    if (v < key) lo = mid + 1;
    else hi = mid;
  }
  return false;
}
