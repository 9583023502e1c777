/**
 * A text-teacher bundle's files and their static checks: the manifest, the tokenizer, the label
 * texts, and the model's declared inputs/outputs against what the manifest wires. Run-time checks
 * (a trial run) live in TextTeacher.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ContractError } from '../../core/util/errors.js';
import { modelIoFromBytes, type ModelIo, type TensorIo } from '../contract.js';
import { parseManifest, type TextTeacherManifest } from './bundle-manifest.js';
import { TextTokenizer } from './text-tokenizer.js';

export const MANIFEST_FILE = 'teacher.json';
export const MODEL_FILE = 'model.onnx';
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

/** File name (relative to the bundle root) → bytes. */
export type BundleFiles = ReadonlyMap<string, Uint8Array>;

export interface CheckedBundle {
  manifest: TextTeacherManifest;
  tokenizer: TextTokenizer;
  model: Uint8Array;
  /** Label name → text, from the manifest's label_texts file; null when the bundle has none. */
  labelTexts: ReadonlyMap<string, string> | null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether `path` is a folder holding a teacher.json: a text-teacher bundle rather than an ONNX file. */
export async function isBundleDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory() && (await stat(join(path, MANIFEST_FILE))).isFile();
  } catch {
    return false;
  }
}

/** The regular files at the top of a bundle folder. */
export async function readBundleDir(dir: string): Promise<BundleFiles> {
  const files = new Map<string, Uint8Array>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isFile()) files.set(e.name, await readFile(join(dir, e.name)));
  }
  return files;
}

function text(files: BundleFiles, name: string, where: string): string {
  const bytes = files.get(name);
  if (!bytes) throw new ContractError(`${where}: missing ${name}`);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ContractError(`${where}: ${name} is not valid UTF-8`);
  }
}

/** Checks everything that can be checked without running the model. `where` names the bundle. */
export function checkBundle(files: BundleFiles, where: string): CheckedBundle {
  const manifest = parseManifest(text(files, MANIFEST_FILE, where), `${where}/${MANIFEST_FILE}`);
  const model = files.get(MODEL_FILE);
  if (!model) throw new ContractError(`${where}: missing ${MODEL_FILE}`);
  const config = files.has(TOKENIZER_CONFIG_FILE) ? text(files, TOKENIZER_CONFIG_FILE, where) : null;
  const tokenizer = TextTokenizer.fromJson(text(files, TOKENIZER_FILE, where), config, `${where}/${TOKENIZER_FILE}`);
  let labelTexts: Map<string, string> | null = null;
  if (manifest.label_texts !== undefined) labelTexts = parseLabelTexts(text(files, manifest.label_texts, where), `${where}/${manifest.label_texts}`);
  let io: ModelIo;
  try {
    io = modelIoFromBytes(model);
  } catch (e) {
    throw new ContractError(`${where}/${MODEL_FILE}: ${(e as Error).message}`);
  }
  checkModelAgainstManifest(io, manifest, `${where}/${MODEL_FILE}`);
  return { manifest, tokenizer, model, labelTexts };
}

function parseLabelTexts(s: string, where: string): Map<string, string> {
  let obj: unknown;
  try {
    obj = JSON.parse(s);
  } catch (e) {
    throw new ContractError(`${where}: not JSON (${(e as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ContractError(`${where}: expected a JSON object label name → text`);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'string' || v.trim() === '') throw new ContractError(`${where}: the text of label ${JSON.stringify(k)} must be a non-empty string`);
    out.set(k, v);
  }
  return out;
}

/** Input names exactly the manifest's, int64 [batch, sequence]; the output there, float32, right rank. */
export function checkModelAgainstManifest(io: ModelIo, m: TextTeacherManifest, where: string): void {
  const declared = [...m.inputs].sort().join(', ');
  const found = io.inputs.map((i) => i.name).sort().join(', ');
  if (declared !== found) throw new ContractError(`${where}: the model's inputs are [${found}], the manifest declares [${declared}]`);
  for (const inp of io.inputs) {
    if (inp.type !== 'int64') throw new ContractError(`${where}: input "${inp.name}" must be int64, found ${inp.type ?? 'a non-tensor'}`);
    if (inp.shape !== null && inp.shape.length !== 2) throw new ContractError(`${where}: input "${inp.name}" must be [batch, sequence], found rank ${inp.shape.length}`);
    if (inp.shape?.some((d) => typeof d === 'number' && d >= 0)) {
      throw new ContractError(`${where}: input "${inp.name}" must have dynamic dims [batch, sequence], found [${inp.shape.join(',')}]`);
    }
  }
  const out = io.outputs.find((o) => o.name === m.output);
  if (!out) throw new ContractError(`${where}: no output "${m.output}" (the manifest's "output"); the model has ${io.outputs.map((o) => `"${o.name}"`).join(', ')}`);
  if (out.type !== 'float32') throw new ContractError(`${where}: output "${out.name}" must be float32, found ${out.type ?? 'a non-tensor'}`);
  checkOutputShape(out, m, where);
}

function checkOutputShape(out: TensorIo, m: TextTeacherManifest, where: string): void {
  if (out.shape === null) return; // unknown rank: the trial run checks it
  const shape = `[${out.shape.join(',')}]`;
  if (m.kind === 'cross-encoder') {
    const ok = out.shape.length === 1 || (out.shape.length === 2 && (out.shape[1] === 1 || typeof out.shape[1] === 'string'));
    if (!ok) throw new ContractError(`${where}: a cross-encoder's output "${out.name}" must be [B, 1] or [B], found ${shape}`);
    return;
  }
  if (out.shape.length !== 2) throw new ContractError(`${where}: output "${out.name}" must be [B, ${m.kind === 'classifier' ? 'L' : 'H'}], found ${shape}`);
  const last = out.shape[1];
  if (m.kind === 'classifier' && typeof last === 'number' && last !== m.labels!.length) {
    throw new ContractError(`${where}: output "${out.name}" has ${last} columns, the manifest lists ${m.labels!.length} labels`);
  }
}
