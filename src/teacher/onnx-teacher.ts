/**
 * A teacher behind the ONNX contract: batched (example, candidate label) pair scoring through
 * ONNX Runtime (CPU). Input buffers are reused across batches; one run at a time per teacher.
 */
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { Csr } from '../core/data/csr.js';
import { ContractError, NumericError } from '../core/util/errors.js';
import { loadCheckedSession, type SessionSettings, type TeacherKind } from './contract.js';

export interface ScoreOptions {
  /** Examples per ONNX Runtime call (lowered for logits teachers so a batch stays ≤ 16M logits). @defaultValue 256 */
  batchSize?: number;
  /** Called after each batch with examples done / total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Told a part of the call's scores as soon as they are final, by a scorer that scores in parts
   * (the scoring fan-out's chunks): the part's rows as examples and candidates, and their scores
   * aligned with its candidates (the scorer's own array, which the callee may change). Most
   * scorers never call it; one that does reports each pair once.
   */
  onScored?: (examples: Int32Array, candidates: Csr, scores: Float32Array) => void;
}

/** Anything that scores candidate pairs like OnnxTeacher.scoreCandidates. */
export interface CandidateScorer {
  scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array>;
}

export type TeacherLoadOptions = SessionSettings;

const LOGITS_PER_BATCH = 1 << 24;

/** Examples per ONNX Runtime call when the caller names none. */
export const DEFAULT_SCORE_BATCH = 256;

