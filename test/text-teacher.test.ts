/**
 * Text-teacher bundles against the Python reference (tokenizers + ONNX Runtime in Python, written
 * by examples/teachers/reference_scores.py): the same token ids after truncation and the same
 * scores, through batching by length, for each kind; and each refusal at load.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { ContractError } from '../src/core/util/errors.js';
import { inspectTeacher } from '../src/pipeline/inspect-teacher.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { DataType, encodeModel, intAttr, node, tensorValueInfo } from '../src/core/util/onnx-proto.js';
import { readBundleDir } from '../src/teacher/text/text-bundle.js';
import { TextTeacher } from '../src/teacher/text/text-teacher.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/text-teachers/', import.meta.url));
const KINDS = ['classifier', 'cross-encoder', 'bi-encoder'] as const;

interface Reference {
  texts: string[];
  pairs: string[] | null;
  ids: number[][];
  type_ids: number[][];
  outputs: number[][];
  labels: string[];
  label_outputs?: number[][];
}

async function reference(kind: string): Promise<Reference> {
  return JSON.parse(await readFile(`${FIXTURES}reference-${kind}.json`, 'utf8')) as Reference;
}

/** One candidate row per text: `labels[i]` for row i. */
function rowsOf(labels: number[][]): Csr {
  const indptr = new Int32Array(labels.length + 1);
  labels.forEach((l, i) => {
    indptr[i + 1] = indptr[i] + l.length;
  });
  return { rows: labels.length, cols: 1 + Math.max(...labels.flat()), indptr, indices: Int32Array.from(labels.flat()), values: null };
}

const iota = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describe('text teachers agree with the Python reference', () => {
  it.each(KINDS)('%s: token ids after truncation match the tokenizers library', async (kind) => {
    const t = await TextTeacher.load(FIXTURES + kind);
    try {
      const ref = await reference(kind);
      expect(ref.ids.some((ids) => ids.length === t.manifest.max_length)).toBe(true); // truncation is exercised
      ref.texts.forEach((text, i) => {
        const enc = t.tokenizer.encode(text, ref.pairs?.[i] ?? null, t.manifest.max_length);
        expect(Array.from(enc.ids)).toEqual(ref.ids[i]);
        expect(Array.from(enc.typeIds)).toEqual(ref.type_ids[i]);
      });
    } finally {
      await t.close();
    }
  });

  it('classifier: logits at the candidates match, whatever the batch size', async () => {
    const t = await TextTeacher.load(FIXTURES + 'classifier');
    try {
      const ref = await reference('classifier');
      const names = t.labelNames!;
      const binding = t.bindLabels(names);
      const cols = [[0, 5, 17], [3], [names.length - 1, 1], [2, 4], [7], [9, 8]];
      const cands = rowsOf(cols);
      for (const batchSize of [1, 4, 32]) {
        const got = await t.scoreTexts(ref.texts, iota(ref.texts.length), cands, binding, { batchSize });
        let p = 0;
        cols.forEach((row, i) => {
          for (const y of row) expect(got[p++]).toBeCloseTo(ref.outputs[i][y], 4);
        });
      }
    } finally {
      await t.close();
    }
  });

  it('classifier: a dataset in another label order is mapped by name', async () => {
    const t = await TextTeacher.load(FIXTURES + 'classifier');
    try {
      const ref = await reference('classifier');
      const names = t.labelNames!;
      const reversed = [...names].reverse();
      const got = await t.scoreTexts(ref.texts, Int32Array.of(0), rowsOf([[0]]), t.bindLabels(reversed));
      expect(got[0]).toBeCloseTo(ref.outputs[0][names.length - 1], 4);
    } finally {
      await t.close();
    }
  });

  it('cross-encoder: pair scores match', async () => {
    const t = await TextTeacher.load(FIXTURES + 'cross-encoder');
    try {
      const ref = await reference('cross-encoder');
      const names = t.labelNames!;
      const binding = t.bindLabels(names);
      // the reference paired row i with label ref.labels[i], its text by the default rule
      const cols = ref.labels.map((l) => [names.indexOf(l)]);
      const got = await t.scoreTexts(ref.texts, iota(ref.texts.length), rowsOf(cols), binding, { batchSize: 4 });
      ref.outputs.forEach((o, i) => {
        expect(got[i]).toBeCloseTo(o[0], 4);
      });
    } finally {
      await t.close();
    }
  });

  it('bi-encoder: scores are scale × query·label embedding, and label embeddings are computed once', async () => {
    const t = await TextTeacher.load(FIXTURES + 'bi-encoder');
    try {
      const ref = await reference('bi-encoder');
      const names = t.labelNames!;
      const binding = t.bindLabels(names);
      const cols = ref.labels.map((l) => [names.indexOf(l)]);
      const got = await t.scoreTexts(ref.texts, iota(ref.texts.length), rowsOf(cols), binding, { batchSize: 4 });
      const scale = t.manifest.score_scale ?? 1;
      ref.outputs.forEach((q, i) => {
        const v = ref.label_outputs![i];
        expect(got[i]).toBeCloseTo(scale * q.reduce((s, x, h) => s + x * v[h], 0), 3);
      });
      const embedded = t.cachedLabelEmbeddings;
      expect(embedded).toBe(names.length); // every label of the binding, once
      await t.scoreTexts(ref.texts, iota(ref.texts.length), rowsOf(cols), binding);
      expect(t.cachedLabelEmbeddings).toBe(embedded);
    } finally {
      await t.close();
    }
  });
});

