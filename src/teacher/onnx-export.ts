/**
 * ONNX export of the sparse-encoder model family (linear teachers and students), under the
 * teacher contract, plus the plain JS reference that the exported graph must agree with.
 */
import {
  DataType,
  encodeModel,
  encodeModelParts,
  floatTensor,
  int64Tensor,
  intAttr,
  node,
  setMetadataProps,
  tensorValueInfo,
  type ModelData,
  type NodeData,
  type TensorData,
  type ValueInfo,
} from '../core/util/onnx-proto.js';

export interface SparseEncoderModel {
  inputDim: number; // D
  hiddenDim: number; // H
  W1: Float32Array; // [D, H] row-major
  b1?: Float32Array; // [H]
  /** @defaultValue 'none' */
  activation?: 'relu' | 'none';
  /** L2-normalise the encoding h: h / sqrt(|h|² + NORMALIZE_EPS), so a zero vector stays zero. */
  normalize?: boolean;
  labelTable: Float32Array | null; // [L, H]; null: the encoding itself is the logits (H = L)
  numLabels: number; // L
  labelBias?: Float32Array; // [L]
  /** Scores are multiplied by this (student: 1/tau). @defaultValue 1 */
  scale?: number;
  /** 'logits': output `logits` [B,L]; 'scores': input `candidates` [B,K] → output `scores` [B,K]. */
  output: 'logits' | 'scores';
  /**
   * Calibration temperature (teacher/calibration.ts), written as metadata under TEMPERATURE_KEY
   * when given. Not applied in the graph: the outputs stay the raw scores, and a consumer divides
   * by it (distillation does, unless told not to).
   */
  temperature?: number;
}

export const NORMALIZE_EPS = 1e-12;
export const OPSET = 17;
export const IR_VERSION = 8;
/** metadata_props key holding L, read back by the contract check (scores models hide L otherwise). */
export const NUM_LABELS_KEY = 'distilxr.num_labels';
/** metadata_props key holding the teacher's calibration temperature T (softmax(scores / T)); absent = 1. */
export const TEMPERATURE_KEY = 'distilxr.temperature';

