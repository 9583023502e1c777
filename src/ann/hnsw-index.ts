/**
 * Maximum-inner-product label index over hnswlib-node (`HierarchicalNSW('ip', dim)`, distance
 * 1 − ⟨q, v⟩; converted back to inner products here). hnswlib-node only accepts plain arrays, has
 * no batch add and no search threads, so one plain number[] buffer is reused for every add/search.
 * Files: the hnswlib index file plus a sidecar JSON (`<path>.json`) holding its parameters and
 * sha256 (src/ann/index-file.ts); load refuses a file whose hash does not match.
 */
import hnswlib from 'hnswlib-node';
import type { Csr } from '../core/data/csr.js';
import { checkIndexHash, IndexIntegrityError, readSidecar, saveWithSidecar, sidecarPath } from './index-file.js';

type Hnsw = InstanceType<typeof hnswlib.HierarchicalNSW>;

export interface LabelIndexBuildOptions {
  /** Graph degree. @defaultValue 16 */
  M?: number;
  /** Candidate list size while building. @defaultValue 200 */
  efConstruction?: number;
  /** hnswlib's level generator seed. @defaultValue 100 */
  seed?: number;
  /** Called every 1024 points and at the end. */
  onProgress?: (done: number, total: number) => void;
}

/** Contents of the sidecar JSON written next to the index file. */
export interface LabelIndexMeta {
  dim: number;
  count: number;
  M: number;
  efConstruction: number;
  space: 'ip';
  sha256: string;
}

export interface SearchResults {
  labels: Int32Array; // [n, k], best first, -1 = none
  scores: Float32Array; // [n, k], inner products, -Infinity = none
}

/** Search list size used until setEf is called. */
export const DEFAULT_EF = 100;


export class LabelIndex {
  private readonly buf: number[];
  private efSearch = DEFAULT_EF;
  /** The file this index was last loaded from or saved to (other threads can load it), if any. */
  file: string | null = null;

  private constructor(
    private readonly index: Hnsw,
    readonly dim: number,
    readonly count: number,
    readonly M: number,
    readonly efConstruction: number,
  ) {
    this.buf = new Array<number>(dim).fill(0);
    index.setEf(DEFAULT_EF);
  }

  /** vectors: [count, dim]; label i = row i. */
  static build(
    vectors: Float32Array,
    count: number,
    dim: number,
    opts: LabelIndexBuildOptions = {},
  ): LabelIndex {
    if (!(count >= 1 && dim >= 1)) throw new RangeError(`LabelIndex.build needs count, dim >= 1, got ${count}, ${dim}`);
    if (vectors.length < count * dim) throw new RangeError(`vectors hold ${vectors.length} < ${count}×${dim} values`);
    const M = opts.M ?? 16;
    const efConstruction = opts.efConstruction ?? 200;
    const index = new hnswlib.HierarchicalNSW('ip', dim);
    index.initIndex(count, M, efConstruction, opts.seed ?? 100);
    const li = new LabelIndex(index, dim, count, M, efConstruction);
    const buf = li.buf;
    for (let i = 0; i < count; i++) {
      const o = i * dim;
      for (let d = 0; d < dim; d++) buf[d] = vectors[o + d];
      index.addPoint(buf, i);
      if (opts.onProgress && ((i + 1) & 1023) === 0) opts.onProgress(i + 1, count);
    }
    opts.onProgress?.(count, count);
    return li;
  }

  /** The search list size searches use now. */
  get ef(): number {
    return this.efSearch;
  }

  /** Search list size (hnswlib uses max(ef, k)). */
  setEf(ef: number): void {
    this.index.setEf(ef);
    this.efSearch = ef;
  }

  /**
   * Top k labels for query[qOffset .. qOffset+dim) into out*[outOffset .. outOffset+k), best first;
   * scores are inner products. Unfilled slots get −1 / −Infinity. Returns the number found.
   */
  searchInto(
    query: Float32Array,
    qOffset: number,
    k: number,
    outLabels: Int32Array,
    outScores: Float32Array,
    outOffset: number,
  ): number {
    const found = this.searchRaw(query, qOffset, Math.min(k, this.count), undefined, outLabels, outScores, outOffset, k);
    for (let j = found; j < k; j++) {
      outLabels[outOffset + j] = -1;
      outScores[outOffset + j] = -Infinity;
    }
    return found;
  }

  /**
   * queries: [n, dim] → [n, k]. `exclude(q, label)` = true drops that label for query q, through
   * hnswlib's filter callback (one JS call per visited node: slower than searchBatchExcluding).
   * `ef` sets the search list size for this and later searches.
   */
  searchBatch(
    queries: Float32Array,
    n: number,
    k: number,
    opts: { ef?: number; exclude?: (queryIndex: number, label: number) => boolean } = {},
  ): SearchResults {
    if (opts.ef !== undefined) this.setEf(opts.ef);
    const labels = new Int32Array(n * k);
    const scores = new Float32Array(n * k);
    const exclude = opts.exclude;
    for (let q = 0; q < n; q++) {
      if (exclude) {
        const filter = (label: number): boolean => !exclude(q, label);
        const found = this.searchRaw(queries, q * this.dim, Math.min(k, this.count), filter, labels, scores, q * k, k);
        fillEmpty(labels, scores, q * k + found, q * k + k);
      } else {
        this.searchInto(queries, q * this.dim, k, labels, scores, q * k);
      }
    }
    return { labels, scores };
  }

