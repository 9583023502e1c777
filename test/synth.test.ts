import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../src/core/data/dataset.js';
import { UsageError } from '../src/core/util/errors.js';
import { Rng } from '../src/core/util/rng.js';
import { SynthModel, SynthRow, synthesize, writeSynth } from '../src/core/data/synth.js';
import { readXcFile } from '../src/core/data/xc-format.js';

const OPTS = { points: 4000, features: 3000, labels: 500, seed: 11 };

function checkShape(d: Dataset, points: number, features: number, labels: number): void {
  // plain loops collect problems; one expect per check keeps the test fast
  const problems: string[] = [];
  for (const [name, m, cols] of [['features', d.features, features], ['labels', d.labels, labels]] as const) {
    expect(m.rows).toBe(points);
    expect(m.cols).toBe(cols);
    expect(m.indptr.length).toBe(points + 1);
    expect(m.indptr[0]).toBe(0);
    expect(m.indptr[points]).toBe(m.indices.length);
    for (let r = 0; r < points; r++) {
      if (m.indptr[r + 1] <= m.indptr[r]) problems.push(`${name} row ${r} is empty`);
      for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
        if (m.indices[p] < 0 || m.indices[p] >= cols) problems.push(`${name} row ${r}: id ${m.indices[p]} out of range`);
        if (p > m.indptr[r] && m.indices[p] <= m.indices[p - 1]) problems.push(`${name} row ${r} not sorted`);
      }
    }
  }
  expect(d.labels.values).toBeNull();
  for (let r = 0; r < points; r++) {
    let ss = 0;
    for (let p = d.features.indptr[r]; p < d.features.indptr[r + 1]; p++) ss += d.features.values![p] ** 2;
    if (Math.abs(ss - 1) > 1e-5) problems.push(`row ${r} has squared norm ${ss}`);
  }
  expect(problems.slice(0, 5)).toEqual([]);
}

