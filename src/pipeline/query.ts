/**
 * Top-k retrieval with a loaded model: one code path for the CLI (`distilxr query`) and the API
 * (`POST /v1/models/:id/query`). A query is raw text (text models: the saved featurizer) or sparse
 * features; it is encoded by the student and searched in the HNSW index (or exactly).
 */
import { UsageError } from '../core/util/errors.js';
import { parseFeatureString } from '../core/data/feature-string.js';
import { sortPairs } from '../core/util/sort-pairs.js';
import type { LoadedModel } from './model-dir.js';
import { retrieve } from './retrieve.js';
import { dot } from '../core/util/vectors.js';

/** Raw text, a feature string ("3:1 17:0.5"), or a feature map ({"3": 1, "17": 0.5}). */
export type QueryInput = { text: string } | { features: string | Readonly<Record<string, number>> };

export interface SparseQuery {
  indices: Int32Array;
  values: Float32Array;
}

export interface QueryHit {
  label: number;
  /** The label's name when the model has names, else its id as a string. */
  name: string;
  /**
   * s(x, y) = q(x)·v_y / τ (the student's score, not a probability); for a model with the
   * neighbour component, the blend (1 − β)·softmax(s) + β·vote, in [0, 1].
   */
  score: number;
  /** s(x, y) = q(x)·v_y / τ, the student's own score (what student.onnx gives for this label). */
  studentScore: number;
}

/** Turns one query into sparse features in the model's input space; UsageError when it does not fit. */
export function encodeQueryInput(model: LoadedModel, input: QueryInput): SparseQuery {
  if ('text' in input) {
    if (!model.featurizer) throw new UsageError('the model was trained on sparse features, not text: give the query as features');
    return model.featurizer.transform(input.text);
  }
  const numFeatures = model.config.numFeatures;
  if (typeof input.features === 'string') return parseFeatureString(input.features, numFeatures);
  return featureMapToSparse(input.features, numFeatures);
}

/** {"3": 1, "17": 0.5} → sorted sparse vector; ids must be integers in [0, numFeatures), values finite. */
export function featureMapToSparse(map: Readonly<Record<string, number>>, numFeatures: number): SparseQuery {
  const keys = Object.keys(map);
  if (keys.length === 0) throw new UsageError('empty feature map: expected {"id": value, ...} such as {"3": 1, "17": 0.5}');
  const indices = new Int32Array(keys.length);
  const values = new Float32Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    if (!/^\d+$/.test(key)) throw new UsageError(`feature "${key}": id is not a non-negative integer`);
    const id = Number(key);
    if (id >= numFeatures) throw new UsageError(`feature "${key}": id ${key} out of range [0, ${numFeatures})`);
    const raw = map[key];
    const v = Math.fround(raw);
    if (typeof raw !== 'number' || !Number.isFinite(v)) throw new UsageError(`feature "${key}": value ${String(raw)} is not a finite number`);
    indices[i] = id;
    values[i] = v;
  }
  sortPairs(indices, values, 0, indices.length);
  for (let i = 1; i < indices.length; i++) {
    // "3" and "03" name the same feature
    if (indices[i] === indices[i - 1]) throw new UsageError(`feature ${indices[i]} appears twice`);
  }
  return { indices, values };
}

/**
 * Encodes the queries with the student and returns each one's top-k labels, best first. k is
 * capped at the number of labels; `exact` searches all labels instead of the HNSW index.
 */
export function searchModel(model: LoadedModel, queries: readonly SparseQuery[], k: number, opts: { exact?: boolean } = {}): QueryHit[][] {
  if (!Number.isInteger(k) || k < 1) throw new UsageError(`k must be an integer of at least 1, got ${k}`);
  const { student } = model;
  const dim = student.shape.dim;
  const L = student.shape.numLabels;
  const n = queries.length;
  if (n === 0) return [];
  const kk = Math.min(k, L);
  const q = new Float32Array(n * dim); // [n, dim]
  for (let i = 0; i < n; i++) {
    const x = queries[i];
    student.encodeSparseInto(x.indices, x.values, 0, x.indices.length, q, i * dim);
  }
  // exact: every label, but the training points through their index (its vectors are not stored)
  const { labels, scores } = retrieve(student, q, n, kk, { labels: opts.exact ? undefined : model.index, neighbours: model.neighbours }); // [n, kk]
  const out: QueryHit[][] = [];
  for (let i = 0; i < n; i++) {
    const hits: QueryHit[] = [];
    for (let j = i * kk; j < (i + 1) * kk; j++) {
      const label = labels[j];
      if (label < 0) continue;
      hits.push({ label, name: model.labelNames?.[label] ?? String(label), score: scores[j], studentScore: dot(q, i * dim, student.V, label * dim, dim) / student.shape.tau });
    }
    out.push(hits);
  }
  return out;
}

/** encodeQueryInput + searchModel for one query. */
export function queryModel(model: LoadedModel, input: QueryInput, k: number, opts: { exact?: boolean } = {}): QueryHit[] {
  return searchModel(model, [encodeQueryInput(model, input)], k, opts)[0];
}
