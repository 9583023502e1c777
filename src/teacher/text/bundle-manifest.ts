/**
 * teacher.json, the manifest of a text-teacher bundle (folder with model.onnx, tokenizer.json and
 * teacher.json; see examples/teachers/README.md). Declared once as a TypeBox schema: the parser
 * refuses a manifest that does not match it with the JSON path of the first mismatch.
 */
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { ContractError } from '../../core/util/errors.js';

export const TEXT_KINDS = ['classifier', 'cross-encoder', 'bi-encoder'] as const;
export type TextTeacherKind = (typeof TEXT_KINDS)[number];

export function isTextTeacherKind(kind: string): kind is TextTeacherKind {
  return (TEXT_KINDS as readonly string[]).includes(kind);
}

/** Model inputs a bundle may wire; input_ids and attention_mask are required. */
export const TEXT_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids'] as const;
export type TextInput = (typeof TEXT_INPUTS)[number];

/** Longest sequence a manifest may ask for: the model's position table rarely goes past this. */
export const MAX_SEQUENCE = 8192;

export const TextTeacherManifest = Type.Object(
  {
    format: Type.Literal(1, { description: 'manifest version' }),
    kind: Type.Union([Type.Literal('classifier'), Type.Literal('cross-encoder'), Type.Literal('bi-encoder')]),
    inputs: Type.Array(Type.Union([Type.Literal('input_ids'), Type.Literal('attention_mask'), Type.Literal('token_type_ids')]), { minItems: 2, maxItems: 3, uniqueItems: true }),
    output: Type.String({ minLength: 1, description: 'name of the graph output read' }),
    max_length: Type.Integer({ minimum: 4, maximum: MAX_SEQUENCE, description: 'tokens per sequence (pairs: both texts), special tokens included' }),
    labels: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, uniqueItems: true, description: "label names in the model's output order (classifier); the label set (encoders)" })),
    label_max_length: Type.Optional(Type.Integer({ minimum: 4, maximum: MAX_SEQUENCE, description: 'bi-encoder: tokens per label text' })),
    label_texts: Type.Optional(Type.String({ minLength: 1, description: 'file in the bundle: JSON object label name → text' })),
    score_scale: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e4, description: 'bi-encoder: scores are scale × cosine' })),
    temperature: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1e4, description: 'calibration temperature: softmax(scores / T)' })),
  },
  { additionalProperties: false },
);
export type TextTeacherManifest = Static<typeof TextTeacherManifest>;

/** Parses and checks teacher.json text; `where` names the file in messages. */
export function parseManifest(text: string, where: string): TextTeacherManifest {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ContractError(`${where}: not JSON (${(e as Error).message})`);
  }
  if (!Value.Check(TextTeacherManifest, obj)) {
    const first = Value.Errors(TextTeacherManifest, obj)[0];
    const path = first?.instancePath ? first.instancePath : '(top level)';
    throw new ContractError(`${where}: ${path} ${first?.message ?? 'does not match the manifest schema'}`);
  }
  const m = obj;
  if (!m.inputs.includes('input_ids') || !m.inputs.includes('attention_mask')) {
    throw new ContractError(`${where}: /inputs must include "input_ids" and "attention_mask", found ${JSON.stringify(m.inputs)}`);
  }
  if (m.kind === 'classifier' && !m.labels) throw new ContractError(`${where}: /labels is required for a classifier (names in the order of its logits)`);
  return m;
}

/** A label's text for encoders when the bundle gives none: 'use::editing' → 'use editing'. */
export function defaultLabelText(name: string): string {
  return name.replace(/::/g, ' ').replace(/[-_]/g, ' ');
}
