/**
 * Text -> sparse tf-idf vector. Fitted on the training split: a vocabulary of frequent terms, or
 * feature hashing when the vocabulary would be too large. Value of term t in a document:
 * (1 + ln tf) * (ln((1 + N) / (1 + df_t)) + 1), then the row is L2-normalised.
 * Serializes to plain JSON so it is saved with a model and raw-text queries are featurized later.
 */
import { CsrBuilder, type Csr } from './csr.js';
import { UsageError } from '../util/errors.js';
import { hashTerm } from '../util/hash.js';
import { TermIndex } from './term-index.js';

export { hashTerm };

export interface FeaturizerOptions {
  /** Terms seen in fewer training documents are dropped (vocabulary mode only). @defaultValue 2 */
  minDf?: number;
  /** Vocabulary cap; the most frequent terms (by df) are kept. @defaultValue 262144 (2^18) */
  maxFeatures?: number;
  /** Also emit word bigrams ("new york"): linear models gain several P@1 points on text. @defaultValue true */
  bigrams?: boolean;
  /**
   * false: vocabulary, capped at maxFeatures. true: vocabulary, but feature hashing when the
   * vocabulary would exceed maxFeatures. 'always': feature hashing. @defaultValue false
   */
  hashing?: boolean | 'always';
  /** Hashing into 2^hashBits buckets. @defaultValue ceil(log2(maxFeatures)) */
  hashBits?: number;
}

/** Plain-JSON form of a fitted featurizer (`terms` in vocabulary mode, index = feature id). */
export interface FeaturizerJson {
  format: 'distilxr-featurizer';
  version: 1;
  mode: 'vocab' | 'hash';
  bigrams: boolean;
  numDocs: number;
  hashBits?: number;
  terms?: string[];
  /** Training document frequency per feature (per bucket when hashing). */
  df: number[];
}

const TOKEN = /[\p{L}\p{N}]+/gu;

/** Lowercased runs of Unicode letters/digits, plus "a b" bigrams when asked. */
export function tokenize(text: string, bigrams = false): string[] {
  const words = text.toLowerCase().match(TOKEN) ?? [];
  if (!bigrams || words.length < 2) return words;
  const out = words.slice();
  for (let i = 1; i < words.length; i++) out.push(words[i - 1] + ' ' + words[i]);
  return out;
}

/** FNV-1a over UTF-16 code units with a murmur3 finalizer, so low bits are usable as a bucket. */
export class Featurizer {
  readonly numFeatures: number;
  /** Smoothed idf per feature: ln((1 + N) / (1 + df)) + 1. */
  readonly idf: Float64Array;
  private readonly vocab: TermIndex | null;
  private readonly mask: number;
  // per-call scratch, reused: feature ids of one document
  private ids: Int32Array = new Int32Array(1024);

  private constructor(
    readonly mode: 'vocab' | 'hash',
    readonly bigrams: boolean,
    readonly numDocs: number,
    private readonly terms: string[] | null,
    private readonly df: Int32Array,
    readonly hashBits: number,
  ) {
    this.numFeatures = df.length;
    this.idf = new Float64Array(df.length);
    for (let i = 0; i < df.length; i++) this.idf[i] = Math.log((1 + numDocs) / (1 + df[i])) + 1;
    this.mask = mode === 'hash' ? (1 << hashBits) - 1 : 0;
    this.vocab = null;
    if (terms) {
      this.vocab = new TermIndex();
      for (let i = 0; i < terms.length; i++) this.vocab.set(terms[i], i);
    }
  }

  /** Fits on a corpus held in memory (for streams use FeaturizerFitter). */
  static fit(texts: Iterable<string>, opts: FeaturizerOptions = {}): Featurizer {
    const f = new FeaturizerFitter(opts);
    for (const t of texts) f.add(t);
    return f.finish().featurizer;
  }

  /** @internal built by FeaturizerFitter and fromJSON. */
  static create(
    mode: 'vocab' | 'hash',
    bigrams: boolean,
    numDocs: number,
    terms: string[] | null,
    df: Int32Array,
    hashBits: number,
  ): Featurizer {
    return new Featurizer(mode, bigrams, numDocs, terms, df, hashBits);
  }

  /** Feature id of a term, -1 when it is not in the vocabulary. */
  featureOf(term: string): number {
    if (this.vocab) return this.vocab.get(term) ?? -1;
    return hashTerm(term) & this.mask;
  }

  /** Term of a feature id (vocabulary mode), for explanations. */
  termOf(id: number): string | undefined {
    return this.terms ? this.terms[id] : undefined;
  }

  /** tf-idf row of a text, sorted by index. */
  transform(text: string): { indices: Int32Array; values: Float32Array } {
    const b = new CsrBuilder(true, 1, 64);
    this.appendRow(text, b);
    const m = b.build(this.numFeatures);
    return { indices: m.indices, values: m.values as Float32Array };
  }