  /**
   * Like searchBatch, but labels in row q of `excluded` are never returned for query q (hard
   * negative mining: exclude positives). Asks hnswlib for k + |excluded row| neighbours and drops
   * the excluded ones; falls back to the filter callback in the rare case that leaves fewer than k
   * while more exist. `out` (optional, ≥ n·k entries each) receives the results instead of new
   * arrays, e.g. views of SharedArrayBuffers a shard worker fills.
   */
  searchBatchExcluding(
    queries: Float32Array,
    n: number,
    k: number,
    excluded: Csr,
    opts: { ef?: number; out?: SearchResults } = {},
  ): SearchResults {
    if (excluded.rows < n) throw new RangeError(`excluded has ${excluded.rows} rows, need ${n}`);
    if (opts.out && (opts.out.labels.length < n * k || opts.out.scores.length < n * k)) {
      throw new RangeError(`out holds ${Math.min(opts.out.labels.length, opts.out.scores.length)} < ${n}×${k} results`);
    }
    if (opts.ef !== undefined) this.setEf(opts.ef);
    const labels = opts.out?.labels ?? new Int32Array(n * k);
    const scores = opts.out?.scores ?? new Float32Array(n * k);
    const { indptr, indices } = excluded;
    for (let q = 0; q < n; q++) {
      const e0 = indptr[q];
      const e1 = indptr[q + 1];
      const oo = q * k;
      let inRange = 0; // excluded labels that exist in the index
      for (let p = e0; p < e1; p++) if (indices[p] >= 0 && indices[p] < this.count) inRange++;
      const want = Math.min(k, this.count - inRange);
      const found = this.searchRaw(
        queries,
        q * this.dim,
        Math.min(k + inRange, this.count),
        undefined,
        labels,
        scores,
        oo,
        k,
        indices,
        e0,
        e1,
      );
      if (found < want) {
        const filter = (label: number): boolean => !sortedHas(indices, e0, e1, label);
        const again = this.searchRaw(queries, q * this.dim, want, filter, labels, scores, oo, k);
        fillEmpty(labels, scores, oo + again, oo + k);
      } else {
        fillEmpty(labels, scores, oo + found, oo + k);
      }
    }
    return { labels, scores };
  }

  /**
   * Writes the index to `path` (through a temp file + rename) and the sidecar JSON next to it.
   * Resolves to the sidecar contents.
   */
  async save(path: string): Promise<LabelIndexMeta> {
    const { dim, count, M, efConstruction } = this;
    const meta = await saveWithSidecar(path, (tmp) => this.index.writeIndex(tmp), (sha256): LabelIndexMeta => ({ dim, count, M, efConstruction, space: 'ip', sha256 }));
    this.file = path;
    return meta;
  }

  /**
   * Reads an index written by save(). Refuses (IndexIntegrityError) a missing/invalid sidecar, a
   * sha256 mismatch, or a dim/count different from the caller's.
   */
  static async load(path: string, dim: number, count?: number): Promise<LabelIndex> {
    const meta = await readSidecar<LabelIndexMeta>(path);
    if (meta.space !== 'ip' || typeof meta.sha256 !== 'string') {
      throw new IndexIntegrityError(`${sidecarPath(path)}: not a LabelIndex sidecar (space ${String(meta.space)})`);
    }
    if (meta.dim !== dim) throw new IndexIntegrityError(`${path}: index has dim ${meta.dim}, expected ${dim}`);
    if (count !== undefined && meta.count !== count) {
      throw new IndexIntegrityError(`${path}: index has ${meta.count} labels, expected ${count}`);
    }
    await checkIndexHash(path, meta.sha256);
    const index = new hnswlib.HierarchicalNSW('ip', dim);
    await index.readIndex(path);
    const got = index.getCurrentCount();
    if (got !== meta.count) throw new IndexIntegrityError(`${path}: holds ${got} labels, sidecar says ${meta.count}`);
    const loaded = new LabelIndex(index, dim, meta.count, meta.M, meta.efConstruction);
    loaded.file = path;
    return loaded;
  }

  /**
   * One hnswlib query for `ask` neighbours; writes up to `cap` results, skipping labels in the
   * sorted skip[s0 .. s1), into out*[outOffset ..). Returns the number written.
   */
  private searchRaw(
    query: Float32Array,
    qOffset: number,
    ask: number,
    filter: ((label: number) => boolean) | undefined,
    outLabels: Int32Array,
    outScores: Float32Array,
    outOffset: number,
    cap: number,
    skip?: Int32Array,
    s0 = 0,
    s1 = 0,
  ): number {
    if (ask <= 0 || cap <= 0) return 0;
    const buf = this.buf;
    for (let d = 0; d < this.dim; d++) buf[d] = query[qOffset + d];
    const res = filter ? this.index.searchKnn(buf, ask, filter) : this.index.searchKnn(buf, ask);
    const nb = res.neighbors;
    const dist = res.distances;
    let w = 0;
    for (let i = 0; i < nb.length && w < cap; i++) {
      const label = nb[i];
      if (skip && s1 > s0 && sortedHas(skip, s0, s1, label)) continue;
      outLabels[outOffset + w] = label;
      outScores[outOffset + w] = 1 - dist[i];
      w++;
    }
    return w;
  }
}

function fillEmpty(labels: Int32Array, scores: Float32Array, from: number, to: number): void {
  for (let j = from; j < to; j++) {
    labels[j] = -1;
    scores[j] = -Infinity;
  }
}

/** Binary search in the sorted a[lo .. hi). */
function sortedHas(a: Int32Array, lo: number, hi: number, x: number): boolean {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid];
    if (v === x) return true;
    if (v < x) lo = mid + 1;
    else hi = mid;
  }
  return false;
}
