/**
 * Synthetic extreme multi-label data with a planted, learnable structure, in O(rows) memory at
 * any label count (nothing is O(points x labels) or even O(labels)):
 * - labels are grouped into topics; within a topic, popularity is Zipf-like (head and tail labels),
 *   and label ids are a fixed permutation so popularity does not follow id order;
 * - each topic has a pool of 4S features; each label a signature of S features, half picked from
 *   its topic's pool (so labels of one topic are confusable: hard negatives exist) and half
 *   private; all derived from a hash of (seed, id, j), so no table is stored;
 * - a point picks a topic, draws its labels mostly from that topic (co-occurrence), and draws its
 *   features 70% from its labels' signatures, 10% from the topic pool, 20% uniform noise.
 * A linear model recovers label -> signature, so P@1 is far above chance.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CsrBuilder } from './csr.js';
import type { Dataset } from './dataset.js';
import { UsageError } from '../util/errors.js';
import { Rng } from '../util/rng.js';
import { XcWriter } from './xc-format.js';
import { fmix32 } from '../util/hash.js';

export interface SynthOptions {
  /** Training points. */
  points: number;
  /** Test points. @defaultValue max(1, round(points / 4)) */
  testPoints?: number;
  features: number;
  labels: number;
  /** Mean labels per point. @defaultValue 3 */
  labelsPerPoint?: number;
  /** Mean non-zero features per point (approximate). @defaultValue 20 */
  nnzPerPoint?: number;
  seed: number;
  /** Number of topics. @defaultValue round(sqrt(labels)) */
  clusters?: number;
}

const FROM_LABELS = 0.7;
const FROM_TOPIC = 0.8; // cumulative: 10% topic pool, then 20% noise
const SAME_TOPIC = 0.8; // share of a point's labels drawn from its main topic
// duplicate draws merge, so draw a little more than the target to land near nnzPerPoint
const DRAW_FACTOR = 1.15;

function hash3(salt: number, a: number, b: number): number {
  return fmix32(fmix32(salt ^ Math.imul(a + 1, 0x9e3779b1)) ^ Math.imul(b + 1, 0x27d4eb2f));
}

