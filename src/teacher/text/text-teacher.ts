/**
 * A transformer teacher over raw text (a bundle: model.onnx + tokenizer.json + teacher.json).
 * Scores (example text, label) pairs for the three kinds:
 *   classifier     one run per example, logits [B, L] read at the candidates' columns
 *   cross-encoder  one run per (example, candidate) pair, logits [B, 1] or [B]
 *   bi-encoder     one run per example → embedding; label embeddings computed once and kept
 * Every sequence of a call is tokenised first (the calling thread and the tokeniser threads share
 * the work), then all are batched by length and run: the batches, token ids and scores are the
 * same with or without threads. Calls are serialised (one run at a time per teacher).
 */
import * as ort from 'onnxruntime-node';
import type { Csr } from '../../core/data/csr.js';
import { ContractError, NumericError } from '../../core/util/errors.js';
import { sessionOptions, type SessionSettings } from '../contract.js';
import type { ScoreOptions } from '../onnx-teacher.js';
import { defaultLabelText, type TextTeacherManifest } from './bundle-manifest.js';
import { encodeSequences, unpackSequences, type EncodeRequest, type PackedSequences } from './encoded-sequences.js';
import { batchFeeds, lengthBatches } from './length-batches.js';
import { checkBundle, readBundleDir, type BundleFiles } from './text-bundle.js';
import type { EncodedText, TextTokenizer } from './text-tokenizer.js';
import { TokenizerPool } from './tokenizer-pool.js';

/** Sequences per ONNX Runtime call unless ScoreOptions.batchSize says otherwise. @defaultValue 32 */
export const TEXT_BATCH = 32;

/**
 * Tokeniser threads of a text teacher unless TextTeacherOptions.tokenizerThreads says otherwise.
 * None: once tokenisation is cheap (tokenizeHead, AsciiWordPiece) a thread gained 7-12% with a
 * small teacher and measured 6% slower with a BERT-base-shaped one (BENCHMARKS.md section T).
 * @defaultValue 0
 */
export const TOKENIZER_THREADS = 0;

/**
 * Sequences per piece of tokenisation work at least; a call of fewer than two pieces is tokenised
 * on the calling thread (a round trip to a thread costs about as much as tokenising a few short
 * texts). @defaultValue 64
 */
export const TOKENIZE_PIECE_MIN = 64;

export interface TextTeacherOptions extends SessionSettings {
  /**
   * Threads that tokenise a call's sequences beside the calling thread (0: the calling thread
   * alone). @defaultValue TOKENIZER_THREADS
   */
  tokenizerThreads?: number;
}

/** What a scoring call does with one batch's output; `batch` holds sequence indices. */
type BatchSink = (batch: Int32Array, out: ort.Tensor) => void;

/** A dataset's labels resolved against the teacher: for dataset label y, the teacher's column / text. */
export interface LabelBinding {
  /** classifier: logits column of dataset label y; encoders: index into texts. */
  column: Int32Array;
  /** Encoders: the text of each dataset label. */
  texts: string[];
  /** Teacher labels the dataset does not have (ignored). */
  unused: number;
}

export interface TrialScore {
  text: string;
  /** Top labels of the trial text, best first (name and raw score). */
  top: { label: string; score: number }[];
}

export class TextTeacher {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  // bi-encoder: embeddings of the label texts already computed, by text
  private readonly labelEmbeddings = new Map<string, Float32Array>();
  /** Embedding size (bi-encoder), from the trial run. */
  private dim = 0;

