import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ContractError } from '../src/core/util/errors.js';
import { Rng } from '../src/core/util/rng.js';
import { checkTeacherContract } from '../src/teacher/contract.js';
import { exportSparseEncoderOnnx, type SparseEncoderModel } from '../src/teacher/onnx-export.js';
import {
  DataType,
  encodeModel,
  floatTensor,
  int64Tensor,
  intAttr,
  node,
  tensorValueInfo,
  type NodeData,
  type TensorData,
  type ValueInfo,
} from '../src/core/util/onnx-proto.js';

const L = 5;

function linearModel(output: 'logits' | 'scores'): SparseEncoderModel {
  const rng = new Rng(3);
  const W1 = new Float32Array(8 * L);
  for (let i = 0; i < W1.length; i++) W1[i] = rng.normal();
  return { inputDim: 8, hiddenDim: L, W1, labelTable: null, numLabels: L, output };
}

/** A loadable graph: the given inputs, and `out` computed from feature_values (float [B,M]). */
function graph(inputs: ValueInfo[], outputs: ValueInfo[], nodes: NodeData[], initializer: TensorData[] = []): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'g', node: nodes, initializer, input: inputs, output: outputs },
  });
}

const ids = tensorValueInfo('feature_ids', DataType.INT64, ['B', 'M']);
const vals = tensorValueInfo('feature_values', DataType.FLOAT, ['B', 'M']);
const cands = tensorValueInfo('candidates', DataType.INT64, ['B', 'K']);
const logitsOut = (name = 'logits', type: number = DataType.FLOAT) => tensorValueInfo(name, type, ['B', 'M']);

async function refusal(bytes: Uint8Array): Promise<string> {
  try {
    await checkTeacherContract(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(ContractError);
    return (e as Error).message;
  }
  throw new Error('model was accepted');
}

async function sessionRefusal(bytes: Uint8Array): Promise<string> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    await checkTeacherContract(session);
  } catch (e) {
    expect(e).toBeInstanceOf(ContractError);
    return (e as Error).message;
  } finally {
    await session.release();
  }
  throw new Error('session was accepted');
}