describe('text-teacher bundles that do not meet their manifest are refused', () => {
  async function filesOf(kind: string): Promise<Map<string, Uint8Array>> {
    return new Map(await readBundleDir(FIXTURES + kind));
  }
  const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  async function manifestWith(kind: string, change: (m: Record<string, unknown>) => void): Promise<Map<string, Uint8Array>> {
    const files = await filesOf(kind);
    const m = JSON.parse(new TextDecoder().decode(files.get('teacher.json'))) as Record<string, unknown>;
    change(m);
    files.set('teacher.json', json(m));
    return files;
  }
  async function refusal(files: Map<string, Uint8Array>): Promise<string> {
    const err = await TextTeacher.fromFiles(files, 'bundle').then(
      async (t) => {
        await t.close();
        return null;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ContractError);
    return (err as Error).message;
  }
  /** A model that loads in ONNX Runtime: output = Cast(input_ids) with the given wiring. */
  function model(inputs: [string, number][], output: string, outType: number = DataType.FLOAT): Uint8Array {
    const vi = inputs.map(([n, t]) => tensorValueInfo(n, t, ['B', 'S']));
    return encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: { name: 'g', node: [node('Cast', [inputs[0][0]], [output], [intAttr('to', outType)])], input: vi, output: [tensorValueInfo(output, outType, ['B', 'S'])], initializer: [] },
    });
  }

  it('no tokenizer.json', async () => {
    const files = await filesOf('classifier');
    files.delete('tokenizer.json');
    expect(await refusal(files)).toBe('bundle: missing tokenizer.json');
  });

  it('a tokenizer.json that is not a tokenizer', async () => {
    const files = await filesOf('classifier');
    files.set('tokenizer.json', json({ version: '1.0' }));
    expect(await refusal(files)).toContain('bundle/tokenizer.json: not a Hugging Face tokenizer.json');
  });

  it('a tokenizer the library cannot build', async () => {
    const files = await filesOf('classifier');
    const tok = JSON.parse(new TextDecoder().decode(files.get('tokenizer.json'))) as Record<string, unknown>;
    tok.normalizer = { type: 'NoSuchNormalizer' };
    files.set('tokenizer.json', json(tok));
    expect(await refusal(files)).toBe('bundle/tokenizer.json: the tokenizer does not load: Unknown Normalizer type: NoSuchNormalizer');
  });

  it('an unknown kind, and a manifest field of the wrong type', async () => {
    expect(await refusal(await manifestWith('classifier', (m) => (m.kind = 'reranker')))).toMatch(/^bundle\/teacher\.json: \/kind /);
    expect(await refusal(await manifestWith('classifier', (m) => (m.max_length = '32')))).toMatch(/^bundle\/teacher\.json: \/max_length /);
  });

  it('a classifier without label names', async () => {
    expect(await refusal(await manifestWith('classifier', (m) => delete m.labels))).toContain('/labels is required for a classifier');
  });

  it('input names that differ from the manifest', async () => {
    const msg = await refusal(await manifestWith('classifier', (m) => (m.inputs = ['input_ids', 'attention_mask'])));
    expect(msg).toBe("bundle/model.onnx: the model's inputs are [attention_mask, input_ids, token_type_ids], the manifest declares [attention_mask, input_ids]");
  });

  it('an output the model does not have', async () => {
    expect(await refusal(await manifestWith('classifier', (m) => (m.output = 'scores')))).toBe('bundle/model.onnx: no output "scores" (the manifest\'s "output"); the model has "logits"');
  });

  it('a label count that differs from the logits', async () => {
    const msg = await refusal(await manifestWith('classifier', (m) => (m.labels = (m.labels as string[]).slice(1))));
    expect(msg).toMatch(/^bundle\/model\.onnx: output "logits" has 247 columns, the manifest lists 246 labels/);
  });

  it('an input of the wrong dtype', async () => {
    const files = await manifestWith('cross-encoder', (m) => (m.inputs = ['input_ids', 'attention_mask']));
    files.set('model.onnx', model([['input_ids', DataType.INT64], ['attention_mask', DataType.FLOAT]], 'logits'));
    expect(await refusal(files)).toBe('bundle/model.onnx: input "attention_mask" must be int64, found float32');
  });

  it('an output of the wrong dtype', async () => {
    const files = await manifestWith('bi-encoder', (m) => (m.inputs = ['input_ids', 'attention_mask']));
    files.set('model.onnx', model([['input_ids', DataType.INT64], ['attention_mask', DataType.INT64]], 'embeddings', DataType.INT64));
    expect(await refusal(files)).toBe('bundle/model.onnx: output "embeddings" must be float32, found int64');
  });

  it('a cross-encoder whose output is not one score per pair', async () => {
    const files = await manifestWith('cross-encoder', (m) => (m.inputs = ['input_ids', 'attention_mask']));
    files.set('model.onnx', model([['input_ids', DataType.INT64], ['attention_mask', DataType.INT64]], 'logits'));
    expect(await refusal(files)).toMatch(/^bundle\/model\.onnx: a cross-encoder must output one score per pair, \[2,1\] or \[2\] here; found \[2,\d+\]/);
  });

  it('dataset labels the teacher does not know', async () => {
    const t = await TextTeacher.load(FIXTURES + 'classifier');
    try {
      expect(() => t.bindLabels([t.labelNames![0], 'made::up', 'also::unknown'])).toThrow('2 of the dataset\'s 3 labels are not in the teacher\'s manifest labels (247): "made::up", "also::unknown"');
    } finally {
      await t.close();
    }
  });
});

