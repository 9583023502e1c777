/**
 * The teacher contract (DESIGN.md): inputs `feature_ids` int64 [B,M], `feature_values` float32
 * [B,M], and either `candidates` int64 [B,K] → `scores` float32 [B,K], or no `candidates` →
 * `logits` float32 [B,L]. B, M, K must be dynamic. Anything else is refused with a ContractError
 * that names the mismatch.
 */
import * as ort from 'onnxruntime-node';
import { ContractError } from '../core/util/errors.js';
import { DATA_TYPE_NAMES, decodeModel, type ModelData, type ValueInfo } from '../core/util/onnx-proto.js';
import { NUM_LABELS_KEY, TEMPERATURE_KEY } from './onnx-export.js';

export type TeacherKind = 'scores' | 'logits';

export interface TeacherContract {
  kind: TeacherKind;
  /** L from a static `logits` last dim, or from distilxr's metadata; null when unknown. */
  numLabels: number | null;
  /** Calibration temperature T from metadata (TEMPERATURE_KEY): softmax(scores / T); 1 when absent. */
  temperature: number;
}

/** One graph input or output. `shape` null: rank unknown (no shape information in the model). */
export interface TensorIo {
  name: string;
  /** ONNX Runtime's element type name ('int64', 'float32', ...), or null for a non-tensor value. */
  type: string | null;
  shape: ReadonlyArray<number | string> | null;
}

export interface ModelIo {
  inputs: TensorIo[];
  outputs: TensorIo[];
  /** L declared in the model's metadata_props (distilxr exports), when present. */
  declaredNumLabels: number | null;
  /** Calibration temperature declared in metadata_props; 1 when absent. */
  temperature: number;
}

export interface SessionSettings {
  /** @defaultValue 1 */
  intraOpThreads?: number;
}

const SPEC: Readonly<Record<string, { type: string; dims: string }>> = {
  feature_ids: { type: 'int64', dims: 'B,M' },
  feature_values: { type: 'float32', dims: 'B,M' },
  candidates: { type: 'int64', dims: 'B,K' },
};

/** Reads graph inputs/outputs from model bytes (inputs that are initializers are not inputs). */
export function modelIoFromBytes(bytes: Uint8Array): ModelIo {
  if (bytes.length === 0) throw new ContractError('not a valid ONNX model: empty file');
  let model: ModelData;
  try {
    model = decodeModel(bytes);
  } catch (e) {
    const msg = (e as Error).message;
    const why = msg.startsWith('index out of range') ? `truncated or corrupt protobuf (${msg})` : msg;
    throw new ContractError(`not a valid ONNX model: ${why}`);
  }
  const g = model.graph;
  if (!g) throw new ContractError('not a valid ONNX model: no graph');
  if (!model.irVersion) throw new ContractError('not a valid ONNX model: no ir_version');
  const initializers = new Set<string>();
  for (const t of g.initializer ?? []) if (t.name) initializers.add(t.name);
  const inputs: TensorIo[] = [];
  for (const v of g.input ?? []) if (!initializers.has(v.name)) inputs.push(tensorIoFromProto(v));
  const outputs: TensorIo[] = (g.output ?? []).map(tensorIoFromProto);
  let declaredNumLabels: number | null = null;
  let temperature: number | null = null;
  for (const p of model.metadataProps ?? []) {
    if (p.key === NUM_LABELS_KEY && /^[1-9][0-9]*$/.test(p.value)) declaredNumLabels = Number(p.value);
    if (p.key === TEMPERATURE_KEY) {
      if (temperature !== null) throw new ContractError(`metadata "${TEMPERATURE_KEY}" is given twice`);
      temperature = parseTemperature(p.value);
    }
  }
  return { inputs, outputs, declaredNumLabels, temperature: temperature ?? 1 };
}

// A plain decimal number: Number() alone would also take '', ' 2', '0x10' and 'Infinity'.
const DECIMAL = /^\+?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** The temperature metadata value; distillation divides scores by it, so it must be finite and > 0. */
function parseTemperature(value: string | undefined): number {
  const t = DECIMAL.test(value ?? '') ? Number(value) : NaN;
  if (!(Number.isFinite(t) && t > 0)) {
    throw new ContractError(`metadata "${TEMPERATURE_KEY}" must be a finite positive number, found ${JSON.stringify(value ?? '')}`);
  }
  return t;
}