export class OnnxTeacher implements CandidateScorer {
  // Reused across batches; int64 tensors are written through Int32 views (low word, high word 0).
  private ids = new BigInt64Array(0); // [B*M]
  private idWords = new Int32Array(0);
  private vals = new Float32Array(0); // [B*M]
  private cands = new BigInt64Array(0); // [B*K]
  private candWords = new Int32Array(0);
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly kind: TeacherKind,
    /** L when the model declares it (static logits dim or distilxr metadata), else null. */
    readonly numLabels: number | null,
    /**
     * Calibration temperature from the model's metadata (1 when it declares none): softmax(scores
     * / temperature) is the calibrated distribution. scoreCandidates returns the raw scores.
     */
    readonly temperature: number,
  ) {}

  /** Loads and checks a model (file path or bytes). @param opts.intraOpThreads default 1 */
  static async load(pathOrBytes: string | Uint8Array, opts: TeacherLoadOptions = {}): Promise<OnnxTeacher> {
    const bytes = typeof pathOrBytes === 'string' ? await readFile(pathOrBytes) : pathOrBytes;
    const { session, contract } = await loadCheckedSession(bytes, opts);
    return new OnnxTeacher(session, contract.kind, contract.numLabels, contract.temperature);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.session.release();
  }

  /**
   * Teacher score of every stored entry of `candidates` (row i: labels for example examples[i]),
   * aligned with candidates.indices. Calls are serialised (the input buffers are shared).
   */
  scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts: ScoreOptions = {}): Promise<Float32Array> {
    const run = this.queue.then(() => this.scoreNow(features, examples, candidates, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async scoreNow(features: Csr, examples: Int32Array, candidates: Csr, opts: ScoreOptions): Promise<Float32Array> {
    if (this.closed) throw new Error('teacher is closed');
    this.validate(features, examples, candidates);
    const n = examples.length;
    const out = new Float32Array(candidates.indptr[n] - candidates.indptr[0]); // aligned with candidates.indices
    const batch = this.effectiveBatchSize(opts.batchSize ?? DEFAULT_SCORE_BATCH);
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const feeds = this.featureFeeds(end - start, this.fillFeatures(features, examples, start, end));
      if (this.kind === 'scores') await this.scoreBatch(feeds, examples, candidates, start, end, out);
      else await this.logitsBatch(feeds, examples, candidates, start, end, out);
      opts.onProgress?.(end, n);
    }
    return out;
  }

  /** The examples per ONNX Runtime call for a requested batch: lowered for a logits model so a batch stays ≤ 16M logits. */
  effectiveBatchSize(requested: number = DEFAULT_SCORE_BATCH): number {
    if (!Number.isInteger(requested) || requested < 1) throw new RangeError(`batchSize must be a positive integer, got ${requested}`);
    if (this.kind === 'logits' && this.numLabels !== null) return Math.max(1, Math.min(requested, Math.floor(LOGITS_PER_BATCH / this.numLabels)));
    return requested;
  }

  private validate(features: Csr, examples: Int32Array, candidates: Csr): void {
    if (candidates.rows !== examples.length) {
      throw new RangeError(`candidates has ${candidates.rows} rows but there are ${examples.length} examples`);
    }
    for (let i = 0; i < examples.length; i++) {
      const e = examples[i];
      if (e < 0 || e >= features.rows) throw new RangeError(`example ${e} out of range [0, ${features.rows})`);
    }
    const L = this.numLabels;
    const ci = candidates.indices;
    for (let p = candidates.indptr[0]; p < candidates.indptr[candidates.rows]; p++) {
      const y = ci[p];
      if (y < 0 || (L !== null && y >= L)) {
        throw new ContractError(`candidate label ${y} is out of range: the teacher has ${L ?? 'an unknown number of'} labels`);
      }
    }
  }

  /** Fills feature_ids / feature_values for rows start..end padded to their max nnz; returns M. */
  private fillFeatures(features: Csr, examples: Int32Array, start: number, end: number): number {
    const fp = features.indptr;
    let M = 1;
    for (let i = start; i < end; i++) {
      const len = fp[examples[i] + 1] - fp[examples[i]];
      if (len > M) M = len;
    }
    const size = (end - start) * M;
    if (this.ids.length < size) {
      const cap = Math.max(size, this.ids.length * 2);
      this.ids = new BigInt64Array(cap);
      this.idWords = new Int32Array(this.ids.buffer);
      this.vals = new Float32Array(cap);
    }
    const words = this.idWords;
    const vals = this.vals;
    words.fill(0, 0, 2 * size);
    vals.fill(0, 0, size);
    const fi = features.indices;
    const fv = features.values;
    for (let i = start; i < end; i++) {
      const r = examples[i];
      let o = (i - start) * M;
      for (let p = fp[r]; p < fp[r + 1]; p++, o++) {
        words[2 * o] = fi[p];
        vals[o] = fv === null ? 1 : fv[p];
      }
    }
    return M;
  }

  private featureFeeds(B: number, M: number): Record<string, ort.Tensor> {
    return {
      feature_ids: new ort.Tensor('int64', this.ids.subarray(0, B * M), [B, M]),
      feature_values: new ort.Tensor('float32', this.vals.subarray(0, B * M), [B, M]),
    };
  }

  /** Scores rows start..end given their feature feeds, into out (aligned with candidates.indices). */
  private async scoreBatch(
    feeds: Record<string, ort.Tensor>,
    examples: Int32Array,
    candidates: Csr,
    start: number,
    end: number,
    out: Float32Array,
  ): Promise<void> {
    const B = end - start;
    const cp = candidates.indptr;
    const base = cp[0];
    let K = 1;
    for (let i = start; i < end; i++) if (cp[i + 1] - cp[i] > K) K = cp[i + 1] - cp[i];
    const size = B * K;
    if (this.cands.length < size) {
      this.cands = new BigInt64Array(Math.max(size, this.cands.length * 2));
      this.candWords = new Int32Array(this.cands.buffer);
    }
    const words = this.candWords;
    words.fill(0, 0, 2 * size); // padding: label 0, output ignored
    const ci = candidates.indices;
    for (let i = start; i < end; i++) {
      let o = (i - start) * K;
      for (let p = cp[i]; p < cp[i + 1]; p++, o++) words[2 * o] = ci[p];
    }
    feeds.candidates = new ort.Tensor('int64', this.cands.subarray(0, size), [B, K]);
    const scores = await this.run(feeds, 'scores', start, end); // [B, K]
    for (let i = start; i < end; i++) {
      let o = (i - start) * K;
      for (let p = cp[i]; p < cp[i + 1]; p++, o++) {
        const s = scores[o];
        if (s - s !== 0) throw new NumericError(`teacher score ${s} for example ${examples[i]}, label ${ci[p]}`);
        out[p - base] = s;
      }
    }
  }

  /** As scoreBatch, by gathering the candidates from the full logits. */
  private async logitsBatch(
    feeds: Record<string, ort.Tensor>,
    examples: Int32Array,
    candidates: Csr,
    start: number,
    end: number,
    out: Float32Array,
  ): Promise<void> {
    const logits = await this.run(feeds, 'logits', start, end); // [B, L]
    const L = logits.length / (end - start);
    const cp = candidates.indptr;
    const ci = candidates.indices;
    const base = cp[0];
    for (let i = start; i < end; i++) {
      const row = (i - start) * L;
      for (let p = cp[i]; p < cp[i + 1]; p++) {
        const y = ci[p];
        if (y >= L) throw new ContractError(`candidate label ${y} is out of range: the teacher has ${L} labels`);
        const s = logits[row + y];
        if (s - s !== 0) throw new NumericError(`teacher logit ${s} for example ${examples[i]}, label ${y}`);
        out[p - base] = s;
      }
    }
  }

  private async run(feeds: Record<string, ort.Tensor>, output: TeacherKind, start: number, end: number): Promise<Float32Array> {
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run(feeds);
    } catch (e) {
      throw new Error(`teacher failed on examples ${start}..${end - 1}: ${(e as Error).message}`, { cause: e });
    }
    const t = result[output];
    if (t?.type !== 'float32') throw new ContractError(`teacher did not return float32 "${output}"`);
    return t.data as Float32Array;
  }
}
