/**
 * ONNX export of a SparseLinearModel as a candidate scorer under the teacher contract
 * (`feature_ids`, `feature_values`, `candidates` → `scores`). W is sparse and far too large to
 * store densely (apt-files: 57k labels × 179k features), so its entries live in an
 * ai.onnx.ml LabelEncoder keyed by label·D + feature, a hash map inside ONNX Runtime:
 *   scores[b,k] = Σ_m W[cand[b,k], ids[b,m]] · values[b,m] / ‖values[b]‖ + bias[cand[b,k]]
 */
import { NUM_LABELS_KEY, OPSET, IR_VERSION } from './onnx-export.js';
import { AttributeType, DataType, encodeModel, floatTensor, int64Tensor, intAttr, node, tensorValueInfo, type TensorData } from '../core/util/onnx-proto.js';
import type { SparseLinearModel } from './sparse-linear-model.js';

export const ML_OPSET = 4;
/** metadata_props key holding D: a teacher fed another feature space would score nonsense. */
export const NUM_FEATURES_KEY = 'distilxr.num_features';

const NORM_EPS = 1e-30;

function int64RawTensor(name: string, data: BigInt64Array): TensorData {
  return { name, dims: [data.length], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

export function exportSparseLinearOnnx(m: SparseLinearModel, metadata: { key: string; value: string }[] = []): Uint8Array {
  const D = m.numFeatures;
  const W = m.weights;
  const n = W.indptr[W.rows];
  const keys = new BigInt64Array(n);
  const values = new Float32Array(n);
  for (let y = 0; y < W.rows; y++) {
    for (let p = W.indptr[y]; p < W.indptr[y + 1]; p++) {
      keys[p] = BigInt(y) * BigInt(D) + BigInt(W.indices[p]);
      values[p] = W.values![p];
    }
  }
  const nodes = [
    // 1 / ‖values‖ per row: [B,1]
    node('Mul', ['feature_values', 'feature_values'], ['v_sq']),
    node('ReduceSum', ['v_sq', 'axis_1'], ['v_ss'], [intAttr('keepdims', 1)]),
    node('Add', ['v_ss', 'norm_eps'], ['v_ss_eps']),
    node('Sqrt', ['v_ss_eps'], ['v_norm']),
    node('Div', ['feature_values', 'v_norm'], ['x']), // [B,M]
    // keys[b,k,m] = cand[b,k]·D + ids[b,m]
    node('Unsqueeze', ['candidates', 'axis_2'], ['cand_3d']), // [B,K,1]
    node('Mul', ['cand_3d', 'num_features'], ['cand_base']),
    node('Unsqueeze', ['feature_ids', 'axis_1'], ['ids_3d']), // [B,1,M]
    node('Add', ['cand_base', 'ids_3d'], ['keys']), // [B,K,M]
    {
      ...node('LabelEncoder', ['keys'], ['w']), // [B,K,M], 0 where W has no entry
      domain: 'ai.onnx.ml',
      attribute: [
        { name: 'keys_tensor', type: AttributeType.TENSOR, t: int64RawTensor('keys', keys) },
        { name: 'values_tensor', type: AttributeType.TENSOR, t: floatTensor('values', [n], values) },
        { name: 'default_tensor', type: AttributeType.TENSOR, t: floatTensor('default', [1], Float32Array.of(0)) },
      ],
    },
    node('Unsqueeze', ['x', 'axis_1'], ['x_3d']), // [B,1,M]
    node('Mul', ['w', 'x_3d'], ['wx']),
    node('ReduceSum', ['wx', 'axis_2'], ['dot'], [intAttr('keepdims', 0)]), // [B,K]
    node('Gather', ['bias', 'candidates'], ['cand_bias'], [intAttr('axis', 0)]),
    node('Add', ['dot', 'cand_bias'], ['scores']),
  ];
  return encodeModel({
    irVersion: IR_VERSION,
    opsetImport: [
      { domain: '', version: OPSET },
      { domain: 'ai.onnx.ml', version: ML_OPSET },
    ],
    producerName: 'distilxr',
    graph: {
      name: 'sparse_linear',
      node: nodes,
      initializer: [
        int64Tensor('axis_1', [1], [1]),
        int64Tensor('axis_2', [1], [2]),
        int64Tensor('num_features', [], [D]),
        floatTensor('norm_eps', [], Float32Array.of(NORM_EPS)),
        floatTensor('bias', [m.numLabels], m.bias),
      ],
      input: [
        tensorValueInfo('feature_ids', DataType.INT64, ['B', 'M']),
        tensorValueInfo('feature_values', DataType.FLOAT, ['B', 'M']),
        tensorValueInfo('candidates', DataType.INT64, ['B', 'K']),
      ],
      output: [tensorValueInfo('scores', DataType.FLOAT, ['B', 'K'])],
    },
    metadataProps: [{ key: NUM_LABELS_KEY, value: String(m.numLabels) }, { key: NUM_FEATURES_KEY, value: String(D) }, ...metadata],
  });
}