/** Throws RangeError when the arrays do not match the declared dimensions. */
export function validateSparseEncoder(m: SparseEncoderModel): void {
  const { inputDim: D, hiddenDim: H, numLabels: L } = m;
  for (const [name, v] of [['inputDim', D], ['hiddenDim', H], ['numLabels', L]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  }
  if (m.W1.length !== D * H) throw new RangeError(`W1 must have D*H = ${D * H} values, got ${m.W1.length}`);
  if (m.b1 && m.b1.length !== H) throw new RangeError(`b1 must have H = ${H} values, got ${m.b1.length}`);
  if (m.labelTable === null) {
    if (H !== L) throw new RangeError(`without a label table hiddenDim (${H}) must equal numLabels (${L})`);
  } else if (m.labelTable.length !== L * H) {
    throw new RangeError(`labelTable must have L*H = ${L * H} values, got ${m.labelTable.length}`);
  }
  if (m.labelBias && m.labelBias.length !== L) {
    throw new RangeError(`labelBias must have L = ${L} values, got ${m.labelBias.length}`);
  }
  const scale = m.scale ?? 1;
  if (!Number.isFinite(scale)) throw new RangeError(`scale must be finite, got ${scale}`);
  if (m.temperature !== undefined) checkTemperature(m.temperature);
}

function checkTemperature(t: number): void {
  if (!(Number.isFinite(t) && t > 0)) throw new RangeError(`temperature must be a finite positive number, got ${t}`);
}

/** Writes the model as an ONNX file (opset 17, IR 8, raw float initializers, dynamic B, M, K). */
export function exportSparseEncoderOnnx(m: SparseEncoderModel): Uint8Array {
  return encodeModel(sparseEncoderModel(m));
}

/** exportSparseEncoderOnnx as parts to write one after the other, W1 written from where it is (encodeModelParts). */
export function exportSparseEncoderOnnxParts(m: SparseEncoderModel): Uint8Array[] {
  return encodeModelParts(sparseEncoderModel(m));
}

function sparseEncoderModel(m: SparseEncoderModel): ModelData {
  validateSparseEncoder(m);
  const { inputDim: D, hiddenDim: H, numLabels: L } = m;
  const scale = m.scale ?? 1;
  const nodes: NodeData[] = [];
  const init: TensorData[] = [
    floatTensor('W1', [D, H], m.W1),
    int64Tensor('axis_1', [1], [1]),
  ];
  const inputs: ValueInfo[] = [
    tensorValueInfo('feature_ids', DataType.INT64, ['B', 'M']),
    tensorValueInfo('feature_values', DataType.FLOAT, ['B', 'M']),
  ];

  // Encoder: h[b] = Σ_m values[b,m] · W1[ids[b,m]]  as  [B,1,M] × [B,M,H].
  nodes.push(node('Gather', ['W1', 'feature_ids'], ['emb'], [intAttr('axis', 0)])); // [B,M,H]
  nodes.push(node('Unsqueeze', ['feature_values', 'axis_1'], ['values_3d'])); // [B,1,M]
  nodes.push(node('MatMul', ['values_3d', 'emb'], ['h_3d'])); // [B,1,H]
  nodes.push(node('Squeeze', ['h_3d', 'axis_1'], ['h_sum'])); // [B,H]
  let h = 'h_sum';
  if (m.b1) {
    init.push(floatTensor('b1', [H], m.b1));
    nodes.push(node('Add', [h, 'b1'], ['h_bias']));
    h = 'h_bias';
  }
  if ((m.activation ?? 'none') === 'relu') {
    nodes.push(node('Relu', [h], ['h_relu']));
    h = 'h_relu';
  }
  if (m.normalize) {
    init.push(floatTensor('norm_eps', [], Float32Array.of(NORMALIZE_EPS)));
    nodes.push(node('Mul', [h, h], ['h_sq']));
    nodes.push(node('ReduceSum', ['h_sq', 'axis_1'], ['h_ss'], [intAttr('keepdims', 1)])); // [B,1]
    nodes.push(node('Add', ['h_ss', 'norm_eps'], ['h_ss_eps']));
    nodes.push(node('Sqrt', ['h_ss_eps'], ['h_norm']));
    nodes.push(node('Div', [h, 'h_norm'], ['h_unit']));
    h = 'h_unit';
  }

  let out: string;
  const outputs: ValueInfo[] = [];
  if (m.output === 'logits') {
    out = logitsHead(m, h, nodes, init);
    outputs.push(tensorValueInfo('logits', DataType.FLOAT, ['B', L]));
  } else {
    inputs.push(tensorValueInfo('candidates', DataType.INT64, ['B', 'K']));
    out = scoresHead(m, h, nodes, init);
    outputs.push(tensorValueInfo('scores', DataType.FLOAT, ['B', 'K']));
  }
  if (scale !== 1) {
    init.push(floatTensor('scale', [], Float32Array.of(scale)));
    nodes.push(node('Mul', [out, 'scale'], ['scaled']));
  }
  nodes[nodes.length - 1].output[0] = m.output; // the last node writes the graph output

  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: 'distilxr',
    graph: { name: 'sparse_encoder', node: nodes, initializer: init, input: inputs, output: outputs },
    metadataProps: [
      { key: NUM_LABELS_KEY, value: String(L) },
      ...(m.temperature !== undefined ? [{ key: TEMPERATURE_KEY, value: String(m.temperature) }] : []),
    ],
  };
}

/**
 * The model `bytes` (any ONNX model) with its calibration temperature set to `temperature`
 * (added, or replacing an earlier one); every other byte of the model is kept as it was.
 */
export function withTemperature(bytes: Uint8Array, temperature: number): Uint8Array {
  checkTemperature(temperature);
  return setMetadataProps(bytes, { [TEMPERATURE_KEY]: String(temperature) });
}