function tensorIoFromProto(v: ValueInfo): TensorIo {
  const t = v.type?.tensorType;
  if (!t) return { name: v.name ?? '', type: null, shape: null };
  const type = DATA_TYPE_NAMES[t.elemType ?? 0] ?? `type ${t.elemType}`;
  if (!t.shape) return { name: v.name, type, shape: null };
  const shape: (number | string)[] = [];
  for (const d of t.shape.dim ?? []) shape.push(d.dimValue !== undefined ? d.dimValue : (d.dimParam ?? '?'));
  return { name: v.name, type, shape };
}

/**
 * Reads inputs/outputs from a live session. ONNX Runtime reports an unknown shape as [], so a
 * session's rank-0 shape is read as "unknown rank" (the bytes path tells them apart). A session
 * does not expose metadata: no declared L, temperature 1.
 */
export function modelIoFromSession(session: ort.InferenceSession): ModelIo {
  const conv = (m: ort.InferenceSession.ValueMetadata): TensorIo =>
    m.isTensor
      ? { name: m.name, type: m.type, shape: m.shape.length === 0 ? null : m.shape }
      : { name: m.name, type: null, shape: null };
  return { inputs: session.inputMetadata.map(conv), outputs: session.outputMetadata.map(conv), declaredNumLabels: null, temperature: 1 };
}

/** Checks inputs/outputs against the contract; throws ContractError naming the first mismatch. */
export function checkModelIo(io: ModelIo): TeacherContract {
  const byName = new Map<string, TensorIo>();
  for (const inp of io.inputs) {
    if (!(inp.name in SPEC)) throw new ContractError(`unexpected input "${inp.name}"`);
    byName.set(inp.name, inp);
  }
  for (const name of ['feature_ids', 'feature_values']) {
    if (!byName.has(name)) throw new ContractError(`missing input "${name}"`);
  }
  for (const inp of io.inputs) checkInput(inp);
  const withCandidates = byName.has('candidates');

  if (io.outputs.length !== 1) {
    const names = io.outputs.map((o) => `"${o.name}"`).join(', ');
    throw new ContractError(`model must have exactly one output ("scores" or "logits"), found ${io.outputs.length}${names ? `: ${names}` : ''}`);
  }
  const out = io.outputs[0];
  if (out.name !== 'scores' && out.name !== 'logits') {
    throw new ContractError(`output must be "scores" (with candidates) or "logits" (without), found "${out.name}"`);
  }
  if (out.name === 'scores' && !withCandidates) throw new ContractError('output "scores" needs input "candidates"');
  if (out.name === 'logits' && withCandidates) {
    throw new ContractError('output "logits" must not come with input "candidates" (a candidate scorer outputs "scores")');
  }
  const wanted = out.name === 'scores' ? 'B,K' : 'B,L';
  const rankOk = out.shape === null || out.shape.length === 2;
  if (out.type !== 'float32' || !rankOk) {
    throw new ContractError(`${out.name} must be float32 [${wanted}], found ${describe(out)}`);
  }
  // B (and K) follow the inputs, so they cannot be fixed numbers; only L may be static
  const mustBeDynamic = out.name === 'scores' ? [0, 1] : [0];
  for (const i of mustBeDynamic) {
    const dim = out.shape?.[i];
    if (typeof dim === 'number' && dim >= 0) {
      throw new ContractError(`output "${out.name}" dim ${i} (${wanted.split(',')[i]}) must be dynamic, found ${dim}`);
    }
  }
  const { temperature } = io;
  if (out.name === 'scores') return { kind: 'scores', numLabels: io.declaredNumLabels, temperature };
  const last = out.shape === null ? null : out.shape[1];
  const numLabels = typeof last === 'number' && last > 0 ? last : io.declaredNumLabels;
  return { kind: 'logits', numLabels, temperature };
}

