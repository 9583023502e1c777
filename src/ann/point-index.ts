/**
 * Cosine index over the training points' embeddings (the neighbour component's), on USearch.
 *
 * Why not hnswlib-node, as the label index: the points index is the largest a job builds (apt-files:
 * 237,888 points), and hnswlib-node adds one point at a time on one thread. USearch adds a batch on
 * all threads and keeps vectors as half floats, which the neighbour vote does not notice (its
 * weights are exp(cosine / κ) with κ ≥ 0.02: a half float's 1e-3 moves them under 5 %). On 60,000
 * apt-files rows it built 1.22× faster on one thread and 2.37× on two than hnswlib built for this
 * CPU, at recall@10 0.90 against 0.91 (npm run bench:hnsw-simd, BENCHMARKS.md 0). One thread gives
 * the same graph every time; more threads race, as Hogwild training does.
 *
 * Files: USearch's index file plus a sidecar JSON (`<path>.json`) with its parameters and sha256
 * (src/ann/index-file.ts), checked on load as LabelIndex does.
 */
import { createRequire } from 'node:module';
import type * as Usearch from 'usearch';
import type { SearchResults } from './hnsw-index.js';
import { dot } from '../core/util/vectors.js';
import { checkIndexHash, IndexIntegrityError, readSidecar, saveWithSidecar, sidecarPath } from './index-file.js';

// usearch's CommonJS build: its ES module finds the native binary from a stack trace, which fails
// under some loaders (vitest's); the CommonJS one looks beside __dirname.
const { BatchMatches, Index, MetricKind, ScalarKind } = createRequire(import.meta.url)('usearch') as typeof Usearch;
type Index = Usearch.Index;

/**
 * How the index stores vectors: half floats (the default), floats, or 8-bit integers. USearch casts
 * a float to 8 bits as trunc(127·x) and sums the products of those integers: its inner product is
 * 127² times too large and shrunk by the truncation (a unit vector of 32 dimensions with itself:
 * 0.966). So 8 bits searches by cosine, which divides both out, and searchBatch multiplies the
 * cosine back by the query's norm: the inner product of a unit point, as the float kinds give.
 */
export type PointScalar = 'f16' | 'f32' | 'i8';
const SCALAR_KINDS = { f16: ScalarKind.F16, f32: ScalarKind.F32, i8: ScalarKind.I8 } as const;
/** The metric of each kind's index (see PointScalar). */
const spaceOf = (scalar: PointScalar): 'ip' | 'cos' => (scalar === 'i8' ? 'cos' : 'ip');

export interface PointIndexOptions {
  /** Graph degree. */
  M: number;
  efConstruction: number;
  /** Search list size of every search (USearch fixes it when the index is made). */
  efSearch: number;
  scalar: PointScalar;
}

/** Contents of the sidecar JSON. */
export interface PointIndexMeta extends PointIndexOptions {
  library: 'usearch';
  space: 'ip' | 'cos';
  dim: number;
  count: number;
  sha256: string;
}

export class PointIndex {
  private constructor(
    private readonly index: Index,
    readonly dim: number,
    readonly count: number,
    readonly options: PointIndexOptions,
  ) {}

  /** vectors: [count, dim], point i = row i; `threads` adding at once (1: the same graph every time). */
  static build(vectors: Float32Array, count: number, dim: number, options: PointIndexOptions, threads: number): PointIndex {
    if (!(count >= 1 && dim >= 1)) throw new RangeError(`PointIndex.build needs count, dim >= 1, got ${count}, ${dim}`);
    if (vectors.length < count * dim) throw new RangeError(`vectors hold ${vectors.length} < ${count}×${dim} values`);
    if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError(`threads must be a positive integer, got ${threads}`);
    const index = make(dim, options);
    const keys = new BigUint64Array(count);
    for (let i = 0; i < count; i++) keys[i] = BigInt(i);
    index.add(keys, vectors.subarray(0, count * dim), threads);
    return new PointIndex(index, dim, count, options);
  }

  /** queries: [n, dim] → [n, k] points by cosine, best first; −1 / −Infinity where fewer exist. */
  searchBatch(queries: Float32Array, n: number, k: number, threads = 1): SearchResults {
    const labels = new Int32Array(n * k).fill(-1);
    const scores = new Float32Array(n * k).fill(-Infinity);
    if (n === 0 || k === 0) return { labels, scores };
    const found = this.index.search(queries.subarray(0, n * this.dim), Math.min(k, this.count), threads);
    const kk = Math.min(k, this.count);
    // one query comes back as Matches (no counts), more as BatchMatches
    const counts = found instanceof BatchMatches ? found.counts : [BigInt(found.keys.length)];
    for (let q = 0; q < n; q++) {
      const c = Number(counts[q]);
      for (let j = 0; j < c; j++) {
        labels[q * k + j] = Number(found.keys[q * kk + j]);
        scores[q * k + j] = 1 - found.distances[q * kk + j];
      }
    }
    if (spaceOf(this.options.scalar) === 'cos') {
      for (let q = 0; q < n; q++) {
        const norm = Math.sqrt(dot(queries, q * this.dim, queries, q * this.dim, this.dim));
        // only the points found: an empty slot stays -Infinity (times a zero norm it was NaN)
        for (let j = 0; j < k && labels[q * k + j] >= 0; j++) scores[q * k + j] *= norm;
      }
    }
    return { labels, scores };
  }

  /** Writes the index to `path` (temp file + rename) and its sidecar; resolves to the sidecar. */
  async save(path: string): Promise<PointIndexMeta> {
    const { dim, count, options } = this;
    return saveWithSidecar(path, (tmp) => this.index.save(tmp), (sha256): PointIndexMeta => ({ library: 'usearch', space: spaceOf(options.scalar), dim, count, ...options, sha256 }));
  }

  /** Reads an index written by save(); refuses (IndexIntegrityError) what does not match its sidecar or the caller. */
  static async load(path: string, dim: number, count: number): Promise<PointIndex> {
    const meta = await readSidecar<PointIndexMeta>(path);
    if (meta.library !== 'usearch' || !(meta.scalar in SCALAR_KINDS) || meta.space !== spaceOf(meta.scalar) || typeof meta.sha256 !== 'string') {
      throw new IndexIntegrityError(`${sidecarPath(path)}: not a points index sidecar (library ${String(meta.library)}, space ${String(meta.space)})`);
    }
    if (meta.dim !== dim) throw new IndexIntegrityError(`${path}: index has dim ${meta.dim}, expected ${dim}`);
    if (meta.count !== count) throw new IndexIntegrityError(`${path}: index has ${meta.count} points, expected ${count}`);
    await checkIndexHash(path, meta.sha256);
    const { M, efConstruction, efSearch, scalar } = meta;
    const index = make(dim, { M, efConstruction, efSearch, scalar });
    index.load(path);
    if (index.size() !== count) throw new IndexIntegrityError(`${path}: holds ${index.size()} points, sidecar says ${count}`);
    return new PointIndex(index, dim, count, { M, efConstruction, efSearch, scalar });
  }
}

function make(dim: number, o: PointIndexOptions): Index {
  // o.scalar is a PointScalar: load() checked the sidecar's against SCALAR_KINDS
  return new Index({ dimensions: dim, metric: spaceOf(o.scalar) === 'cos' ? MetricKind.Cos : MetricKind.IP, quantization: SCALAR_KINDS[o.scalar], connectivity: o.M, expansion_add: o.efConstruction, expansion_search: o.efSearch, multi: false });
}
