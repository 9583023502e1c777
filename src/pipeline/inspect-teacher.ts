/**
 * What a teacher is, for `distilxr teacher inspect`: kind, inputs, outputs, label count and a
 * test score, for a sparse ONNX teacher (a file) or a text-teacher bundle (a folder).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Csr } from '../core/data/csr.js';
import { modelIoFromBytes, type TensorIo } from '../teacher/contract.js';
import { OnnxTeacher } from '../teacher/onnx-teacher.js';
import { isBundleDir, MODEL_FILE } from '../teacher/text/text-bundle.js';
import { TextTeacher } from '../teacher/text/text-teacher.js';

export interface TeacherInspection {
  path: string;
  family: 'onnx' | 'text';
  /** 'scores' | 'logits' (sparse ONNX) or the bundle's kind. */
  kind: string;
  inputs: TensorIo[];
  outputs: TensorIo[];
  /** Labels it scores: manifest labels, or the declared L of a sparse teacher; null when unknown. */
  labelCount: number | null;
  maxLength?: number;
  temperature: number;
  /** The scores of a test input: a text (bundles) or feature 0 = 1 (sparse), top labels first. */
  testScore: { input: string; top: { label: string; score: number }[] };
}

/** Loads (so every load-time check runs), scores one input, and reports. */
export async function inspectTeacher(path: string, testText = 'a small library for parsing text files', top = 5): Promise<TeacherInspection> {
  if (await isBundleDir(path)) {
    const t = await TextTeacher.load(path);
    try {
      const io = modelIoFromBytes(await readFile(join(path, MODEL_FILE)));
      const score = await t.trialScore(testText, undefined, top);
      return {
        path,
        family: 'text',
        kind: t.kind,
        inputs: io.inputs,
        outputs: io.outputs,
        labelCount: t.labelNames?.length ?? null,
        maxLength: t.manifest.max_length,
        temperature: t.temperature,
        testScore: { input: testText, top: score.top },
      };
    } finally {
      await t.close();
    }
  }
  const bytes = await readFile(path);
  const io = modelIoFromBytes(bytes);
  const t = await OnnxTeacher.load(bytes);
  try {
    const L = t.numLabels ?? 1;
    const features: Csr = { rows: 1, cols: 1, indptr: Int32Array.of(0, 1), indices: Int32Array.of(0), values: Float32Array.of(1) };
    const all = Int32Array.from({ length: L }, (_, y) => y);
    const cands: Csr = { rows: 1, cols: L, indptr: Int32Array.of(0, L), indices: all, values: null };
    const scores = await t.scoreCandidates(features, Int32Array.of(0), cands);
    const order = Array.from(all).sort((a, b) => scores[b] - scores[a]).slice(0, top);
    return {
      path,
      family: 'onnx',
      kind: t.kind,
      inputs: io.inputs,
      outputs: io.outputs,
      labelCount: t.numLabels,
      temperature: t.temperature,
      testScore: { input: 'feature 0 = 1', top: order.map((y) => ({ label: String(y), score: scores[y] })) },
    };
  } finally {
    await t.close();
  }
}
