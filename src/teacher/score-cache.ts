/**
 * Teacher scores already paid for, per example, so that no (example, label) pair is scored twice
 * within a job (re-mined pools overlap). Per example: a sorted Int32Array of labels and the
 * Float32Array of their scores, merged on insert.
 */
import { CsrBuilder, type Csr } from '../core/data/csr.js';
import { DistilxrError } from '../core/util/errors.js';
import type { CandidateScorer, ScoreOptions } from './onnx-teacher.js';

const EMPTY_LABELS = new Int32Array(0);
const EMPTY_SCORES = new Float32Array(0);
const MAGIC = 0x43535844; // 'DXSC' little-endian
const VERSION = 1;
const HEADER_BYTES = 24; // magic u32, version u32, numExamples u32, reserved u32, pairs f64

export interface CachedScores {
  /** Aligned with candidates.indices. */
  scores: Float32Array;
  /** Pairs sent to the teacher by this call. */
  newlyScored: number;
}

export class TeacherScoreCache {
  private readonly labels: Int32Array[]; // [numExamples] sorted, strictly increasing
  private readonly scores: Float32Array[]; // [numExamples] aligned with labels
  private pairs = 0;
  // Scratch for sorting one incoming row (grown, never shrunk).
  private rowLabels = new Int32Array(64);
  private rowScores = new Float32Array(64);

  constructor(readonly numExamples: number) {
    if (!Number.isInteger(numExamples) || numExamples < 0) throw new RangeError(`numExamples must be >= 0, got ${numExamples}`);
    this.labels = new Array<Int32Array>(numExamples).fill(EMPTY_LABELS);
    this.scores = new Array<Float32Array>(numExamples).fill(EMPTY_SCORES);
  }

  /** Number of (example, label) pairs stored. */
  get size(): number {
    return this.pairs;
  }

  /** Cached score of one pair, or undefined. */
  get(example: number, label: number): number | undefined {
    this.checkExample(example);
    const a = this.labels[example];
    const k = findSorted(a, label);
    return k < 0 ? undefined : this.scores[example][k];
  }

  /** The entries of each candidates row not yet cached (same row order, same order within a row). */
  missing(examples: Int32Array, candidates: Csr): Csr {
    this.checkRows(examples, candidates);
    const cp = candidates.indptr;
    const ci = candidates.indices;
    const b = new CsrBuilder(false, candidates.rows, Math.max(16, cp[candidates.rows] - cp[0]));
    for (let i = 0; i < examples.length; i++) {
      const a = this.labels[examples[i]];
      for (let p = cp[i]; p < cp[i + 1]; p++) if (findSorted(a, ci[p]) < 0) b.push(ci[p]);
      b.endRow();
    }
    return b.build(candidates.cols);
  }

  /**
   * Stores `scores` (aligned with candidates.indices) for the pairs not cached yet; pairs already
   * cached keep their first score, and a label repeated within a row keeps its first occurrence.
   */
  insert(examples: Int32Array, candidates: Csr, scores: Float32Array): void {
    this.checkRows(examples, candidates);
    const cp = candidates.indptr;
    const base = cp[0];
    if (scores.length !== cp[candidates.rows] - base) {
      throw new RangeError(`scores has ${scores.length} values for ${cp[candidates.rows] - base} candidates`);
    }
    for (let i = 0; i < examples.length; i++) {
      const n = cp[i + 1] - cp[i];
      if (n === 0) continue;
      if (this.rowLabels.length < n) {
        this.rowLabels = new Int32Array(Math.max(n, 2 * this.rowLabels.length));
        this.rowScores = new Float32Array(this.rowLabels.length);
      }
      this.rowLabels.set(candidates.indices.subarray(cp[i], cp[i + 1]));
      this.rowScores.set(scores.subarray(cp[i] - base, cp[i + 1] - base));
      const m = sortPairsDedupe(this.rowLabels, this.rowScores, n);
      this.mergeRow(examples[i], m);
    }
  }