describe('inspectTeacher', () => {
  it('reports a sparse ONNX teacher (the existing contract) with a test score', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-inspect-'));
    try {
      const W1 = Float32Array.from({ length: 10 * 4 }, (_, i) => Math.sin(i));
      const table = Float32Array.from({ length: 7 * 4 }, (_, i) => Math.cos(i));
      const path = join(dir, 't.onnx');
      await writeFile(path, exportSparseEncoderOnnx({ inputDim: 10, hiddenDim: 4, W1, labelTable: table, numLabels: 7, output: 'logits' }));
      const r = await inspectTeacher(path);
      expect(r).toMatchObject({ family: 'onnx', kind: 'logits', labelCount: 7 });
      expect(r.inputs.map((i) => i.name)).toEqual(['feature_ids', 'feature_values']);
      expect(r.testScore.top).toHaveLength(5);
      // feature 0 = 1: the encoder's row 0 against each label's row
      const q = [0, 1, 2, 3].map((h) => W1[h]);
      const norm = Math.hypot(...q);
      const best = Array.from({ length: 7 }, (_, y) => ({ y, s: q.reduce((s, x, h) => s + (x / norm) * table[y * 4 + h], 0) })).sort((a, b) => b.s - a.s)[0];
      expect(r.testScore.top[0].label).toBe(String(best.y));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
