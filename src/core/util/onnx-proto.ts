/**
 * The subset of onnx.proto (official field numbers, proto2 like upstream) needed to write small
 * models and to read a model's graph inputs/outputs. Unlisted fields are skipped when decoding.
 */
import { endianness } from 'node:os';
import protobuf from 'protobufjs';

const LITTLE_ENDIAN = endianness() === 'LE';

const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  optional string doc_string = 12;
}

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0;
    FLOAT = 1;
    INT = 2;
    STRING = 3;
    TENSOR = 4;
    GRAPH = 5;
    FLOATS = 6;
    INTS = 7;
    STRINGS = 8;
  }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  optional string doc_string = 13;
  optional AttributeType type = 20;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}
`;

/** TensorProto.DataType values used here. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  DOUBLE: 11,
} as const;

/** TensorProto.DataType number → the name ONNX Runtime uses ('float32', 'int64', ...). */
export const DATA_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'undefined',
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

// Plain-object shapes of the messages (int64 fields as numbers; camelCase as protobufjs uses).
export interface OperatorSetId {
  domain?: string;
  version: number;
}
export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}
export interface TypeInfo {
  tensorType?: { elemType?: number; shape?: { dim?: Dimension[] } };
}
export interface ValueInfo {
  name: string;
  type?: TypeInfo;
  docString?: string;
}
export interface TensorData {
  name?: string;
  dims?: number[];
  dataType: number;
  rawData?: Uint8Array;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
}
export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorData;
  floats?: number[];
  ints?: number[];
}
export interface NodeData {
  opType: string;
  input: string[];
  output: string[];
  name?: string;
  domain?: string;
  attribute?: Attribute[];
}
export interface GraphData {
  name?: string;
  node: NodeData[];
  initializer?: TensorData[];
  input: ValueInfo[];
  output: ValueInfo[];
  valueInfo?: ValueInfo[];
}
export interface ModelData {
  irVersion: number;
  opsetImport: OperatorSetId[];
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  graph: GraphData;
  metadataProps?: { key: string; value: string }[];
}

const root = protobuf.parse(ONNX_PROTO, { keepCase: false }).root;
const ModelProto = root.lookupType('onnx.ModelProto');

/** Serialises a model to ONNX protobuf bytes. */
export function encodeModel(model: ModelData): Uint8Array {
  const message = ModelProto.fromObject(model as unknown as Record<string, unknown>);
  return ModelProto.encode(message).finish();
}

const GraphProto = root.lookupType('onnx.GraphProto');
const TensorProto = root.lookupType('onnx.TensorProto');
/** Tag bytes (field number << 3 | 2, length-delimited) of ModelProto.graph, GraphProto.initializer, TensorProto.raw_data. */
const GRAPH_TAG = (7 << 3) | 2;
const INITIALIZER_TAG = (5 << 3) | 2;
const RAW_DATA_TAG = (9 << 3) | 2;

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return out;
}

/**
 * The model's bytes as parts to write one after the other: encodeModel's fields, but the graph
 * last in the model and the initializers of at least `minBytes` of raw data last in the graph, each
 * ending with its raw data as a view, not a copy (protobuf readers take fields in any order). A
 * student's 139 MB W1 went through three copies in encodeModel: 1.5 s of a 3.6 s publishing stage.
 */
export function encodeModelParts(model: ModelData, minBytes = 1 << 20): Uint8Array[] {
  const { graph, ...rest } = model;
  const all = graph.initializer ?? [];
  const large = all.filter((t) => (t.rawData?.byteLength ?? 0) >= minBytes);
  if (!large.length) return [encodeModel(model)];
  const head = ModelProto.encode(ModelProto.fromObject(rest as unknown as Record<string, unknown>)).finish();
  const small = GraphProto.encode(GraphProto.fromObject({ ...graph, initializer: all.filter((t) => !large.includes(t)) } as unknown as Record<string, unknown>)).finish();
  const tensors = large.map((t) => {
    const { rawData, ...meta } = t;
    const raw = rawData as Uint8Array;
    const start = Uint8Array.from([...TensorProto.encode(TensorProto.fromObject(meta as unknown as Record<string, unknown>)).finish(), RAW_DATA_TAG, ...varint(raw.byteLength)]);
    return { start, raw, length: start.length + raw.byteLength };
  });
  const graphLength = small.length + tensors.reduce((n, t) => n + 1 + varint(t.length).length + t.length, 0);
  const parts: Uint8Array[] = [head, Uint8Array.from([GRAPH_TAG, ...varint(graphLength)]), small];
  for (const t of tensors) parts.push(Uint8Array.from([INITIALIZER_TAG, ...varint(t.length)]), t.start, t.raw);
  return parts;
}

/**
 * Parses ONNX protobuf bytes. Throws protobufjs' error on malformed input (callers wrap it).
 * Large tensors' raw_data come back as views into `bytes` (no copy).
 */
export function decodeModel(bytes: Uint8Array): ModelData {
  const message = ModelProto.decode(bytes);
  const obj = ModelProto.toObject(message, { longs: Number, arrays: true, defaults: false, oneofs: false });
  return obj as unknown as ModelData;
}

// ---------- builders ----------

/** A tensor graph input/output: dims are numbers (static) or strings (dim_param). */
export function tensorValueInfo(name: string, elemType: number, dims: ReadonlyArray<number | string>): ValueInfo {
  const dim: Dimension[] = [];
  for (const d of dims) dim.push(typeof d === 'number' ? { dimValue: d } : { dimParam: d });
  return { name, type: { tensorType: { elemType, shape: { dim } } } };
}

/** A float32 initializer stored as raw little-endian data. */
export function floatTensor(name: string, dims: number[], data: Float32Array): TensorData {
  checkSize(name, dims, data.length);
  return { name, dims, dataType: DataType.FLOAT, rawData: littleEndianBytes(data) };
}

/** An int64 initializer (small: axes, shapes). */
export function int64Tensor(name: string, dims: number[], data: readonly number[]): TensorData {
  checkSize(name, dims, data.length);
  return { name, dims, dataType: DataType.INT64, int64Data: data.slice() };
}

export function intAttr(name: string, i: number): Attribute {
  return { name, type: AttributeType.INT, i };
}

export function intsAttr(name: string, ints: number[]): Attribute {
  return { name, type: AttributeType.INTS, ints };
}

export function floatAttr(name: string, f: number): Attribute {
  return { name, type: AttributeType.FLOAT, f };
}

export function node(opType: string, input: string[], output: string[], attribute: Attribute[] = []): NodeData {
  return { opType, input, output, name: `${opType}_${output[0]}`, attribute };
}

function checkSize(name: string, dims: number[], length: number): void {
  let n = 1;
  for (const d of dims) n *= d;
  if (n !== length) throw new RangeError(`tensor "${name}": dims [${dims.join(',')}] need ${n} values, got ${length}`);
}

/** The floats' bytes: a view of them on a little-endian machine (encodeModel copies them; encodeModelParts writes them from there). */
function littleEndianBytes(data: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return out;
}

const METADATA_PROPS_FIELD = 14; // ModelProto.metadata_props
const LENGTH_DELIMITED = 2;
const StringStringEntry = root.lookupType('onnx.StringStringEntryProto');

/**
 * `bytes` with metadata_props entries set: an entry whose key is in `entries` is dropped, and
 * every pair of `entries` appended. Works on the wire format, so the fields this file's schema
 * does not know (and the weights) are copied byte for byte; protobuf appends repeated fields
 * that come later, so the new entries may follow the graph. Throws on malformed bytes.
 */
export function setMetadataProps(bytes: Uint8Array, entries: Readonly<Record<string, string>>): Uint8Array {
  const reader = protobuf.Reader.create(bytes);
  const kept: Uint8Array[] = [];
  let runStart = 0; // start of the current run of kept fields
  while (reader.pos < reader.len) {
    const fieldStart = reader.pos;
    const tag = reader.uint32();
    if (tag >>> 3 === METADATA_PROPS_FIELD && (tag & 7) === LENGTH_DELIMITED) {
      const entry = StringStringEntry.decode(reader.bytes()) as unknown as { key?: string };
      if (entry.key !== undefined && Object.hasOwn(entries, entry.key)) {
        kept.push(bytes.subarray(runStart, fieldStart));
        runStart = reader.pos;
      }
    } else reader.skipType(tag & 7);
  }
  kept.push(bytes.subarray(runStart, reader.len));
  const metadataProps = Object.entries(entries).map(([key, value]) => ({ key, value }));
  kept.push(ModelProto.encode(ModelProto.fromObject({ metadataProps })).finish());
  const out = new Uint8Array(kept.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of kept) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