/** a * b mod m without leaving exact double range (a, b < m < 2^31). */
function mulmod(a: number, b: number, m: number): number {
  return (((a * (b >>> 16)) % m) * 65536 + a * (b & 0xffff)) % m;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function modInverse(a: number, m: number): number {
  let [r0, r1] = [m, a % m];
  let [t0, t1] = [0, 1];
  while (r1 !== 0) {
    const q = Math.floor(r0 / r1);
    [r0, r1] = [r1, r0 - q * r1];
    [t0, t1] = [t1, t0 - q * t1];
  }
  return ((t0 % m) + m) % m;
}

/** Scratch for one generated row; reused across rows. */
export class SynthRow {
  labels: Int32Array = new Int32Array(16); // [numLabels], sorted
  numLabels = 0;
  indices: Int32Array = new Int32Array(64); // [nnz], sorted
  values: Float32Array = new Float32Array(64); // [nnz], L2-normalised
  nnz = 0;
  draws: Int32Array = new Int32Array(64);
}

/** The planted structure; deterministic in the options, sampling driven by the caller's Rng. */
export class SynthModel {
  readonly numFeatures: number;
  readonly numLabels: number;
  readonly topics: number;
  /** Features per label signature. */
  readonly signatureSize: number;
  /** Features per topic pool. */
  readonly topicPoolSize: number;
  private readonly sharedSize: number; // signature features taken from the topic pool
  private readonly labelsPerPoint: number;
  private readonly nnzPerPoint: number;
  private readonly labelSalt: number;
  private readonly topicSalt: number;
  // label id = (mult * u + offset) mod L for internal index u = topic + topics * rank
  private readonly mult: number;
  private readonly multInv: number;
  private readonly offset: number;

  constructor(opts: SynthOptions) {
    const posInt = (name: string, v: number): void => {
      if (!Number.isInteger(v) || v < 1 || v > 2147483647) throw new UsageError(`synth: ${name} must be a positive integer, got ${v}`);
    };
    posInt('features', opts.features);
    posInt('labels', opts.labels);
    if (!Number.isInteger(opts.points) || opts.points < 0) throw new UsageError(`synth: points must be a non-negative integer, got ${opts.points}`);
    if (!Number.isInteger(opts.seed)) throw new UsageError(`synth: seed must be an integer, got ${opts.seed}`);
    this.numFeatures = opts.features;
    this.numLabels = opts.labels;
    this.labelsPerPoint = opts.labelsPerPoint ?? 3;
    this.nnzPerPoint = opts.nnzPerPoint ?? 20;
    if (!(this.labelsPerPoint >= 1)) throw new UsageError(`synth: labelsPerPoint must be >= 1, got ${this.labelsPerPoint}`);
    if (!(this.nnzPerPoint >= 1)) throw new UsageError(`synth: nnzPerPoint must be >= 1, got ${this.nnzPerPoint}`);
    const topics = opts.clusters ?? Math.max(1, Math.round(Math.sqrt(opts.labels)));
    posInt('clusters', topics);
    this.topics = Math.min(topics, opts.labels);
    this.signatureSize = Math.min(opts.features, Math.max(8, Math.round(this.nnzPerPoint)));
    this.topicPoolSize = Math.min(opts.features, 4 * this.signatureSize);
    this.sharedSize = this.signatureSize >> 1;
    const seed = opts.seed | 0;
    this.labelSalt = fmix32(seed ^ 0x1b873593);
    this.topicSalt = fmix32(seed ^ 0x5bd1e995);
    const L = opts.labels;
    let mult = Math.max(1, Math.floor(L * 0.6180339887)) | 1;
    while (gcd(mult, L) !== 1) mult++;
    this.mult = mult % L;
    this.multInv = L === 1 ? 0 : modInverse(this.mult, L);
    this.offset = fmix32(seed ^ 0x68e31da4) % L;
  }

  /** Labels in a topic: internal indices t, t + T, t + 2T, ... below L. */
  topicSize(topic: number): number {
    return Math.floor((this.numLabels - 1 - topic) / this.topics) + 1;
  }

  /** Label id of the rank-th most popular label of a topic. */
  labelOf(topic: number, rank: number): number {
    const u = topic + this.topics * rank;
    return (mulmod(this.mult, u, this.numLabels) + this.offset) % this.numLabels;
  }

  topicOf(label: number): number {
    const u = mulmod(this.multInv, (label - this.offset + this.numLabels) % this.numLabels, this.numLabels);
    return u % this.topics;
  }

  /** j-th signature feature of a label, j in [0, signatureSize). */
  signatureFeature(label: number, j: number): number {
    const h = hash3(this.labelSalt, label, j);
    if (j < this.sharedSize) return this.topicFeature(this.topicOf(label), h % this.topicPoolSize);
    return h % this.numFeatures;
  }

  /** j-th feature of a topic's pool, j in [0, topicPoolSize). */
  topicFeature(topic: number, j: number): number {
    return hash3(this.topicSalt, topic, j) % this.numFeatures;
  }

  /** Fills `row` with one point's sorted labels and L2-normalised features. */
  sampleRow(rng: Rng, row: SynthRow): void {
    const k = Math.min(this.numLabels, 1 + poisson(rng, this.labelsPerPoint - 1));
    if (row.labels.length < k) row.labels = new Int32Array(2 * k);
    const main = zipf(rng, this.topics);
    let nl = 0;
    for (let attempt = 0; nl < k && attempt < 10 * k; attempt++) {
      const t = rng.next() < SAME_TOPIC ? main : zipf(rng, this.topics);
      const l = this.labelOf(t, zipf(rng, this.topicSize(t)));
      let dup = false;
      for (let i = 0; i < nl; i++) if (row.labels[i] === l) dup = true;
      if (!dup) row.labels[nl++] = l;
    }
    row.labels.subarray(0, nl).sort();
    row.numLabels = nl;

    const m = Math.max(1, Math.round(this.nnzPerPoint * DRAW_FACTOR * (0.5 + rng.next())));
    if (row.draws.length < m) {
      row.draws = new Int32Array(2 * m);
      row.indices = new Int32Array(2 * m);
      row.values = new Float32Array(2 * m);
    }
    const draws = row.draws;
    for (let i = 0; i < m; i++) {
      const r = rng.next();
      if (r < FROM_LABELS) draws[i] = this.signatureFeature(row.labels[rng.int(nl)], rng.int(this.signatureSize));
      else if (r < FROM_TOPIC) draws[i] = this.topicFeature(main, rng.int(this.topicPoolSize));
      else draws[i] = rng.int(this.numFeatures);
    }
    draws.subarray(0, m).sort();
    // runs of equal draws -> (feature, 1 + ln count), then unit norm
    let n = 0;
    let ss = 0;
    for (let i = 0; i < m; ) {
      let j = i + 1;
      while (j < m && draws[j] === draws[i]) j++;
      const v = 1 + Math.log(j - i);
      row.indices[n] = draws[i];
      row.values[n++] = v;
      ss += v * v;
      i = j;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let i = 0; i < n; i++) row.values[i] *= inv;
    row.nnz = n;
  }
}

/** Zipf(1)-like rank in [0, n): P(r) ~ 1 / (r + 1). */
function zipf(rng: Rng, n: number): number {
  const r = Math.floor(Math.exp(rng.next() * Math.log(n + 1))) - 1;
  return r < n ? r : n - 1;
}

function poisson(rng: Rng, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * rng.normal()));
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng.next();
  while (p > limit) {
    k++;
    p *= rng.next();
  }
  return k;
}