describe('checkTeacherContract', () => {
  it('accepts a candidate scorer and a full (logits) teacher', async () => {
    expect(await checkTeacherContract(exportSparseEncoderOnnx(linearModel('scores')))).toEqual({ kind: 'scores', numLabels: L, temperature: 1 });
    expect(await checkTeacherContract(exportSparseEncoderOnnx(linearModel('logits')))).toEqual({ kind: 'logits', numLabels: L, temperature: 1 });
    // A session has no metadata: L is known only from the static logits dim.
    for (const output of ['scores', 'logits'] as const) {
      const session = await ort.InferenceSession.create(exportSparseEncoderOnnx(linearModel(output)));
      expect(await checkTeacherContract(session)).toEqual({ kind: output, numLabels: output === 'logits' ? L : null, temperature: 1 });
      await session.release();
    }
  });

  it('accepts a foreign logits model with a symbolic label dim (numLabels unknown)', async () => {
    const bytes = graph([ids, vals], [logitsOut()], [node('Identity', ['feature_values'], ['logits'])]);
    expect(await checkTeacherContract(bytes)).toEqual({ kind: 'logits', numLabels: null, temperature: 1 });
  });

  it('refuses bytes that are not an ONNX model', async () => {
    const rng = new Rng(9);
    const junk = new Uint8Array(300);
    for (let i = 0; i < junk.length; i++) junk[i] = rng.int(256);
    expect(await refusal(junk)).toMatch(/^not a valid ONNX model: /);
    expect(await refusal(new Uint8Array(0))).toMatch(/^not a valid ONNX model: /);
  });

  it('refuses a truncated file', async () => {
    const bytes = exportSparseEncoderOnnx(linearModel('scores'));
    expect(await refusal(bytes.subarray(0, Math.floor(bytes.length / 2)))).toMatch(/^not a valid ONNX model: /);
    expect(await refusal(bytes.subarray(0, bytes.length - 3))).toMatch(/^not a valid ONNX model: /);
  });

  it('refuses a wrong input name, and a missing input', async () => {
    const renamed = tensorValueInfo('feature_vals', DataType.FLOAT, ['B', 'M']);
    const bytes = graph([ids, renamed], [logitsOut()], [node('Identity', ['feature_vals'], ['logits'])]);
    expect(await refusal(bytes)).toBe('unexpected input "feature_vals"');
    expect(await sessionRefusal(bytes)).toBe('unexpected input "feature_vals"');
    const missing = graph([vals], [logitsOut()], [node('Identity', ['feature_values'], ['logits'])]);
    expect(await refusal(missing)).toBe('missing input "feature_ids"');
  });

  it('refuses float feature ids', async () => {
    const floatIds = tensorValueInfo('feature_ids', DataType.FLOAT, ['B', 'M']);
    const bytes = graph([floatIds, vals], [logitsOut()], [node('Add', ['feature_ids', 'feature_values'], ['logits'])]);
    expect(await refusal(bytes)).toBe('input "feature_ids" must be int64, found float32');
    expect(await sessionRefusal(bytes)).toBe('input "feature_ids" must be int64, found float32');
  });

  it('refuses candidates of rank 3', async () => {
    const cands3 = tensorValueInfo('candidates', DataType.INT64, ['B', 'K', 2]);
    const bytes = graph(
      [ids, vals, cands3],
      [tensorValueInfo('scores', DataType.FLOAT, ['B', 'K'])],
      [
        node('Cast', ['candidates'], ['cf'], [intAttr('to', DataType.FLOAT)]),
        node('ReduceSum', ['cf', 'axis2'], ['scores'], [intAttr('keepdims', 0)]),
      ],
      [int64Tensor('axis2', [1], [2])],
    );
    expect(await refusal(bytes)).toBe('input "candidates" must have rank 2, found rank 3');
    expect(await sessionRefusal(bytes)).toBe('input "candidates" must have rank 2, found rank 3');
  });

  it('refuses an extra input', async () => {
    const foo = tensorValueInfo('foo', DataType.FLOAT, ['B', 'M']);
    const bytes = graph([ids, vals, foo], [logitsOut()], [node('Add', ['feature_values', 'foo'], ['logits'])]);
    expect(await refusal(bytes)).toBe('unexpected input "foo"');
  });

  it('refuses a wrong output name', async () => {
    const bytes = graph([ids, vals], [logitsOut('out')], [node('Identity', ['feature_values'], ['out'])]);
    const msg = 'output must be "scores" (with candidates) or "logits" (without), found "out"';
    expect(await refusal(bytes)).toBe(msg);
    expect(await sessionRefusal(bytes)).toBe(msg);
  });

  it('refuses scores without candidates, logits with candidates, and a wrong output type', async () => {
    const scoresNoCands = graph(
      [ids, vals],
      [tensorValueInfo('scores', DataType.FLOAT, ['B', 'M'])],
      [node('Identity', ['feature_values'], ['scores'])],
    );
    expect(await refusal(scoresNoCands)).toBe('output "scores" needs input "candidates"');
    const logitsWithCands = graph([ids, vals, cands], [logitsOut()], [node('Identity', ['feature_values'], ['logits'])]);
    expect(await refusal(logitsWithCands)).toMatch(/^output "logits" must not come with input "candidates"/);
    const intLogits = graph([ids, vals], [logitsOut('logits', DataType.INT64)], [node('Identity', ['feature_ids'], ['logits'])]);
    expect(await refusal(intLogits)).toBe('logits must be float32 [B,L], found int64 [B,M]');
  });

  it('refuses a static batch dimension', async () => {
    const staticIds = tensorValueInfo('feature_ids', DataType.INT64, [1, 'M']);
    const staticVals = tensorValueInfo('feature_values', DataType.FLOAT, [1, 'M']);
    const bytes = graph([staticIds, staticVals], [logitsOut()], [node('Identity', ['feature_values'], ['logits'])]);
    expect(await refusal(bytes)).toBe('input "feature_ids" dim 0 (B) must be dynamic, found 1');
  });

  it('refuses a graph ONNX Runtime cannot load, naming the reason', async () => {
    const bytes = graph([ids, vals], [logitsOut()], [node('NoSuchOp', ['feature_values'], ['logits'])], [floatTensor('w', [1], Float32Array.of(1))]);
    expect(await refusal(bytes)).toMatch(/^not a valid ONNX model: .*NoSuchOp/);
  });
});
