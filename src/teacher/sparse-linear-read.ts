/**
 * The inverse of exportSparseLinearOnnx: the weights of a teacher `distilxr teacher fit` wrote,
 * read back from its ONNX graph (the LabelEncoder's keys label·D + feature and values, the bias
 * initializer). Any other graph gives null: its weights are not ours to read.
 */
import { readFile, stat } from 'node:fs/promises';
import { decodeModel, type TensorData } from '../core/util/onnx-proto.js';
import { NUM_FEATURES_KEY } from './sparse-linear-onnx.js';
import { SparseLinearModel } from './sparse-linear-model.js';

function rawCopy(t: TensorData | undefined): ArrayBuffer | null {
  const raw = t?.rawData;
  return raw ? raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer : null;
}

export function sparseLinearFromOnnx(bytes: Uint8Array): SparseLinearModel | null {
  const model = decodeModel(bytes);
  if (model.graph?.name !== 'sparse_linear') return null;
  const D = Number(model.metadataProps?.find((p) => p.key === NUM_FEATURES_KEY)?.value);
  const encoder = model.graph.node.find((n) => n.opType === 'LabelEncoder');
  const attr = (name: string): TensorData | undefined => encoder?.attribute?.find((a) => a.name === name)?.t;
  const keysBuf = rawCopy(attr('keys_tensor'));
  const valuesBuf = rawCopy(attr('values_tensor'));
  const biasBuf = rawCopy(model.graph.initializer?.find((t) => t.name === 'bias'));
  if (!Number.isInteger(D) || D < 1 || !keysBuf || !valuesBuf || !biasBuf) return null;
  const keys = new BigInt64Array(keysBuf);
  const values = new Float32Array(valuesBuf);
  const bias = new Float32Array(biasBuf);
  const L = bias.length;
  if (keys.length !== values.length) return null;
  const indptr = new Int32Array(L + 1);
  const indices = new Int32Array(keys.length);
  const bigD = BigInt(D);
  for (let p = 0; p < keys.length; p++) {
    const y = Number(keys[p] / bigD); // written label-major, so y never decreases
    if (y < 0 || y >= L || (p > 0 && y < Number(keys[p - 1] / bigD))) return null;
    indptr[y + 1]++;
    indices[p] = Number(keys[p] % bigD);
  }
  for (let y = 0; y < L; y++) indptr[y + 1] += indptr[y];
  return new SparseLinearModel(D, L, { rows: L, cols: D, indptr, indices, values }, bias);
}

/** Which file, as it is now: a file written again reads again. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

const sameFile = (a: FileIdentity, b: FileIdentity): boolean => a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs;

/**
 * The last teacher read, kept: a job reads one teacher for its factors, its training pairs and its
 * test metrics, and each auto trial the fold-0 model again (debtags: 0.4 s of parsing each time).
 */
let last: { file: FileIdentity; model: SparseLinearModel | null } | null = null;

/** The weights of the teacher at `path`, or null when it is not a sparse linear graph; the last file read is not read again. */
export async function readSparseLinearTeacher(path: string): Promise<SparseLinearModel | null> {
  const { size, mtimeMs } = await stat(path);
  const file = { path, size, mtimeMs };
  if (last && sameFile(last.file, file)) return last.model;
  const model = sparseLinearFromOnnx(new Uint8Array(await readFile(path)));
  last = { file, model };
  return model;
}

/** Takes `model` as the one read from `file` (another thread's, as its auto trials' factors bring it). */
export function rememberSparseLinearTeacher(file: FileIdentity, model: SparseLinearModel): void {
  last = { file, model };
}