  /** Cached scores aligned with candidates.indices; throws if any pair is not cached. */
  lookup(examples: Int32Array, candidates: Csr): Float32Array {
    this.checkRows(examples, candidates);
    const cp = candidates.indptr;
    const ci = candidates.indices;
    const base = cp[0];
    const out = new Float32Array(cp[candidates.rows] - base);
    for (let i = 0; i < examples.length; i++) {
      const e = examples[i];
      const a = this.labels[e];
      const s = this.scores[e];
      for (let p = cp[i]; p < cp[i + 1]; p++) {
        const k = findSorted(a, ci[p]);
        if (k < 0) throw new DistilxrError(`no cached teacher score for example ${e}, label ${ci[p]}`, 'SCORE_CACHE_MISS');
        out[p - base] = s[k];
      }
    }
    return out;
  }

  /**
   * Scores of all pairs, sending to the teacher only the pairs not cached (each once: rows of a
   * repeated example are merged, empty rows dropped). Concurrent calls may score a pair twice.
   */
  async scoreWithCache(
    teacher: CandidateScorer,
    features: Csr,
    examples: Int32Array,
    candidates: Csr,
    opts?: ScoreOptions,
  ): Promise<CachedScores> {
    // a job's first call (nothing cached, every pair new): the teacher's scores are the answer as
    // they come, without the search for missing pairs, the grouping and the lookup (serial work
    // beside the workers' chunks: bench/score-cache.ts put the call's bookkeeping at 0.56 s for
    // bench:workers' 4.1 M pairs, the insert kept here included)
    if (this.pairs === 0 && everyPairOnce(examples, candidates, this.numExamples)) {
      const s = await this.scoreAndInsert(teacher, features, examples, candidates, opts);
      return { scores: s, newlyScored: s.length };
    }
    const todo = groupByExample(examples, this.missing(examples, candidates));
    const newlyScored = todo.candidates.indptr[todo.candidates.rows];
    if (newlyScored > 0) await this.scoreAndInsert(teacher, features, todo.examples, todo.candidates, opts);
    return { scores: this.lookup(examples, candidates), newlyScored };
  }

  /**
   * The teacher's scores of the pairs, stored. A scorer that tells its parts as they are final
   * (ScoreOptions.onScored: the fan-out's chunks) has them stored while it scores the rest;
   * whatever it did not tell is stored at the end.
   */
  private async scoreAndInsert(teacher: CandidateScorer, features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array> {
    let told = 0;
    const onScored = (e: Int32Array, c: Csr, part: Float32Array): void => {
      this.insert(e, c, part);
      told += part.length;
      opts?.onScored?.(e, c, part);
    };
    const s = await teacher.scoreCandidates(features, examples, candidates, { ...opts, onScored });
    if (told !== s.length) this.insert(examples, candidates, s);
    return s;
  }

  /** Binary snapshot (little-endian): header, per-example counts, all labels, all scores. */
  serialize(): Buffer {
    const N = this.numExamples;
    const P = this.pairs;
    const buf = Buffer.alloc(HEADER_BYTES + 4 * N + 8 * P); // offsets stay 4-byte aligned
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, VERSION, true);
    view.setUint32(8, N, true);
    view.setFloat64(16, P, true);
    const counts = new Int32Array(N);
    const labels = new Int32Array(P);
    const scores = new Float32Array(P);
    let o = 0;
    for (let e = 0; e < N; e++) {
      counts[e] = this.labels[e].length;
      labels.set(this.labels[e], o);
      scores.set(this.scores[e], o);
      o += counts[e];
    }
    let at = HEADER_BYTES;
    for (const a of [counts, labels, scores]) {
      buf.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += a.byteLength;
    }
    return buf;
  }