  // second texts (cross-encoder label texts) tokenised on this thread, kept across calls
  private readonly pairTokens = new Map<string, string[]>();
  private readonly pool: TokenizerPool | null;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly manifest: TextTeacherManifest,
    readonly tokenizer: TextTokenizer,
    private readonly labelTexts: ReadonlyMap<string, string> | null,
    /** Sizes of the model file, for reports. */
    readonly modelBytes: number,
    tokenizerThreads: number,
  ) {
    if (!Number.isInteger(tokenizerThreads) || tokenizerThreads < 0) throw new RangeError(`tokenizerThreads must be a non-negative integer, got ${tokenizerThreads}`);
    this.pool = tokenizerThreads > 0 ? new TokenizerPool(tokenizer.source, tokenizerThreads) : null;
  }

  /** Tokeniser threads this teacher may start (0: it tokenises on the calling thread). */
  get tokenizerThreads(): number {
    return this.pool?.size ?? 0;
  }

  get kind(): TextTeacherManifest['kind'] {
    return this.manifest.kind;
  }

  /** Calibration temperature from the manifest (1 when absent). */
  get temperature(): number {
    return this.manifest.temperature ?? 1;
  }

  /** Label names of the manifest, or null (an encoder that takes the dataset's). */
  get labelNames(): readonly string[] | null {
    return this.manifest.labels ?? null;
  }

  static async load(dir: string, opts: TextTeacherOptions = {}): Promise<TextTeacher> {
    return TextTeacher.fromFiles(await readBundleDir(dir), dir, opts);
  }

  /** Checks the bundle, loads the model in ONNX Runtime and runs it once; ContractError names any mismatch. */
  static async fromFiles(files: BundleFiles, where: string, opts: TextTeacherOptions = {}): Promise<TextTeacher> {
    const b = checkBundle(files, where);
    const tokenizerThreads = opts.tokenizerThreads ?? TOKENIZER_THREADS;
    if (!Number.isInteger(tokenizerThreads) || tokenizerThreads < 0) throw new RangeError(`tokenizerThreads must be a non-negative integer, got ${tokenizerThreads}`);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(b.model, sessionOptions(opts));
    } catch (e) {
      throw new ContractError(`${where}/model.onnx: ONNX Runtime refuses it: ${firstLine((e as Error).message)}`);
    }
    const t = new TextTeacher(session, b.manifest, b.tokenizer, b.labelTexts, b.model.length, tokenizerThreads);
    try {
      await t.trialRun(where);
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  /** Waits for the call in progress, then stops the tokeniser threads and releases the session. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue.catch(() => undefined);
    await this.pool?.close();
    await this.session.release();
  }

  /**
   * Resolves a dataset's label names against the teacher, by name. A dataset label the teacher
   * cannot score is refused; for encoders without manifest labels, every dataset label is scored
   * through its text.
   */
  bindLabels(datasetLabels: readonly string[]): LabelBinding {
    const names = this.manifest.labels;
    const column = new Int32Array(datasetLabels.length);
    if (names) {
      const at = new Map(names.map((n, i) => [n, i] as const));
      const missing: string[] = [];
      for (let y = 0; y < datasetLabels.length; y++) {
        const c = at.get(datasetLabels[y]);
        if (c === undefined) missing.push(datasetLabels[y]);
        else column[y] = c;
      }
      if (missing.length) {
        const shown = missing.slice(0, 5).map((n) => JSON.stringify(n)).join(', ');
        throw new ContractError(`${missing.length} of the dataset's ${datasetLabels.length} labels are not in the teacher's manifest labels (${names.length}): ${shown}${missing.length > 5 ? ', ...' : ''}`);
      }
    } else {
      for (let y = 0; y < column.length; y++) column[y] = y;
    }
    const texts = this.kind === 'classifier' ? [] : datasetLabels.map((n) => this.labelText(n));
    const unused = names ? names.length - new Set(datasetLabels).size : 0;
    return { column, texts, unused };
  }

  private labelText(name: string): string {
    if (this.labelTexts) {
      const t = this.labelTexts.get(name);
      if (t === undefined) throw new ContractError(`label ${JSON.stringify(name)} has no text in the bundle's ${this.manifest.label_texts}`);
      return t;
    }
    return defaultLabelText(name);
  }

  /**
   * Teacher score of every stored entry of `candidates` (row i: dataset labels for text
   * texts[examples[i]]), aligned with candidates.indices. Raw scores (not divided by temperature).
   */
  scoreTexts(texts: readonly string[], examples: Int32Array, candidates: Csr, labels: LabelBinding, opts: ScoreOptions = {}): Promise<Float32Array> {
    const run = this.queue.then(() => this.scoreNow(texts, examples, candidates, labels, opts));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async scoreNow(texts: readonly string[], examples: Int32Array, candidates: Csr, labels: LabelBinding, opts: ScoreOptions): Promise<Float32Array> {
    if (this.closed) throw new Error('teacher is closed');
    if (candidates.rows !== examples.length) throw new RangeError(`candidates has ${candidates.rows} rows for ${examples.length} examples`);
    for (let i = 0; i < examples.length; i++) {
      if (examples[i] < 0 || examples[i] >= texts.length) throw new RangeError(`example ${examples[i]} is outside the ${texts.length} texts`);
    }
    const cp = candidates.indptr;
    for (let p = cp[0]; p < cp[examples.length]; p++) {
      const y = candidates.indices[p];
      if (y < 0 || y >= labels.column.length) throw new RangeError(`candidate label ${y} is outside the dataset's ${labels.column.length} labels`);
    }
    const batch = opts.batchSize ?? TEXT_BATCH;
    if (this.kind === 'classifier') return this.scoreClassifier(texts, examples, candidates, labels, batch, opts);
    if (this.kind === 'cross-encoder') return this.scoreCrossEncoder(texts, examples, candidates, labels, batch, opts);
    return this.scoreBiEncoder(texts, examples, candidates, labels, batch, opts);
  }

  /** Rows with at least one candidate, and their texts. */
  private rowsWithCandidates(texts: readonly string[], examples: Int32Array, candidates: Csr): { rows: Int32Array; rowTexts: string[] } {
    const rows: number[] = [];
    const rowTexts: string[] = [];
    for (let i = 0; i < examples.length; i++) {
      if (candidates.indptr[i + 1] === candidates.indptr[i]) continue;
      rows.push(i);
      rowTexts.push(texts[examples[i]]);
    }
    return { rows: Int32Array.from(rows), rowTexts };
  }

  private async scoreClassifier(texts: readonly string[], examples: Int32Array, candidates: Csr, labels: LabelBinding, batch: number, opts: ScoreOptions): Promise<Float32Array> {
    const { indptr: cp, indices: ci } = candidates;
    const out = new Float32Array(cp[examples.length] - cp[0]);
    const { rows, rowTexts } = this.rowsWithCandidates(texts, examples, candidates);
    const maxLength = this.manifest.max_length;
    await this.runSequences(rows.length, (s, e) => ({ texts: rowTexts.slice(s, e), textOf: null, pairs: null, maxLength }), batch, opts, (b, logits) => {
      const L = logits.dims[1]; // [B, L]
      const data = logits.data as Float32Array;
      for (let k = 0; k < b.length; k++) {
        const i = rows[b[k]];
        for (let p = cp[i]; p < cp[i + 1]; p++) out[p - cp[0]] = checkFinite(data[k * L + labels.column[ci[p]]], texts[examples[i]]);
      }
    });
    return out;
  }

  private async scoreCrossEncoder(texts: readonly string[], examples: Int32Array, candidates: Csr, labels: LabelBinding, batch: number, opts: ScoreOptions): Promise<Float32Array> {
    const { indptr: cp, indices: ci } = candidates;
    const n = cp[examples.length] - cp[0];
    const out = new Float32Array(n);
    const rowOf = new Int32Array(n); // pair → candidate row
    for (let i = 0; i < examples.length; i++) rowOf.fill(i, cp[i] - cp[0], cp[i + 1] - cp[0]);
    const maxLength = this.manifest.max_length;
    // pairs [s, e): the texts of their rows once each, and each pair's label text
    const request = (s: number, e: number): EncodeRequest => {
      const rowTexts: string[] = [];
      const textOf = new Int32Array(e - s);
      const pairs: string[] = new Array<string>(e - s);
      for (let p = s; p < e; p++) {
        if (p === s || rowOf[p] !== rowOf[p - 1]) rowTexts.push(texts[examples[rowOf[p]]]);
        textOf[p - s] = rowTexts.length - 1;
        pairs[p - s] = labels.texts[ci[cp[0] + p]];
      }
      return { texts: rowTexts, textOf, pairs, maxLength };
    };
    await this.runSequences(n, request, batch, opts, (b, scores) => {
      const data = scores.data as Float32Array; // [B, 1] or [B]
      for (let k = 0; k < b.length; k++) out[b[k]] = checkFinite(data[k], 'a (text, label) pair');
    });
    return out;
  }

  private async scoreBiEncoder(texts: readonly string[], examples: Int32Array, candidates: Csr, labels: LabelBinding, batch: number, opts: ScoreOptions): Promise<Float32Array> {
    const { indptr: cp, indices: ci } = candidates;
    const out = new Float32Array(cp[examples.length] - cp[0]);
    // every label of the binding at once, in its order: a label's embedding then never depends on
    // which labels a call happened to need (batch composition changes float rounding)
    await this.embedLabels(labels.texts, batch);
    const scale = this.manifest.score_scale ?? 1;
    const { rows, rowTexts } = this.rowsWithCandidates(texts, examples, candidates);
    const H = this.dim;
    const maxLength = this.manifest.max_length;
    await this.runSequences(rows.length, (s, e) => ({ texts: rowTexts.slice(s, e), textOf: null, pairs: null, maxLength }), batch, opts, (b, emb) => {
      const q = emb.data as Float32Array; // [B, H]
      for (let k = 0; k < b.length; k++) {
        const i = rows[b[k]];
        for (let p = cp[i]; p < cp[i + 1]; p++) {
          const v = this.labelEmbeddings.get(labels.texts[ci[p]])!;
          let s = 0;
          for (let h = 0; h < H; h++) s += q[k * H + h] * v[h];
          out[p - cp[0]] = checkFinite(scale * s, texts[examples[i]]);
        }
      }
    });
    return out;
  }

  /**
   * Tokenises n sequences (`request(s, e)` describes sequences [s, e)), then runs the model over
   * all of them in batches by length (lengthBatches), as a call always has.
   */
  private async runSequences(n: number, request: (s: number, e: number) => EncodeRequest, batch: number, opts: ScoreOptions, sink: BatchSink): Promise<void> {
    const seqs = await this.encodeAll(n, request);
    let done = 0;
    for (const b of lengthBatches(seqs, batch)) {
      sink(b, await this.run(seqs, b));
      done += b.length;
      opts.onProgress?.(done, n);
    }
  }

  /**
   * The n sequences, encoded. Cut into pieces of at least TOKENIZE_PIECE_MIN; with tokeniser
   * threads and more than one piece, the threads take pieces (two in flight each) while this thread
   * encodes the others, one at a time, letting the threads' answers in between. Who encodes a piece
   * changes nothing in its ids.
   */
  private async encodeAll(n: number, request: (s: number, e: number) => EncodeRequest): Promise<EncodedText[]> {
    const parties = 1 + (this.pool?.size ?? 0);
    const size = Math.max(TOKENIZE_PIECE_MIN, Math.ceil(n / (8 * parties)));
    const pieces = Math.ceil(n / size);
    const packed: PackedSequences[] = new Array<PackedSequences>(pieces);
    const pool = pieces > 1 ? this.pool : null;
    if (!pool) {
      for (let c = 0; c < pieces; c++) packed[c] = encodeSequences(this.tokenizer, request(c * size, Math.min(n, (c + 1) * size)), this.pairTokens);
      return packed.flatMap(unpackSequences);
    }
    let next = 0;
    let inFlight = 0;
    const asked: Promise<void>[] = [];
    const ask = (): void => {
      while (inFlight < 2 * pool.size && next < pieces) {
        const c = next++;
        inFlight++;
        const p = pool.encode(request(c * size, Math.min(n, (c + 1) * size))).then((r) => {
          packed[c] = r;
          inFlight--;
          ask();
        });
        p.catch(() => undefined); // awaited below; a call that fails early must not leave it unhandled
        asked.push(p);
      }
    };
    ask();
    while (next < pieces) {
      const c = next++;
      packed[c] = encodeSequences(this.tokenizer, request(c * size, Math.min(n, (c + 1) * size)), this.pairTokens);
      await new Promise<void>((resolve) => setImmediate(resolve)); // the threads' answers, and more pieces for them
    }
    // every piece handed out is in `asked` by now (an answer hands out more only while next < pieces)
    await Promise.all(asked);
    return packed.flatMap(unpackSequences);
  }

  /** Embeds the label texts not embedded yet (once per teacher: they are kept). */
  private async embedLabels(labelTexts: string[], batch: number): Promise<void> {
    const todo = labelTexts.filter((t) => !this.labelEmbeddings.has(t));
    if (todo.length === 0) return;
    const maxLen = this.manifest.label_max_length ?? this.manifest.max_length;
    const seqs = todo.map((t) => this.tokenizer.encode(t, null, maxLen));
    for (const b of lengthBatches(seqs, batch)) {
      const data = (await this.run(seqs, b)).data as Float32Array;
      for (let k = 0; k < b.length; k++) this.labelEmbeddings.set(todo[b[k]], data.slice(k * this.dim, (k + 1) * this.dim));
    }
  }

  /** Number of label embeddings computed so far (bi-encoder). */
  get cachedLabelEmbeddings(): number {
    return this.labelEmbeddings.size;
  }

  private async run(seqs: readonly EncodedText[], batch: Int32Array): Promise<ort.Tensor> {
    const feeds = batchFeeds(seqs, batch, this.manifest.inputs, this.tokenizer.padId);
    return (await this.session.run(feeds, [this.manifest.output]))[this.manifest.output];
  }

  /** Runs two texts of different lengths through the model and checks the output's shape and values. */
  private async trialRun(where: string): Promise<void> {
    const m = this.manifest;
    const pair = m.kind === 'cross-encoder' ? 'a label' : null;
    const seqs = [this.tokenizer.encode('a short text', pair, m.max_length), this.tokenizer.encode('a longer text with a few more words in it', pair, m.max_length)];
    let out: ort.Tensor;
    try {
      out = await this.run(seqs, Int32Array.of(0, 1));
    } catch (e) {
      throw new ContractError(`${where}/model.onnx: fails a trial run on two texts: ${firstLine((e as Error).message)}`);
    }
    const dims = `[${out.dims.join(',')}]`;
    if (out.type !== 'float32') throw new ContractError(`${where}/model.onnx: output "${m.output}" is ${out.type} on a trial run, expected float32`);
    if (out.dims[0] !== 2) throw new ContractError(`${where}/model.onnx: output "${m.output}" has shape ${dims} for a batch of 2`);
    if (m.kind === 'classifier' && (out.dims.length !== 2 || out.dims[1] !== m.labels!.length)) {
      throw new ContractError(`${where}/model.onnx: output "${m.output}" has shape ${dims} on a trial run; the manifest lists ${m.labels!.length} labels, so [2,${m.labels!.length}] was expected`);
    }
    if (m.kind === 'cross-encoder' && !(out.dims.length === 1 || (out.dims.length === 2 && out.dims[1] === 1))) {
      throw new ContractError(`${where}/model.onnx: a cross-encoder must output one score per pair, [2,1] or [2] here; found ${dims}`);
    }
    if (m.kind === 'bi-encoder') {
      if (out.dims.length !== 2 || out.dims[1] < 1) throw new ContractError(`${where}/model.onnx: a bi-encoder must output embeddings [B, H], found ${dims}`);
      this.dim = out.dims[1];
    }
    for (const v of out.data as Float32Array) {
      if (!Number.isFinite(v)) throw new ContractError(`${where}/model.onnx: output "${m.output}" has a non-finite value (${v}) on a trial run`);
    }
  }

  /** Scores one text against the labels (all manifest labels, or `datasetLabels`), for `teacher inspect`. */
  async trialScore(text: string, datasetLabels?: readonly string[], top = 5): Promise<TrialScore> {
    const names = datasetLabels ?? this.manifest.labels;
    if (!names) return { text, top: [] };
    const binding = this.bindLabels(names);
    const all = new Int32Array(names.length);
    for (let y = 0; y < all.length; y++) all[y] = y;
    const cands: Csr = { rows: 1, cols: names.length, indptr: Int32Array.of(0, names.length), indices: all, values: null };
    const scores = await this.scoreTexts([text], Int32Array.of(0), cands, binding);
    const order = Array.from(all).sort((a, b) => scores[b] - scores[a]).slice(0, top);
    return { text, top: order.map((y) => ({ label: names[y], score: scores[y] })) };
  }
}

function checkFinite(v: number, what: string): number {
  if (!Number.isFinite(v)) throw new NumericError(`the text teacher returned ${v} for ${what.length > 60 ? `${what.slice(0, 60)}...` : what}`);
  return v;
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}