function checkInput(inp: TensorIo): void {
  const spec = SPEC[inp.name];
  if (inp.type === null) throw new ContractError(`input "${inp.name}" must be a tensor (${spec.type} [${spec.dims}])`);
  if (inp.type !== spec.type) throw new ContractError(`input "${inp.name}" must be ${spec.type}, found ${inp.type}`);
  if (inp.shape === null) return; // rank unknown: checked when it runs
  if (inp.shape.length !== 2) {
    throw new ContractError(`input "${inp.name}" must have rank 2, found rank ${inp.shape.length}`);
  }
  const dimNames = spec.dims.split(',');
  for (let i = 0; i < 2; i++) {
    const d = inp.shape[i];
    if (typeof d === 'number' && d >= 0) {
      throw new ContractError(`input "${inp.name}" dim ${i} (${dimNames[i]}) must be dynamic, found ${d}`);
    }
  }
}

function describe(t: TensorIo): string {
  const type = t.type ?? 'a non-tensor';
  return t.shape === null ? `${type} of unknown rank` : `${type} [${t.shape.join(',')}]`;
}

export function sessionOptions(settings: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  const threads = settings.intraOpThreads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`intraOpThreads must be >= 1, got ${threads}`);
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
}

/**
 * Checks the bytes' declared inputs/outputs, then loads them in ONNX Runtime (which must accept
 * the graph) and re-checks what the session reports. The caller owns (and releases) the session.
 */
export async function loadCheckedSession(
  bytes: Uint8Array,
  settings: SessionSettings = {},
): Promise<{ session: ort.InferenceSession; contract: TeacherContract }> {
  const contract = checkModelIo(modelIoFromBytes(bytes));
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(settings));
  } catch (e) {
    throw new ContractError(`not a valid ONNX model: ${firstLine((e as Error).message)}`);
  }
  try {
    const fromSession = checkModelIo({ ...modelIoFromSession(session), declaredNumLabels: contract.numLabels, temperature: contract.temperature });
    await trialRun(session, fromSession);
    return { session, contract: fromSession };
  } catch (e) {
    await session.release();
    throw e;
  }
}

/** Checks a model (bytes, or an already created session) against the teacher contract. */
export async function checkTeacherContract(source: ort.InferenceSession | Uint8Array): Promise<TeacherContract> {
  if (!(source instanceof Uint8Array)) return checkModelIo(modelIoFromSession(source));
  const { session, contract } = await loadCheckedSession(source);
  await session.release();
  return contract;
}

/**
 * Runs the model once on a tiny batch (B=2, M=1 feature 0, K=3 candidates 0) and checks that the
 * output has the shape the contract promises and finite values: declared shapes can lie, and a
 * model that fails here would fail every training job that uses it.
 */
async function trialRun(session: ort.InferenceSession, contract: TeacherContract): Promise<void> {
  const B = 2;
  const K = 3;
  const feeds: Record<string, ort.Tensor> = {
    feature_ids: new ort.Tensor('int64', new BigInt64Array(B), [B, 1]),
    feature_values: new ort.Tensor('float32', new Float32Array(B).fill(1), [B, 1]),
  };
  if (contract.kind === 'scores') feeds.candidates = new ort.Tensor('int64', new BigInt64Array(B * K), [B, K]);
  const name = contract.kind;
  let out: ort.Tensor;
  try {
    out = (await session.run(feeds))[name];
  } catch (e) {
    throw new ContractError(`model fails a trial run (B=${B}, M=1${contract.kind === 'scores' ? `, K=${K}` : ''}): ${firstLine((e as Error).message)}`);
  }
  const cols = contract.kind === 'scores' ? K : (contract.numLabels ?? out.dims[1]);
  const dims = out.dims.join(',');
  if (out.dims.length !== 2 || out.dims[0] !== B || out.dims[1] !== cols || cols < 1) {
    const expected = contract.kind === 'scores' ? `[${B},${K}] for ${K} candidates` : `[${B},${contract.numLabels ?? 'L'}]`;
    throw new ContractError(`${name} has shape [${dims}] on a trial run with B=${B}: expected ${expected}`);
  }
  if (out.type !== 'float32') throw new ContractError(`${name} is ${out.type} on a trial run: expected float32`);
  const data = out.data as Float32Array;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) throw new ContractError(`${name} has a non-finite value (${data[i]}) on a trial run with feature 0 = 1`);
  }
}

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}
