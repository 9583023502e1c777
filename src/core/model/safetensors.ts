import { DataFormatError } from '../util/errors.js';

/**
 * safetensors (huggingface/safetensors format spec): u64 little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}}, then the raw little-endian tensor bytes.
 * Only F32, I32 and U8 are needed here, so the ~80 lines are written out rather than pulling a
 * dependency (the npm safetensors packages target browsers and model hubs).
 */
export type TensorData = Float32Array | Int32Array | Uint8Array;

export interface Tensor {
  shape: number[];
  data: TensorData;
}

const DTYPES: Record<string, { bytes: number; make: (n: number) => TensorData }> = {
  F32: { bytes: 4, make: (n) => new Float32Array(n) },
  I32: { bytes: 4, make: (n) => new Int32Array(n) },
  U8: { bytes: 1, make: (n) => new Uint8Array(n) },
};

function dtypeOf(d: TensorData): string {
  return d instanceof Float32Array ? 'F32' : d instanceof Int32Array ? 'I32' : 'U8';
}

/**
 * The file as parts to write one after the other: the length and header, then each tensor's
 * bytes as a view of its data, not a copy (the data must not change until they are written).
 */
export function encodeSafetensorsParts(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (expected !== t.data.length) throw new Error(`tensor ${name}: shape ${t.shape} holds ${expected} values, data has ${t.data.length}`);
    header[name] = { dtype: dtypeOf(t.data), shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keep the data 8-byte aligned
  const headerBytes = Buffer.from(json, 'utf8');
  const head = Buffer.alloc(8 + headerBytes.length);
  head.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(head, 8);
  return [head, ...names.map((name) => {
    const d = tensors[name].data;
    return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  })];
}

export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new DataFormatError(source, 1, why);
  };
  if (bytes.length < 8) fail('file shorter than its 8-byte header length');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.length - 8) fail(`header length ${headerLen} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8'));
  } catch (e) {
    return fail(`header is not JSON: ${(e as Error).message}`);
  }
  const base = 8 + headerLen;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as unknown as Record<string, string>;
      continue;
    }
    const dtype = DTYPES[info.dtype];
    if (!dtype) return fail(`tensor ${name} has dtype ${info.dtype}; supported: ${Object.keys(DTYPES).join(', ')}`);
    const [start, end] = info.data_offsets;
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (end - start !== count * dtype.bytes || base + end > bytes.length) fail(`tensor ${name}: offsets ${start}..${end} do not fit shape ${info.shape} or the file`);
    const data = dtype.make(count);
    Buffer.from(data.buffer).set(bytes.subarray(base + start, base + end));
    tensors[name] = { shape: info.shape, data };
  }
  return { tensors, metadata };
}

/** The named tensor, checked to exist with the expected element type. */
export function tensorOf<T extends TensorData>(tensors: Record<string, Tensor>, name: string, kind: new (n: number) => T, source: string): T {
  const t = tensors[name];
  if (!t) throw new DataFormatError(source, 1, `tensor ${name} is missing`);
  if (!(t.data instanceof kind)) throw new DataFormatError(source, 1, `tensor ${name} has the wrong dtype`);
  return t.data as T;
}