describe('synthesize', () => {
  const { train, test } = synthesize(OPTS);

  it('has the requested sizes, ranges and means', () => {
    checkShape(train, 4000, 3000, 500);
    checkShape(test, 1000, 3000, 500);
    const lpp = train.labels.indices.length / train.labels.rows;
    const nnz = train.features.indices.length / train.features.rows;
    expect(lpp).toBeGreaterThan(2.6);
    expect(lpp).toBeLessThan(3.4);
    expect(nnz).toBeGreaterThan(15);
    expect(nnz).toBeLessThan(25);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const again = synthesize(OPTS);
    expect(Array.from(again.train.features.values!)).toEqual(Array.from(train.features.values!));
    expect(Array.from(again.test.labels.indices)).toEqual(Array.from(test.labels.indices));
    const other = synthesize({ ...OPTS, seed: 12 });
    expect(Array.from(other.train.labels.indices.slice(0, 50))).not.toEqual(Array.from(train.labels.indices.slice(0, 50)));
  });

  it('has head and tail labels (Zipf-like popularity)', () => {
    const counts = new Int32Array(500);
    for (const l of train.labels.indices) counts[l]++;
    const sorted = Array.from(counts).sort((a, b) => b - a);
    const total = train.labels.indices.length;
    expect(sorted.slice(0, 50).reduce((a, b) => a + b, 0) / total).toBeGreaterThan(0.3); // top 10% of labels
    expect(sorted[400]).toBeLessThan(sorted[0] / 10);
  });

  it("plants the structure: points with label l use l's signature far more than chance", () => {
    const model = new SynthModel(OPTS);
    const inSig = new Uint8Array(3000);
    let checked = 0;
    for (let l = 0; l < 500; l++) {
      inSig.fill(0);
      for (let j = 0; j < model.signatureSize; j++) inSig[model.signatureFeature(l, j)] = 1;
      const sigSize = inSig.reduce((a, b) => a + b, 0);
      let hits = 0;
      let total = 0;
      for (let r = 0; r < train.labels.rows; r++) {
        let has = false;
        for (let p = train.labels.indptr[r]; p < train.labels.indptr[r + 1]; p++) if (train.labels.indices[p] === l) has = true;
        if (!has) continue;
        for (let p = train.features.indptr[r]; p < train.features.indptr[r + 1]; p++) {
          hits += inSig[train.features.indices[p]];
          total++;
        }
      }
      if (total < 100) continue;
      checked++;
      expect(hits / total).toBeGreaterThan((10 * sigSize) / 3000);
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('a signature-matching oracle gets P@1 far above chance', () => {
    const model = new SynthModel(OPTS);
    const x = new Float32Array(3000);
    let hits = 0;
    const n = 300;
    for (let r = 0; r < n; r++) {
      x.fill(0);
      for (let p = test.features.indptr[r]; p < test.features.indptr[r + 1]; p++) x[test.features.indices[p]] = test.features.values![p];
      let best = -1;
      let bestScore = -1;
      for (let l = 0; l < 500; l++) {
        let s = 0;
        for (let j = 0; j < model.signatureSize; j++) s += x[model.signatureFeature(l, j)];
        if (s > bestScore) [best, bestScore] = [l, s];
      }
      for (let p = test.labels.indptr[r]; p < test.labels.indptr[r + 1]; p++) if (test.labels.indices[p] === best) hits++;
    }
    expect(hits / n).toBeGreaterThan(0.5); // chance is ~3/500
  });

  it('label ids are a permutation of topic ranks (topicOf inverts labelOf)', () => {
    const model = new SynthModel({ ...OPTS, labels: 997, clusters: 13 });
    const seen = new Set<number>();
    for (let t = 0; t < model.topics; t++) {
      for (let rank = 0; rank < model.topicSize(t); rank++) {
        const l = model.labelOf(t, rank);
        expect(model.topicOf(l)).toBe(t);
        seen.add(l);
      }
    }
    expect(seen.size).toBe(997);
  });

  it('scales to a million labels without per-label tables', () => {
    const model = new SynthModel({ points: 10, features: 100_000, labels: 1_000_000, seed: 1 });
    const rng = new Rng(1);
    const row = new SynthRow();
    for (let i = 0; i < 200; i++) {
      model.sampleRow(rng, row);
      for (let p = 0; p < row.numLabels; p++) expect(row.labels[p]).toBeLessThan(1_000_000);
    }
    expect(model.topics).toBe(1000);
  });

  it('refuses bad options', () => {
    expect(() => synthesize({ ...OPTS, labels: 0 })).toThrow(UsageError);
    expect(() => synthesize({ ...OPTS, features: 2.5 })).toThrow(UsageError);
    expect(() => synthesize({ ...OPTS, labelsPerPoint: 0 })).toThrow(UsageError);
  });
});

describe('writeSynth', () => {
  it('writes train.txt and test.txt that read back as synthesize() gives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-synth-'));
    try {
      const opts = { points: 300, testPoints: 50, features: 400, labels: 1000, seed: 3, labelsPerPoint: 2, nnzPerPoint: 10 };
      const paths = await writeSynth(join(dir, 'nested'), opts);
      expect(paths.train).toBe(join(dir, 'nested', 'train.txt'));
      const mem = synthesize(opts);
      for (const split of ['train', 'test'] as const) {
        const d = await readXcFile(paths[split]);
        const m = mem[split];
        expect(Array.from(d.features.indptr)).toEqual(Array.from(m.features.indptr));
        expect(Array.from(d.features.indices)).toEqual(Array.from(m.features.indices));
        expect(Array.from(d.features.values!)).toEqual(Array.from(m.features.values!));
        expect(Array.from(d.labels.indices)).toEqual(Array.from(m.labels.indices));
        expect([d.features.cols, d.labels.cols]).toEqual([400, 1000]);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