  /** Appends the tf-idf row of `text` to `b` and closes the row. */
  appendRow(text: string, b: CsrBuilder): void {
    const tokens = tokenize(text, this.bigrams);
    if (tokens.length > this.ids.length) this.ids = new Int32Array(tokens.length * 2);
    let n = 0;
    for (let i = 0; i < tokens.length; i++) {
      const id = this.featureOf(tokens[i]);
      if (id >= 0) this.ids[n++] = id;
    }
    weighRow(this.ids, n, this.idf, b);
  }

  toJSON(): FeaturizerJson {
    const out: FeaturizerJson = {
      format: 'distilxr-featurizer',
      version: 1,
      mode: this.mode,
      bigrams: this.bigrams,
      numDocs: this.numDocs,
      df: Array.from(this.df),
    };
    if (this.mode === 'hash') out.hashBits = this.hashBits;
    else out.terms = (this.terms as string[]).slice();
    return out;
  }

  /** Rebuilds from toJSON() output (possibly after JSON.stringify/parse); refuses anything else. */
  static fromJSON(obj: unknown): Featurizer {
    const bad = (why: string): never => {
      throw new UsageError(`not a distilxr featurizer: ${why}`);
    };
    if (typeof obj !== 'object' || obj === null) bad('expected an object');
    const o = obj as Partial<FeaturizerJson>;
    if (o.format !== 'distilxr-featurizer') bad('format is not "distilxr-featurizer"');
    if (o.version !== 1) bad(`unsupported version ${String(o.version)}`);
    if (o.mode !== 'vocab' && o.mode !== 'hash') bad('mode must be "vocab" or "hash"');
    if (typeof o.bigrams !== 'boolean') bad('bigrams must be a boolean');
    if (!Number.isInteger(o.numDocs) || (o.numDocs as number) < 0) bad('numDocs must be a non-negative integer');
    if (!Array.isArray(o.df)) bad('df must be an array');
    const df = Int32Array.from(o.df as number[]);
    for (let i = 0; i < df.length; i++) if (df[i] !== (o.df as number[])[i] || df[i] < 0) bad(`df[${i}] is not a count`);
    if (o.mode === 'hash') {
      const bits = o.hashBits as number;
      if (!Number.isInteger(bits) || bits < 1 || bits > 30) bad('hashBits must be an integer in [1, 30]');
      if (df.length !== 2 ** bits) bad(`df has ${df.length} entries, 2^hashBits = ${2 ** bits}`);
      return new Featurizer('hash', o.bigrams as boolean, o.numDocs as number, null, df, bits);
    }
    if (!Array.isArray(o.terms) || o.terms.some((t) => typeof t !== 'string')) bad('terms must be an array of strings');
    const terms = o.terms as string[];
    if (terms.length !== df.length) bad(`${terms.length} terms but ${df.length} df entries`);
    if (new Set(terms).size !== terms.length) bad('terms repeat');
    return new Featurizer('vocab', o.bigrams as boolean, o.numDocs as number, terms.slice(), df, 0);
  }
}

/**
 * Sorts ids[0, n), turns runs into (id, (1 + ln tf) * idf), L2-normalises, appends as a row.
 * Sorts in place: the caller's scratch is consumed.
 */
function weighRow(ids: Int32Array, n: number, idf: Float64Array, b: CsrBuilder): void {
  const row = ids.subarray(0, n);
  row.sort();
  let ss = 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && row[j] === row[i]) j++;
    const w = (1 + Math.log(j - i)) * idf[row[i]];
    ss += w * w;
    i = j;
  }
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && row[j] === row[i]) j++;
    b.push(row[i], (1 + Math.log(j - i)) * idf[row[i]] * inv);
    i = j;
  }
  b.endRow();
}

/**
 * Streaming fit: add() each training text once; finish() picks the vocabulary (or hashing) and
 * returns the training matrix too. Texts are tokenized once: their term ids are kept as a flat
 * token stream, which is smaller than the texts.
 */
export class FeaturizerFitter {
  private readonly minDf: number;
  private readonly maxFeatures: number;
  private readonly bigrams: boolean;
  private readonly hashing: boolean | 'always';
  private readonly hashBits: number;
  private readonly termIds = new TermIndex(); // unused when hashing 'always'
  private terms: string[] = [];
  private df: Int32Array = new Int32Array(1024); // per term id (per bucket when hashing 'always')
  private lastDoc: Int32Array = new Int32Array(1024); // 1 + last doc that counted toward df
  private tokens: Int32Array = new Int32Array(1 << 16); // [total tokens]
  private docPtr: Int32Array = new Int32Array(1024); // [docs + 1] into tokens
  private numTokens = 0;
  private docs = 0;

  constructor(opts: FeaturizerOptions = {}) {
    this.minDf = opts.minDf ?? 2;
    this.maxFeatures = opts.maxFeatures ?? 1 << 18;
    this.bigrams = opts.bigrams ?? true;
    this.hashing = opts.hashing ?? false;
    this.hashBits = opts.hashBits ?? Math.max(1, Math.ceil(Math.log2(this.maxFeatures)));
    if (!Number.isInteger(this.minDf) || this.minDf < 1) throw new UsageError(`minDf must be an integer >= 1, got ${this.minDf}`);
    if (!Number.isInteger(this.maxFeatures) || this.maxFeatures < 1) {
      throw new UsageError(`maxFeatures must be an integer >= 1, got ${this.maxFeatures}`);
    }
    if (!Number.isInteger(this.hashBits) || this.hashBits < 1 || this.hashBits > 30) {
      throw new UsageError(`hashBits must be an integer in [1, 30], got ${this.hashBits}`);
    }
    if (this.hashing === 'always') {
      this.df = new Int32Array(1 << this.hashBits);
      this.lastDoc = new Int32Array(1 << this.hashBits);
    }
  }