  static deserialize(bytes: Uint8Array): TeacherScoreCache {
    const corrupt = (why: string): DistilxrError => new DistilxrError(`corrupt teacher score cache: ${why}`, 'SCORE_CACHE_CORRUPT');
    if (bytes.length < HEADER_BYTES) throw corrupt(`${bytes.length} bytes is shorter than the header`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) throw corrupt('bad magic');
    if (view.getUint32(4, true) !== VERSION) throw corrupt(`unsupported version ${view.getUint32(4, true)}`);
    const N = view.getUint32(8, true);
    const P = view.getFloat64(16, true);
    if (!Number.isInteger(P) || P < 0 || bytes.length !== HEADER_BYTES + 4 * N + 8 * P) {
      throw corrupt(`size ${bytes.length} does not match ${N} examples and ${P} pairs`);
    }
    const body = bytes.slice(HEADER_BYTES); // aligned copy
    const counts = new Int32Array(body.buffer, 0, N);
    const labels = new Int32Array(body.buffer, 4 * N, P);
    const scores = new Float32Array(body.buffer, 4 * N + 4 * P, P);
    const cache = new TeacherScoreCache(N);
    let o = 0;
    for (let e = 0; e < N; e++) {
      const c = counts[e];
      if (c < 0 || o + c > P) throw corrupt(`example ${e} has ${c} pairs`);
      if (c === 0) continue;
      for (let k = o + 1; k < o + c; k++) if (labels[k] <= labels[k - 1]) throw corrupt(`labels of example ${e} are not sorted`);
      cache.labels[e] = labels.subarray(o, o + c);
      cache.scores[e] = scores.subarray(o, o + c);
      o += c;
    }
    if (o !== P) throw corrupt(`counts sum to ${o}, header says ${P}`);
    cache.pairs = P;
    return cache;
  }

  /** Merges the first m (sorted, unique) scratch pairs into example e's row. */
  private mergeRow(e: number, m: number): void {
    const a = this.labels[e];
    const as = this.scores[e];
    const b = this.rowLabels;
    const bs = this.rowScores;
    let fresh = 0;
    for (let i = 0, j = 0; j < m; ) {
      if (i < a.length && a[i] < b[j]) i++;
      else {
        if (i >= a.length || a[i] !== b[j]) fresh++;
        j++;
      }
    }
    if (fresh === 0) return;
    const la = new Int32Array(a.length + fresh);
    const ls = new Float32Array(a.length + fresh);
    let i = 0;
    let j = 0;
    let o = 0;
    while (i < a.length || j < m) {
      if (j >= m || (i < a.length && a[i] <= b[j])) {
        if (j < m && a[i] === b[j]) j++; // cached score wins
        la[o] = a[i];
        ls[o++] = as[i++];
      } else {
        la[o] = b[j];
        ls[o++] = bs[j++];
      }
    }
    this.labels[e] = la;
    this.scores[e] = ls;
    this.pairs += fresh;
  }

  private checkExample(e: number): void {
    if (!(e >= 0 && e < this.numExamples)) throw new RangeError(`example ${e} out of range [0, ${this.numExamples})`);
  }

  private checkRows(examples: Int32Array, candidates: Csr): void {
    if (candidates.rows !== examples.length) {
      throw new RangeError(`candidates has ${candidates.rows} rows but there are ${examples.length} examples`);
    }
    for (let i = 0; i < examples.length; i++) this.checkExample(examples[i]);
  }
}

/** Index of `key` in the sorted array a, or -1. */
function findSorted(a: Int32Array, key: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid];
    if (v < key) lo = mid + 1;
    else if (v > key) hi = mid - 1;
    else return mid;
  }
  return -1;
}

/**
 * Sorts the first n (label, score) pairs by label (in place; heapsort when not already sorted),
 * drops repeated labels keeping the first occurrence, and returns the new count.
 */
function sortPairsDedupe(labels: Int32Array, scores: Float32Array, n: number): number {
  let sorted = true;
  for (let k = 1; k < n; k++) {
    if (labels[k] <= labels[k - 1]) {
      sorted = false;
      break;
    }
  }
  if (sorted) return n;
  if (n > MAX_SORT_ROW) throw new RangeError(`a row of ${n} candidates is more than the score cache sorts (${MAX_SORT_ROW})`);
  // One native sort of label × n + position: the first occurrence of a repeated label comes first
  // (exact in a double while label × n < 2^53). Per-row heapsorts with their own position arrays
  // took 0.85 s for 40,000 rows of 103 pairs (bench/score-cache.ts), serial work a fanned-out scoring stage cannot share.
  if (sortKeys.length < n) {
    sortKeys = new Float64Array(Math.max(n, 2 * sortKeys.length));
    sortScores = new Float32Array(sortKeys.length);
  }
  const keys = sortKeys.subarray(0, n);
  for (let k = 0; k < n; k++) keys[k] = labels[k] * n + k;
  keys.sort();
  sortScores.set(scores.subarray(0, n));
  let m = 0;
  for (let k = 0; k < n; k++) {
    const label = Math.floor(keys[k] / n);
    if (m > 0 && label === labels[m - 1]) continue;
    labels[m] = label;
    scores[m++] = sortScores[keys[k] - label * n];
  }
  return m;
}