function testPointsOf(opts: SynthOptions): number {
  const n = opts.testPoints ?? Math.max(1, Math.round(opts.points / 4));
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`synth: testPoints must be a non-negative integer, got ${n}`);
  return n;
}

// train and test draw from the same model with independent streams
function streams(seed: number): { train: Rng; test: Rng } {
  return { train: new Rng(seed), test: new Rng(fmix32(seed ^ 0x7f4a7c15) + 1) };
}

function generate(model: SynthModel, rng: Rng, points: number, source: string): Dataset {
  const row = new SynthRow();
  const features = new CsrBuilder(true, points, Math.max(16, Math.round(points * model.signatureSize)));
  const labels = new CsrBuilder(false, points, points * 4);
  for (let i = 0; i < points; i++) {
    model.sampleRow(rng, row);
    for (let p = 0; p < row.numLabels; p++) labels.push(row.labels[p]);
    labels.endRow();
    for (let p = 0; p < row.nnz; p++) features.push(row.indices[p], row.values[p]);
    features.endRow();
  }
  return { features: features.build(model.numFeatures), labels: labels.build(model.numLabels), source };
}

/** Generates train and test splits in memory. */
export function synthesize(opts: SynthOptions): { train: Dataset; test: Dataset } {
  const model = new SynthModel(opts);
  const rng = streams(opts.seed);
  const tag = `synth(seed=${opts.seed})`;
  return {
    train: generate(model, rng.train, opts.points, `${tag}/train`),
    test: generate(model, rng.test, testPointsOf(opts), `${tag}/test`),
  };
}

/**
 * Writes `train.txt` and `test.txt` in XC format, row by row (same data as synthesize()), so even
 * a split too large for memory can be written. Returns the two paths.
 */
export async function writeSynth(dir: string, opts: SynthOptions): Promise<{ train: string; test: string }> {
  const model = new SynthModel(opts);
  const rng = streams(opts.seed);
  await mkdir(dir, { recursive: true });
  const out = { train: join(dir, 'train.txt'), test: join(dir, 'test.txt') };
  const splits: [string, Rng, number][] = [
    [out.train, rng.train, opts.points],
    [out.test, rng.test, testPointsOf(opts)],
  ];
  const row = new SynthRow();
  for (const [path, r, points] of splits) {
    const w = await XcWriter.create(path, points, model.numFeatures, model.numLabels);
    try {
      for (let i = 0; i < points; i++) {
        model.sampleRow(r, row);
        if (w.row(row.labels, 0, row.numLabels, row.indices, row.values, 0, row.nnz)) await w.flush();
      }
    } catch (err) {
      await w.abort();
      throw err;
    }
    await w.close();
  }
  return out;
}