  get numDocs(): number {
    return this.docs;
  }

  add(text: string): void {
    const words = tokenize(text, this.bigrams);
    const doc = ++this.docs; // 1-based in lastDoc so that 0 means "never"
    if (this.numTokens + words.length > this.tokens.length) {
      this.tokens = growTo(this.tokens, this.numTokens + words.length);
    }
    const mask = (1 << this.hashBits) - 1;
    for (let i = 0; i < words.length; i++) {
      let id: number;
      if (this.hashing === 'always') {
        id = hashTerm(words[i]) & mask;
      } else {
        const known = this.termIds.get(words[i]);
        if (known !== undefined) {
          id = known;
        } else {
          id = this.terms.length;
          this.termIds.set(words[i], id);
          this.terms.push(words[i]);
          if (id === this.df.length) {
            this.df = growTo(this.df, id + 1);
            this.lastDoc = growTo(this.lastDoc, id + 1);
          }
        }
      }
      if (this.lastDoc[id] !== doc) {
        this.lastDoc[id] = doc;
        this.df[id]++;
      }
      this.tokens[this.numTokens++] = id;
    }
    if (doc + 1 > this.docPtr.length) this.docPtr = growTo(this.docPtr, doc + 1);
    this.docPtr[doc] = this.numTokens;
  }

  /** The fitted featurizer and the tf-idf matrix of the added texts, in order. */
  finish(): { featurizer: Featurizer; features: Csr } {
    const N = this.docs;
    let featurizer: Featurizer;
    let remap: Int32Array | null = null; // token id -> feature id (-1: dropped)
    if (this.hashing === 'always') {
      featurizer = Featurizer.create('hash', this.bigrams, N, null, this.df, this.hashBits);
    } else {
      const numTerms = this.terms.length;
      let kept = 0;
      for (let t = 0; t < numTerms; t++) if (this.df[t] >= this.minDf) kept++;
      if (kept > this.maxFeatures && this.hashing === true) {
        // hashing fallback: bucket every term, df recounted per bucket (colliding terms count once)
        const mask = (1 << this.hashBits) - 1;
        remap = new Int32Array(numTerms);
        for (let t = 0; t < numTerms; t++) remap[t] = hashTerm(this.terms[t]) & mask;
        const df = new Int32Array(mask + 1);
        const last = new Int32Array(mask + 1);
        for (let d = 0; d < N; d++) {
          for (let p = this.docPtr[d]; p < this.docPtr[d + 1]; p++) {
            const bkt = remap[this.tokens[p]];
            if (last[bkt] !== d + 1) {
              last[bkt] = d + 1;
              df[bkt]++;
            }
          }
        }
        featurizer = Featurizer.create('hash', this.bigrams, N, null, df, this.hashBits);
      } else {
        // most frequent first; ties by term so the order does not depend on the input order
        const order: number[] = [];
        for (let t = 0; t < numTerms; t++) if (this.df[t] >= this.minDf) order.push(t);
        const df = this.df;
        const terms = this.terms;
        order.sort((a, b) => df[b] - df[a] || (terms[a] < terms[b] ? -1 : terms[a] > terms[b] ? 1 : 0));
        if (order.length > this.maxFeatures) order.length = this.maxFeatures;
        remap = new Int32Array(numTerms).fill(-1);
        const vocabDf = new Int32Array(order.length);
        const vocabTerms = new Array<string>(order.length);
        for (let i = 0; i < order.length; i++) {
          remap[order[i]] = i;
          vocabDf[i] = df[order[i]];
          vocabTerms[i] = terms[order[i]];
        }
        featurizer = Featurizer.create('vocab', this.bigrams, N, vocabTerms, vocabDf, 0);
      }
    }

    const b = new CsrBuilder(true, N, Math.max(16, this.numTokens));
    let scratch = new Int32Array(256);
    for (let d = 0; d < N; d++) {
      const a = this.docPtr[d];
      const e = this.docPtr[d + 1];
      if (e - a > scratch.length) scratch = new Int32Array(2 * (e - a));
      let n = 0;
      for (let p = a; p < e; p++) {
        const id = remap ? remap[this.tokens[p]] : this.tokens[p];
        if (id >= 0) scratch[n++] = id;
      }
      weighRow(scratch, n, featurizer.idf, b);
    }
    return { featurizer, features: b.build(featurizer.numFeatures) };
  }
}

function growTo(a: Int32Array, need: number): Int32Array {
  let cap = a.length * 2;
  while (cap < need) cap *= 2;
  const b = new Int32Array(cap);
  b.set(a);
  return b;
}
