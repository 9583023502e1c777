import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/util/rng.js';
import { decodeModel, encodeModelParts, type ModelData } from '../src/core/util/onnx-proto.js';
import {
  exportSparseEncoderOnnx,
  exportSparseEncoderOnnxParts,
  scoreSparseEncoder,
  validateSparseEncoder,
  type SparseEncoderModel,
} from '../src/teacher/onnx-export.js';

interface Variant {
  output: 'logits' | 'scores';
  relu: boolean;
  bias: boolean; // b1 and labelBias
  normalize: boolean;
  noTable: boolean;
  scale: number;
}

function randomArray(rng: Rng, n: number, sd = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * sd;
  return a;
}

function randomModel(rng: Rng, v: Variant): SparseEncoderModel {
  const D = 20;
  const L = 9;
  const H = v.noTable ? L : 6;
  return {
    inputDim: D,
    hiddenDim: H,
    W1: randomArray(rng, D * H),
    b1: v.bias ? randomArray(rng, H, 0.3) : undefined,
    activation: v.relu ? 'relu' : 'none',
    normalize: v.normalize,
    labelTable: v.noTable ? null : randomArray(rng, L * H),
    numLabels: L,
    labelBias: v.bias ? randomArray(rng, L, 0.3) : undefined,
    scale: v.scale,
    output: v.output,
  };
}