// Labels are int32, so label × n + position stays an exact double (< 2^53) for rows up to 2^21.
const MAX_SORT_ROW = 2 ** 21;
// Scratch of sortPairsDedupe (grown, never shrunk).
let sortKeys = new Float64Array(64);
let sortScores = new Float32Array(64);

/**
 * The non-empty rows of `candidates` grouped by example: rows of a repeated example are merged;
 * each row sorted and without repeats.
 */
function groupByExample(examples: Int32Array, candidates: Csr): { examples: Int32Array; candidates: Csr } {
  const cp = candidates.indptr;
  const group = new Map<number, number>(); // example → group index (per row, not per pair)
  const groupExample: number[] = [];
  const rowGroup = new Int32Array(examples.length);
  for (let i = 0; i < examples.length; i++) {
    if (cp[i + 1] === cp[i]) {
      rowGroup[i] = -1;
      continue;
    }
    let g = group.get(examples[i]);
    if (g === undefined) {
      g = groupExample.length;
      group.set(examples[i], g);
      groupExample.push(examples[i]);
    }
    rowGroup[i] = g;
  }
  const G = groupExample.length;
  const indptr = new Int32Array(G + 1);
  for (let i = 0; i < examples.length; i++) if (rowGroup[i] >= 0) indptr[rowGroup[i] + 1] += cp[i + 1] - cp[i];
  for (let g = 0; g < G; g++) indptr[g + 1] += indptr[g];
  const fill = indptr.slice(0, G);
  const labels = new Int32Array(indptr[G]);
  for (let i = 0; i < examples.length; i++) {
    const g = rowGroup[i];
    if (g < 0) continue;
    labels.set(candidates.indices.subarray(cp[i], cp[i + 1]), fill[g]);
    fill[g] += cp[i + 1] - cp[i];
  }
  // Sort each group and drop repeats, compacting in place.
  const outIndptr = new Int32Array(G + 1);
  let o = 0;
  for (let g = 0; g < G; g++) {
    const seg = labels.subarray(indptr[g], indptr[g + 1]);
    seg.sort();
    let prev = -1;
    for (let k = 0; k < seg.length; k++) {
      const y = seg[k];
      if (k === 0 || y !== prev) labels[o++] = y;
      prev = y;
    }
    outIndptr[g + 1] = o;
  }
  return {
    examples: Int32Array.from(groupExample),
    candidates: { rows: G, cols: candidates.cols, indptr: outIndptr, indices: labels.slice(0, o), values: null },
  };
}

/**
 * True when the calls' rows are what the teacher would be sent anyway: distinct examples, no empty
 * row, no label twice in a row.
 */
function everyPairOnce(examples: Int32Array, candidates: Csr, numExamples: number): boolean {
  if (candidates.rows !== examples.length) return false;
  const seenExample = new Uint8Array(numExamples);
  const lastRowOf = new Int32Array(candidates.cols).fill(-1);
  const cp = candidates.indptr;
  const ci = candidates.indices;
  for (let i = 0; i < examples.length; i++) {
    const e = examples[i];
    if (e < 0 || e >= numExamples || seenExample[e] || cp[i + 1] === cp[i]) return false;
    seenExample[e] = 1;
    for (let p = cp[i]; p < cp[i + 1]; p++) {
      const y = ci[p];
      if (y < 0 || y >= candidates.cols || lastRowOf[y] === i) return false;
      lastRowOf[y] = i;
    }
  }
  return true;
}