/** Appends the [B,H] → [B,L] head (before scale); returns the name of its output. */
function logitsHead(m: SparseEncoderModel, h: string, nodes: NodeData[], init: TensorData[]): string {
  const { hiddenDim: H, numLabels: L } = m;
  if (m.labelTable === null) {
    if (!m.labelBias) return h;
    init.push(floatTensor('label_bias', [L], m.labelBias));
    nodes.push(node('Add', [h, 'label_bias'], ['logits_bias']));
    return 'logits_bias';
  }
  init.push(floatTensor('label_table', [L, H], m.labelTable));
  const gemmInputs = [h, 'label_table'];
  if (m.labelBias) {
    init.push(floatTensor('label_bias', [L], m.labelBias));
    gemmInputs.push('label_bias');
  }
  nodes.push(node('Gemm', gemmInputs, ['logits_raw'], [intAttr('transB', 1)])); // h · Vᵀ + bias
  return 'logits_raw';
}

/** Appends the candidate-scoring head (before scale); returns the name of its [B,K] output. */
function scoresHead(m: SparseEncoderModel, h: string, nodes: NodeData[], init: TensorData[]): string {
  const { hiddenDim: H, numLabels: L } = m;
  let s: string;
  if (m.labelTable === null) {
    nodes.push(node('GatherElements', [h, 'candidates'], ['scores_raw'], [intAttr('axis', 1)])); // [B,K]
    s = 'scores_raw';
  } else {
    init.push(floatTensor('label_table', [L, H], m.labelTable), int64Tensor('axis_2', [1], [2]));
    nodes.push(node('Gather', ['label_table', 'candidates'], ['cand_emb'], [intAttr('axis', 0)])); // [B,K,H]
    nodes.push(node('Unsqueeze', [h, 'axis_2'], ['h_col'])); // [B,H,1]
    nodes.push(node('MatMul', ['cand_emb', 'h_col'], ['scores_3d'])); // [B,K,1]
    nodes.push(node('Squeeze', ['scores_3d', 'axis_2'], ['scores_raw'])); // [B,K]
    s = 'scores_raw';
  }
  if (m.labelBias) {
    init.push(floatTensor('label_bias', [L], m.labelBias));
    nodes.push(node('Gather', ['label_bias', 'candidates'], ['cand_bias'], [intAttr('axis', 0)]));
    nodes.push(node('Add', [s, 'cand_bias'], ['scores_bias']));
    s = 'scores_bias';
  }
  return s;
}

/**
 * Plain JS reference for one example: the encoder on (featureIds, featureValues), then the scores
 * of `candidates`, or all L logits when `candidates` is null. Accumulates in float64.
 */
export function scoreSparseEncoder(
  m: SparseEncoderModel,
  featureIds: ArrayLike<number>,
  featureValues: ArrayLike<number>,
  candidates: ArrayLike<number> | null,
): Float32Array {
  const { inputDim: D, hiddenDim: H, numLabels: L, W1 } = m;
  const h = new Float64Array(H);
  for (let p = 0; p < featureIds.length; p++) {
    const f = featureIds[p];
    if (f < 0 || f >= D) throw new RangeError(`feature id ${f} out of range [0, ${D})`);
    const v = featureValues[p];
    const row = f * H;
    for (let j = 0; j < H; j++) h[j] += v * W1[row + j];
  }
  if (m.b1) for (let j = 0; j < H; j++) h[j] += m.b1[j];
  if ((m.activation ?? 'none') === 'relu') for (let j = 0; j < H; j++) if (h[j] < 0) h[j] = 0;
  if (m.normalize) {
    let ss = 0;
    for (let j = 0; j < H; j++) ss += h[j] * h[j];
    const inv = 1 / Math.sqrt(ss + NORMALIZE_EPS);
    for (let j = 0; j < H; j++) h[j] *= inv;
  }
  const scale = m.scale ?? 1;
  const n = candidates === null ? L : candidates.length;
  const out = new Float32Array(n);
  for (let k = 0; k < n; k++) {
    const y = candidates === null ? k : candidates[k];
    if (y < 0 || y >= L) throw new RangeError(`label ${y} out of range [0, ${L})`);
    let s: number;
    if (m.labelTable === null) {
      s = h[y];
    } else {
      s = 0;
      const row = y * H;
      for (let j = 0; j < H; j++) s += h[j] * m.labelTable[row + j];
    }
    if (m.labelBias) s += m.labelBias[y];
    out[k] = s * scale;
  }
  return out;
}
