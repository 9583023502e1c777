import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { FoldedTeacher } from '../src/teacher/folded-teacher.js';
import { FOLDS_FORMAT, foldOf, foldsManifestPath, labelsFingerprint, type FoldsManifest } from '../src/teacher/folds.js';
import { exportSparseEncoderOnnx, scoreSparseEncoder, type SparseEncoderModel } from '../src/teacher/onnx-export.js';

const D = 30;
const L = 12;
const N = 40;

function randomRows(rng: Rng, rows: number, cols: number, perRow: number, values: boolean): Csr {
  const b = new CsrBuilder(values);
  for (let r = 0; r < rows; r++) {
    const set = new Set<number>();
    while (set.size < perRow) set.add(rng.int(cols));
    for (const c of [...set].sort((a, b) => a - b)) b.push(c, values ? rng.next() : 1);
    b.endRow();
  }
  return b.build(cols);
}

describe('cross-fitting folds', () => {
  let dir: string;
  const rng = new Rng(4);
  const features = randomRows(rng, N, D, 4, true);
  const labels = randomRows(rng, N, L, 2, false);
  const models: SparseEncoderModel[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-folds-'));
    const files: string[] = [];
    for (let k = 0; k < 3; k++) {
      const m: SparseEncoderModel = {
        inputDim: D,
        hiddenDim: 5,
        W1: Float32Array.from({ length: D * 5 }, () => rng.normal()),
        labelTable: Float32Array.from({ length: L * 5 }, () => rng.normal()),
        numLabels: L,
        output: 'logits',
      };
      models.push(m);
      files.push(`t.fold${k}.onnx`);
      await writeFile(join(dir, files[k]), exportSparseEncoderOnnx(m));
    }
    await writeFile(join(dir, 't.onnx'), exportSparseEncoderOnnx(models[0]));
    const manifest: FoldsManifest = { format: FOLDS_FORMAT, version: 1, folds: 3, seed: 7, trainPoints: N, labelsFingerprint: labelsFingerprint(labels), files };
    await writeFile(foldsManifestPath(join(dir, 't.onnx')), JSON.stringify(manifest));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  // determinism is pinned by the next test
  it('assigns folds in balance, by seed', () => {
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 10000; i++) counts[foldOf(i, 5, 1)]++;
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(150);
    let moved = 0;
    for (let i = 0; i < 1000; i++) if (foldOf(i, 5, 1) !== foldOf(i, 5, 2)) moved++;
    expect(moved).toBeGreaterThan(600); // the seed matters
  });

  it('keeps the fold function stable: manifests written earlier depend on it', () => {
    // a change here would let fold models score examples they were trained on
    expect(Array.from({ length: 12 }, (_, i) => foldOf(i, 3, 1))).toEqual([0, 0, 1, 0, 2, 1, 0, 1, 0, 2, 1, 1]);
  });

  it('scores every example with the model of its own fold', async () => {
    const folded = await FoldedTeacher.loadIfPresent(join(dir, 't.onnx'), labels);
    expect(folded).not.toBeNull();
    const examples = Int32Array.from({ length: N }, (_, i) => N - 1 - i);
    const candidates = randomRows(rng, N, L, 5, false);
    const scores = await folded!.scoreCandidates(features, examples, candidates);
    for (let i = 0; i < N; i++) {
      const ex = examples[i];
      const m = models[foldOf(ex, 3, 7)];
      const ids = features.indices.subarray(features.indptr[ex], features.indptr[ex + 1]);
      const vals = features.values!.subarray(features.indptr[ex], features.indptr[ex + 1]);
      const cands = candidates.indices.subarray(candidates.indptr[i], candidates.indptr[i + 1]);
      const ref = scoreSparseEncoder({ ...m, output: 'scores' }, ids, vals, cands);
      for (let j = 0; j < cands.length; j++) expect(scores[candidates.indptr[i] + j]).toBeCloseTo(ref[j], 4);
    }
    await folded!.close();
  });

  it('is absent without a manifest and refuses folds cut from other data', async () => {
    await writeFile(join(dir, 'plain.onnx'), exportSparseEncoderOnnx(models[1]));
    expect(await FoldedTeacher.loadIfPresent(join(dir, 'plain.onnx'), labels)).toBeNull();
    const other = randomRows(new Rng(99), N, L, 2, false);
    await expect(FoldedTeacher.loadIfPresent(join(dir, 't.onnx'), other)).rejects.toThrow(/folds were cut from other training data/);
  });
});