/** B rows of distinct feature ids (row 1 empty), zero-padded to the longest row. */
function randomBatch(rng: Rng, m: SparseEncoderModel, B: number, K: number) {
  const rows: { ids: number[]; vals: number[]; cands: number[] }[] = [];
  for (let b = 0; b < B; b++) {
    const n = b === 1 ? 0 : 1 + rng.int(6);
    const ids = new Set<number>();
    while (ids.size < n) ids.add(rng.int(m.inputDim));
    const cands: number[] = [];
    for (let k = 0; k < K; k++) cands.push(rng.int(m.numLabels));
    rows.push({ ids: [...ids], vals: [...ids].map(() => rng.normal()), cands });
  }
  const M = Math.max(1, ...rows.map((r) => r.ids.length));
  const ids = new BigInt64Array(B * M);
  const vals = new Float32Array(B * M);
  const cands = new BigInt64Array(B * K);
  rows.forEach((r, b) => {
    r.ids.forEach((id, j) => {
      ids[b * M + j] = BigInt(id);
      vals[b * M + j] = r.vals[j];
    });
    r.cands.forEach((y, k) => {
      cands[b * K + k] = BigInt(y);
    });
  });
  return { rows, M, ids, vals, cands };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= tol * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`entry ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

const variants: Variant[] = [];
for (const output of ['logits', 'scores'] as const)
  for (const relu of [false, true])
    for (const bias of [false, true])
      for (const normalize of [false, true])
        for (const noTable of [false, true]) variants.push({ output, relu, bias, normalize, noTable, scale: bias ? 2.5 : 1 });

describe('exportSparseEncoderOnnx', () => {
  it.each(variants)('ONNX Runtime agrees with scoreSparseEncoder: %o', async (v) => {
    const rng = new Rng(7 + variants.indexOf(v));
    const m = randomModel(rng, v);
    const session = await ort.InferenceSession.create(exportSparseEncoderOnnx(m), { logSeverityLevel: 3 });
    try {
      const B = 5;
      const K = 4;
      const batch = randomBatch(rng, m, B, K);
      const feeds: Record<string, ort.Tensor> = {
        feature_ids: new ort.Tensor('int64', batch.ids, [B, batch.M]),
        feature_values: new ort.Tensor('float32', batch.vals, [B, batch.M]),
      };
      if (v.output === 'scores') feeds.candidates = new ort.Tensor('int64', batch.cands, [B, K]);
      const result = await session.run(feeds);
      const out = result[v.output];
      const width = v.output === 'scores' ? K : m.numLabels;
      expect(out.dims).toEqual([B, width]);
      const data = out.data as Float32Array;
      batch.rows.forEach((r, b) => {
        const expected = scoreSparseEncoder(m, r.ids, r.vals, v.output === 'scores' ? r.cands : null);
        expectClose(data.subarray(b * width, (b + 1) * width), expected);
      });
    } finally {
      await session.release();
    }
  });

  it('as parts (large initializers last, written from where they are): the same model for ONNX Runtime and for our decoder', async () => {
    const rng = new Rng(5);
    const v: Variant = { output: 'scores', relu: false, bias: true, normalize: true, noTable: false, scale: 2 };
    const small = randomModel(rng, v);
    // W1 of 1.2 MB: past exportSparseEncoderOnnxParts' 1 MiB, so it is moved last and not copied
    const big: SparseEncoderModel = { ...small, inputDim: 3000, hiddenDim: 100, W1: randomArray(rng, 3000 * 100), b1: randomArray(rng, 100, 0.3), labelTable: randomArray(rng, small.numLabels * 100) };
    const whole = exportSparseEncoderOnnx(big);
    const parts = exportSparseEncoderOnnxParts(big);
    expect(parts.some((p) => p.buffer === big.W1.buffer)).toBe(true);
    // every initializer moved (minBytes 1): several trailing ones
    const everyLast = encodeModelParts(decodeModel(whole), 1);
    for (const bytes of [Buffer.concat(parts), Buffer.concat(everyLast)]) {
      expect(bytes.length).toBe(whole.length);
      const decoded = decodeModel(bytes);
      const reference = decodeModel(whole);
      const byName = (m: ModelData) => Object.fromEntries((m.graph.initializer ?? []).map((t) => [t.name, t]));
      expect(byName(decoded)).toEqual(byName(reference));
      expect({ ...decoded.graph, initializer: [] }).toEqual({ ...reference.graph, initializer: [] });
      expect(decoded.metadataProps).toEqual(reference.metadataProps);
      const [a, b] = await Promise.all([bytes, whole].map((m) => ort.InferenceSession.create(m, { logSeverityLevel: 3 })));
      try {
        const batch = randomBatch(rng, big, 4, 3);
        const feeds = {
          feature_ids: new ort.Tensor('int64', batch.ids, [4, batch.M]),
          feature_values: new ort.Tensor('float32', batch.vals, [4, batch.M]),
          candidates: new ort.Tensor('int64', batch.cands, [4, 3]),
        };
        const [ra, rb] = await Promise.all([a.run(feeds), b.run(feeds)]);
        expect(Array.from(ra.scores.data as Float32Array)).toEqual(Array.from(rb.scores.data as Float32Array));
      } finally {
        await Promise.all([a.release(), b.release()]);
      }
    }
  });

  it('normalize keeps the zero encoding of an empty row at zero', () => {
    const rng = new Rng(1);
    const m = randomModel(rng, { output: 'logits', relu: false, bias: false, normalize: true, noTable: false, scale: 3 });
    const s = scoreSparseEncoder(m, [], [], null);
    for (const x of s) expect(x).toBe(0);
  });

  it('refuses arrays that do not match the dimensions', () => {
    const rng = new Rng(2);
    const m = randomModel(rng, { output: 'logits', relu: false, bias: false, normalize: false, noTable: false, scale: 1 });
    expect(() => validateSparseEncoder({ ...m, W1: new Float32Array(3) })).toThrow(/W1 must have D\*H = 120 values, got 3/);
    expect(() => validateSparseEncoder({ ...m, labelTable: null })).toThrow(/hiddenDim \(6\) must equal numLabels \(9\)/);
    expect(() => validateSparseEncoder({ ...m, labelBias: new Float32Array(2) })).toThrow(/labelBias must have L = 9/);
    expect(() => exportSparseEncoderOnnx({ ...m, b1: new Float32Array(1) })).toThrow(/b1 must have H = 6/);
  });
});
